from collections.abc import Iterator

from trainlint.facts import DataRole, FileFacts, Pipeline
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule



class TransformOnlyOnTrainingData(Rule):
    """
    ## What it does
    Finds a validation/test transform pipeline that converts images to float tensors but
    never normalizes them, in a file whose training pipeline does normalize
    (`transforms.Normalize`). The evaluation pipeline is recognized by its name
    (`val_tf`, `transform_test`) or by the validation/test dataset it is given to.

    A validation/test dataset given no transform at all, built with the same class as a
    training dataset given a normalizing pipeline as `transform=`, is reported too, unless
    its class falls back to a pipeline of its own or its transform is set later.

    Pipelines whose steps cannot all be read (`Lambda`, the project's own transforms),
    pipelines for masks or targets, and test suites are left alone.

    ## Why is this bad?
    The model learned on standardized inputs (mean near 0, unit variance) and is
    evaluated on pixels in [0, 1]: every activation is shifted, BatchNorm's running
    statistics no longer fit, and the validation metric is far worse than the model
    is, or looks random. Seed 000 §2.1 puts normalization first among the data fixes;
    it has to be the same for every split.

    ## How to fix
    Give the evaluation pipeline the same `transforms.Normalize(mean, std)` as the
    training pipeline, after `ToTensor()`; keep the statistics in one variable both use.
    """

    code = "TL107"
    name = "transform-only-on-training-data"
    severity = Severity.WARNING
    summary = "the training images are normalized, the validation/test images are not"
    seeds = ("000 §2.1",)

    bad = [
        Bad(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            train_tf = transforms.Compose([
                transforms.RandomRotation(10),
                transforms.ToTensor(),
                transforms.Normalize(mean=[0.176], std=[0.205]),
            ])
            eval_tf = transforms.Compose([transforms.Grayscale(), transforms.ToTensor()])
            train_set = datasets.ImageFolder("slices/train", transform=train_tf)
            val_set = datasets.ImageFolder("slices/val", transform=eval_tf)
            """,
            9,
        ),
        Bad(
            """
            from torchvision import datasets, transforms

            normalize = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
            train_set = datasets.CIFAR10(
                "data", train=True,
                transform=transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.ToTensor(), normalize]),
            )
            test_set = datasets.CIFAR10("data", train=False, transform=transforms.Compose([transforms.ToTensor()]))
            """,
            8,
            note="the test pipeline is known by the dataset it is given to",
        ),
        Bad(
            """
            import numpy as np
            from torch.utils.data import DataLoader, Dataset
            from torchvision import transforms

            class SliceDataset(Dataset):
                def __init__(self, files, labels, transform=None):
                    self.files, self.labels, self.transform = files, labels, transform

                def __len__(self):
                    return len(self.files)

                def __getitem__(self, i):
                    image = np.load(self.files[i]).astype(np.float32)
                    if self.transform is not None:
                        image = self.transform(image)
                    return image, self.labels[i]

            train_tf = transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip(), transforms.Normalize([0.176], [0.205])])
            train_set = SliceDataset(train_files, train_labels, transform=train_tf)
            val_set = SliceDataset(val_files, val_labels)
            val_loader = DataLoader(val_set, batch_size=32)
            """,
            20,
            note="the validation dataset gets no transform at all",
        ),
        Bad(
            """
            import matplotlib.pyplot as plt
            import torch
            from torch import nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            show_transform = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
            test_data = datasets.ImageFolder("data/test", transform=show_transform)
            plt.imshow(test_data[0][0].permute(1, 2, 0))
            test_loader = DataLoader(test_data, batch_size=32)

            to_input = transforms.Compose(
                [transforms.Resize((64, 64)), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
            )
            train_loader = DataLoader(datasets.ImageFolder("data/train", transform=to_input), batch_size=32, shuffle=True)
            model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            for epoch in range(5):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(x), y).backward()
                    optimizer.step()
            model.eval()
            with torch.no_grad():
                correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test_loader)
            """,
            7,
            filename="train.ipynb",
            note="the notebook evaluates on the test images it showed: their pipeline matters",
        ),
    ]
    good = [
        Good(
            """
            from torchvision import datasets, transforms

            normalize = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
            transform_train = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.ToTensor(), normalize])
            transform_test = transforms.Compose([transforms.ToTensor(), normalize])
            train_set = datasets.CIFAR10("data", train=True, transform=transform_train)
            test_set = datasets.CIFAR10("data", train=False, transform=transform_test)
            """,
        ),
        Good(
            """
            from torchvision import transforms

            train_transform = transforms.Compose([transforms.RandomResizedCrop(512), transforms.ToTensor(),
                                                  transforms.Normalize([0.5] * 3, [0.5] * 3)])
            val_mask_transform = transforms.Compose([transforms.Resize(512), transforms.ToTensor()])
            """,
            note="a pipeline for segmentation masks",
        ),
        Good(
            """
            from torchvision import transforms

            train_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
            test_tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(standardize)])
            """,
            note="a step whose effect cannot be read",
        ),
        Good(
            """
            from torchvision import datasets, transforms

            normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
            train_dataset = datasets.ImageFolder(traindir, transform=transforms.Compose([
                transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize,
            ]))
            val_dataset = datasets.ImageFolder(valdir, transforms.Compose([
                transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalize,
            ]))
            """,
            note="pytorch/examples imagenet: the evaluation pipeline is passed positionally",
        ),
        Good(
            """
            from torch.utils.data import Dataset
            from torchvision import transforms

            DEFAULT_TF = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])

            class Sketches(Dataset):
                def __init__(self, paths, transform=None):
                    self.paths = paths
                    self.transform = transform or DEFAULT_TF

                def __getitem__(self, i):
                    return self.transform(load(self.paths[i]))

            augment = transforms.Compose([transforms.RandomRotation(15), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
            train_set = Sketches(train_paths, transform=augment)
            val_set = Sketches(val_paths)
            """,
            note="the class falls back to its own normalizing pipeline",
        ),
        Good(
            """
            from torchvision import datasets, transforms

            train_tf = transforms.Compose([transforms.RandomCrop(32, 4), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
            train_set = datasets.CIFAR10("data", train=True, transform=train_tf)
            val_set = datasets.CIFAR10("data", train=False)
            val_set.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
            """,
            note="the evaluation transform is set on the dataset afterwards",
        ),
        Good(
            """
            import matplotlib.pyplot as plt
            import torch
            from torch import nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            show_transform = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
            test_data = datasets.ImageFolder("data/test", transform=show_transform)
            len(test_data), test_data.classes
            plt.imshow(test_data[0][0].permute(1, 2, 0))

            to_input = transforms.Compose(
                [transforms.Resize((64, 64)), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
            )
            train_loader = DataLoader(datasets.ImageFolder("data/train", transform=to_input), batch_size=32, shuffle=True)
            model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            for epoch in range(5):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(x), y).backward()
                    optimizer.step()
            """,
            filename="train.ipynb",
            note="a notebook that shows a few test images as stored and never evaluates on them",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        data = facts.data
        if data.is_test_code:
            return
        pipelines = [p for p in data.pipelines if p.transparent and p.makes_float_tensors and not p.for_targets]
        normalized_training = [p for p in pipelines if p.role == DataRole.TRAIN and p.normalizes]
        if not normalized_training:
            return
        for pipeline in normalized_training:
            for dataset in data.untransformed_twins(pipeline):
                if data.only_looked_at(dataset):
                    continue  # a notebook that shows a few test images and never evaluates on them
                yield self.report(
                    dataset.node,
                    f"this evaluation dataset ({dataset.role_reason}) is given no transform, while the training "
                    f"dataset of the same class gets {_describe(pipeline)}, which normalizes: the model is evaluated "
                    "on images as stored, on a scale it never saw; give it the evaluation pipeline (ToTensor, the same "
                    "Normalize)",
                    first_line_only=True,
                )
        for pipeline in pipelines:
            if pipeline.normalizes or pipeline.role == DataRole.TRAIN:
                continue
            reason = pipeline.evaluation_reason
            if reason is None or data.only_looked_at(pipeline):
                continue
            yield self.report(
                pipeline.node,
                f"this pipeline for evaluation data ({reason}) converts images but never normalizes them, "
                f"while {_describe(normalized_training[0])} does: the model is "
                "evaluated on inputs on a scale it never saw; add the same transforms.Normalize",
                first_line_only=True,
            )


def _describe(pipeline: Pipeline) -> str:
    named = [n for n in pipeline.names if n.isidentifier()]
    return f"the training pipeline `{named[0]}`" if named else "the training pipeline"
