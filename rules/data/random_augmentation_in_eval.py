from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class RandomAugmentationInEval(Rule):
    """
    ## What it does
    Finds a random augmentation (`RandomCrop`, `RandomResizedCrop`, `RandomHorizontalFlip`,
    `ColorJitter`, `RandAugment`, `RandomErasing`, …) in the transform pipeline of
    validation or test data. A pipeline serves evaluation when its name says so
    (`val_transform`, `transform_test`, `{"val": ...}`), when it is given to an evaluation
    dataset (`train=False`, `split="val"`, `ImageFolder(valdir)`), even if training data
    shares it, or when it is built in a function for evaluation (`def get_val_transforms`).
    Test suites, names that say test-time augmentation (`tta`), and in a notebook a
    pipeline whose datasets are only shown (plotted, printed, one batch looked at, never
    scored) are not reported.

    ## Why is this bad?
    Evaluation must measure the model, not the luck of the draw: with random crops and
    flips the validation metric changes from run to run on the same weights, early
    stopping and checkpoint selection chase noise, and the score is biased low against
    the deterministic pipeline used in deployment. Seed 000 §2.1 lists augmentation
    (random crops, rotations, flips, color jitter) as a way to enlarge the *training*
    set; preprocessing such as `Resize` and `Normalize` is what every split gets.

    ## How to fix
    Give evaluation its own deterministic pipeline: `Resize` and `CenterCrop` instead of
    `RandomResizedCrop`/`RandomCrop`, no flips or color jitter, the same `ToTensor()` and
    `Normalize` as training. For test-time augmentation, average over deterministic
    views (`FiveCrop`, `TenCrop`, flipped and unflipped) instead.
    """

    code = "TL104"
    name = "random-augmentation-in-eval"
    severity = Severity.WARNING
    summary = "a random augmentation in the transform pipeline of validation/test data"
    seeds = ("000 §2.1",)

    bad = [
        Bad(
            """
            from torchvision import transforms

            val_transform = transforms.Compose([
                transforms.RandomCrop(32, padding=4),
                transforms.ToTensor(),
                transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
            ])
            """,
            4,
        ),
        Bad(
            """
            import torchvision
            import torchvision.transforms as T

            normalize = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
            test_set = torchvision.datasets.CIFAR100(
                "data",
                train=False,
                transform=T.Compose([T.RandomHorizontalFlip(), T.ToTensor(), normalize]),
            )
            """,
            8,
            note="the pipeline is given to a dataset with train=False",
        ),
        Bad(
            """
            import torch
            from torchvision import datasets, transforms

            transform = transforms.Compose([
                transforms.RandomCrop(32, padding=4),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ])
            train_set = datasets.CIFAR10("data", train=True, transform=transform)
            test_set = datasets.CIFAR10("data", train=False, transform=transform)
            """,
            5,
            note="one pipeline shared by training and test data",
        ),
        Bad(
            """
            from torchvision.transforms import v2

            data_transforms = {
                "train": v2.Compose([v2.RandomResizedCrop(224), v2.RandomHorizontalFlip(), v2.ToTensor()]),
                "val": v2.Compose([v2.RandomResizedCrop(224), v2.ToTensor(), v2.ColorJitter(0.4, 0.4, 0.4)]),
            }
            """,
            5,
        ),
    ]
    good = [
        Good(
            """
            from torchvision import transforms

            transform_train = transforms.Compose([
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
            ])
            transform_test = transforms.Compose([
                transforms.ToTensor(),
                transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
            ])
            """,
        ),
        Good(
            """
            from torchvision import datasets, transforms

            def get_val_transforms(size=224):
                return transforms.Compose([
                    transforms.Resize(int(size * 1.14)),
                    transforms.CenterCrop(size),
                    transforms.ToTensor(),
                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                ])

            train_set = datasets.ImageFolder("data/train", transforms.Compose([
                transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ]))
            """,
        ),
        Good(
            """
            import torch
            from torchvision import transforms

            tta = transforms.Compose([
                transforms.Resize(256),
                transforms.TenCrop(224),
                transforms.Lambda(lambda crops: torch.stack([transforms.ToTensor()(c) for c in crops])),
            ])
            test_transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                                                 transforms.RandomHorizontalFlip(p=0.0), transforms.ToTensor()])
            """,
            note="deterministic test-time augmentation; a flip with p=0 does nothing",
        ),
        Good(
            """
            import torch
            from torchvision import transforms

            def test_random_crop_keeps_size():
                val_transform = transforms.Compose([transforms.RandomCrop(24), transforms.ConvertImageDtype(torch.float)])
                image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                assert val_transform(image).shape == (3, 24, 24)
            """,
            filename="tests/test_transforms.py",
            note="a test suite exercises random transforms on purpose",
        ),
        Good(
            """
            from torchvision import transforms

            def build_transform(is_train, input_size):
                if is_train:
                    return transforms.Compose([transforms.RandomResizedCrop(input_size), transforms.ToTensor()])
                return transforms.Compose([transforms.Resize(input_size), transforms.ToTensor()])
            """,
        ),
        Good(
            """
            from torchvision import datasets, transforms

            def build_transform(is_train, size=224):
                t = []
                if is_train:
                    t.append(transforms.RandomResizedCrop(size))
                    t.append(transforms.RandomHorizontalFlip())
                else:
                    t.append(transforms.Resize(int(size / 0.875)))
                    t.append(transforms.CenterCrop(size))
                t.append(transforms.ToTensor())
                t.append(transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
                return transforms.Compose(t)

            val_set = datasets.ImageFolder("data/val", transform=build_transform(is_train=False))
            """,
            note="random steps appended only under `if is_train`",
        ),
        Good(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            data_transform = transforms.Compose(
                [transforms.Resize((64, 64)), transforms.RandomHorizontalFlip(p=0.5), transforms.ToTensor()]
            )
            train_data = datasets.ImageFolder("data/train", transform=data_transform)
            test_data = datasets.ImageFolder("data/test", transform=data_transform)
            print(f"{len(train_data)} training and {len(test_data)} test images of {train_data.classes}")
            image, label = test_data[0]
            test_loader = DataLoader(test_data, batch_size=32)
            image_batch, label_batch = next(iter(test_loader))
            """,
            filename="explore.ipynb",
            note="a course notebook (pytorch-deep-learning) shows flipped samples; nothing is scored on them",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        if facts.data.is_test_code:
            return  # a test suite exercises random transforms on purpose
        for pipeline in facts.data.pipelines:
            reason = pipeline.evaluation_reason
            if reason is None or facts.data.only_looked_at(pipeline):
                continue  # a notebook's samples shown, never scored
            for step in pipeline.random_steps:
                yield self.report(
                    step.node,
                    f"`{facts.code(step.call.func)}` is random, in a pipeline for evaluation data ({reason}): "
                    "the metric becomes noisy and biased; use a deterministic Resize/CenterCrop pipeline "
                    "for validation and test",
                )
