from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class TransformsMissingNormalize(Rule):
    """
    ## What it does
    Finds a torchvision transform pipeline (`transforms.Compose` or `transforms.v2.Compose`)
    that turns images into float tensors (`ToTensor`, `ToDtype`, `ConvertImageDtype`) but
    never normalizes them, given to an image dataset (a torchvision dataset, `ImageFolder`,
    the project's own Dataset that opens image files with PIL/cv2/imageio, or any dataset
    in a classification script). The pipeline may be a bare `transforms.ToTensor()`, a
    `Compose` stored on `self` by a Dataset, built with `list.append`, kept in a dict
    (`{"train": Compose(...), ...}`) or returned by a builder function. A Dataset of the
    training script that reads images and returns them as float tensors with no
    transform at all (raw 0..255 pixels) is reported too.

    It stays silent when the inputs are normalized elsewhere in the file: a `Normalize`
    layer in the model, `(x - mean) / std` in `forward()` or the training loop, torchvision's
    functional `normalize`; when a step's effect cannot be read (`Lambda`, the project's own
    transforms whose `__call__` cannot be read or rescales); when the images are also the
    targets (autoencoders, GANs and super-resolution, which save images or use BCE/MSE/L1 on
    them; a BCE on one-hot class labels is a classifier's); for mask/target pipelines; in
    inference scripts; and, in a notebook, for images it only shows (every dataset given
    the pipeline is only plotted, printed or looked at one batch at a time: `imshow` wants
    them in [0, 1]).

    ## Why is this bad?
    `ToTensor` scales pixels to [0, 1]: every input is positive, with a mean near 0.45
    and the three channels on slightly different scales. The first layer's gradients
    then share one sign per output unit, updates zig-zag, and deep networks train
    slowly or not at all. Seed 000 §2.1 (a VGG16 that does not converge) puts
    `transforms.Normalize` first among the data fixes; seed 001 §11 lists missing
    normalization among the causes of a loss that does not fall. Pretrained weights
    also expect the statistics they were trained with.

    ## How to fix
    Add `transforms.Normalize(mean, std)` after `ToTensor()` with the dataset's channel
    statistics (ImageNet: `(0.485, 0.456, 0.406)`, `(0.229, 0.224, 0.225)`), in the
    training and the evaluation pipeline alike, or normalize in the model's `forward()`.
    """

    code = "TL102"
    name = "transforms-missing-normalize"
    severity = Severity.WARNING
    summary = "an image transform pipeline converts to float tensors but never normalizes"
    seeds = ("000 §2.1", "001 §11")

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn
            from torchvision import datasets, transforms

            train_transform = transforms.Compose([
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
            ])
            train_set = datasets.CIFAR10("data", train=True, transform=train_transform, download=True)
            train_loader = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)
            criterion = nn.CrossEntropyLoss()
            """,
            5,
        ),
        Bad(
            """
            import torch
            from torchvision import datasets
            from torchvision.transforms import v2

            def build_datasets(root):
                train_tf = v2.Compose([v2.RandomResizedCrop(224), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
                val_tf = v2.Compose([v2.Resize(256), v2.CenterCrop(224), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
                return datasets.ImageFolder(f"{root}/train", train_tf), datasets.ImageFolder(f"{root}/val", val_tf)
            """,
            6,
            7,
        ),
        Bad(
            """
            import torch.nn as nn
            from torchvision import datasets, transforms

            train_set = datasets.MNIST("data", train=True, transform=transforms.ToTensor(), download=True)
            criterion = nn.CrossEntropyLoss()
            """,
            4,
            note="a bare ToTensor, without Compose",
        ),
        Bad(
            """
            from PIL import Image
            from torch.utils.data import Dataset
            from torchvision import transforms

            class DefectDataset(Dataset):
                def __init__(self, paths, masks, resize=256):
                    self.paths, self.masks = paths, masks
                    self.transform_x = transforms.Compose([transforms.Resize(resize), transforms.ToTensor()])
                    self.transform_mask = transforms.Compose([transforms.Resize(resize), transforms.ToTensor()])

                def __getitem__(self, idx):
                    image = self.transform_x(Image.open(self.paths[idx]).convert("RGB"))
                    return image, self.transform_mask(Image.open(self.masks[idx]))

                def __len__(self):
                    return len(self.paths)
            """,
            8,
            note="a Compose stored on self by a Dataset that opens images; the mask pipeline is left alone",
        ),
        Bad(
            """
            import random
            import torch
            from torchvision.datasets import ImageFolder
            from torchvision.transforms import Compose, RandomHorizontalFlip, ToTensor

            class RandomNoise:
                def __init__(self, p, std=0.1):
                    self.p, self.std = p, std

                def __call__(self, img):
                    if random.random() <= self.p:
                        return img + torch.empty(img.size()).normal_(0, self.std)
                    return img

            custom_transforms = Compose([RandomHorizontalFlip(p=0.5), ToTensor(), RandomNoise(p=0.5)])
            train_dataset = ImageFolder("places/train", transform=custom_transforms)
            criterion = torch.nn.CrossEntropyLoss()
            """,
            15,
            note="the project's own transform is read: it adds noise, it does not normalize",
        ),
        Bad(
            """
            import torch.nn as nn
            from torchvision import datasets, transforms

            def build_transform(is_train):
                t = []
                if is_train:
                    t.append(transforms.RandomResizedCrop(224))
                t.append(transforms.ToTensor())
                return transforms.Compose(t)

            data_transforms = {
                "train": transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()]),
                "val": transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]),
            }
            image_datasets = {x: datasets.ImageFolder(f"data/{x}", data_transforms[x]) for x in ["train", "val"]}
            test_set = datasets.ImageFolder("data/test", build_transform(False))
            criterion = nn.CrossEntropyLoss()
            """,
            9,
            12,
            13,
            note="pipelines built with list.append and in a dict",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            from torchvision import datasets, transforms

            train_set = datasets.CIFAR10("data", train=True, transform=transforms.Compose([transforms.ToTensor()]))
            loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
            criterion = nn.BCEWithLogitsLoss()
            for images, labels in loader:
                loss = criterion(model(images), F.one_hot(labels, 10).float())
                loss.backward()
            """,
            6,
            note="BCE on one-hot class labels: a classifier, its images are not the targets",
        ),
        Bad(
            """
            import cv2
            import numpy as np
            import torch
            from torch.utils.data import DataLoader, Dataset

            class SlideDataset(Dataset):
                def __init__(self, paths, labels):
                    self.paths, self.labels = paths, labels

                def __getitem__(self, idx):
                    img = np.transpose(cv2.imread(self.paths[idx]), (2, 0, 1))
                    return torch.from_numpy(img).float(), self.labels[idx]

                def __len__(self):
                    return len(self.paths)

            loader = DataLoader(SlideDataset(paths, labels), batch_size=16, shuffle=True)
            for x, y in loader:
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
            """,
            12,
            note="images fed without any transform: raw 0..255 pixels",
        ),
        Bad(
            """
            import matplotlib.pyplot as plt
            import torch
            from torch import nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            show_transform = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
            preview = datasets.ImageFolder("data/train", transform=show_transform)
            print(len(preview), preview.classes)
            plt.imshow(preview[0][0].permute(1, 2, 0))

            simple_transform = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
            train_data = datasets.ImageFolder("data/train", transform=simple_transform)
            train_loader = DataLoader(train_data, batch_size=32, shuffle=True)
            model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            for epoch in range(5):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(x), y).backward()
                    optimizer.step()
            """,
            12,
            filename="train.ipynb",
            note="a notebook: the pipeline it trains with is reported, the one it only shows is not",
        ),
    ]
    good = [
        Good(
            """
            from torchvision import datasets, transforms

            normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
            train_dataset = datasets.ImageFolder(
                "imagenet/train",
                transforms.Compose([
                    transforms.RandomResizedCrop(224),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                    normalize,
                ]),
            )
            """,
            note="Normalize kept in a variable, as pytorch/examples' ImageNet script does",
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            from torchvision import datasets, transforms

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("mean", torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1))
                    self.register_buffer("std", torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1))
                    self.features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
                    self.fc = nn.Linear(64, 10)

                def forward(self, x):
                    x = (x - self.mean) / self.std
                    return self.fc(self.features(x).flatten(1))

            train_set = datasets.CIFAR10("data", transform=transforms.Compose([transforms.ToTensor()]))
            """,
            note="normalization in the model",
        ),
        Good(
            """
            import torch
            from torchvision import datasets, transforms

            transform = transforms.Compose([transforms.ToTensor()])
            loader = torch.utils.data.DataLoader(datasets.MNIST("data", transform=transform), batch_size=64, shuffle=True)
            mean, std = 0.1307, 0.3081
            for images, labels in loader:
                images = (images - mean) / std
                loss = model(images).cross_entropy(labels)
                loss.backward()
            """,
            note="normalization in the loop",
        ),
        Good(
            """
            import torch.nn.functional as F
            from torchvision import datasets, transforms
            from torchvision.utils import save_image

            dataset = datasets.MNIST("data", transform=transforms.Compose([transforms.ToTensor()]))

            def loss_function(recon_x, x, mu, logvar):
                bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
                return bce - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
            """,
            note="a VAE: the pixels in [0, 1] are the targets",
        ),
        Good(
            """
            from torchvision import transforms

            style_transform = transforms.Compose([
                transforms.ToTensor(),
                transforms.Lambda(lambda x: x.mul(255)),
            ])
            """,
            note="a Lambda step whose effect cannot be read",
        ),
        Good(
            """
            import torch
            from torchvision import datasets, transforms

            class Standardize:
                def __call__(self, img):
                    return (img - img.mean()) / img.std()

            transform = transforms.Compose([transforms.ToTensor(), Standardize()])
            train_set = datasets.CIFAR10("data", train=True, transform=transform)
            criterion = torch.nn.CrossEntropyLoss()
            """,
            note="the project's own transform standardizes",
        ),
        Good(
            """
            import numpy as np
            from PIL import Image
            from torch.utils.data import Dataset
            from torchvision.transforms import ToTensor

            class EdgeDataset(Dataset):
                def __init__(self, paths, transform=None):
                    self.paths, self.transform = paths, transform
                    self.to_tensor = ToTensor()

                def __getitem__(self, idx):
                    image = Image.open(self.paths[idx])
                    edges = Image.fromarray(np.asarray(image.convert("L")) > 128)
                    return self.transform(image), self.to_tensor(edges)
            """,
            note="a bare ToTensor kept on self for a target map",
        ),
        Good(
            """
            import torch
            from PIL import Image
            from torchvision import transforms

            transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
            model = torch.load("model.pt")
            model.eval()
            with torch.no_grad():
                print(model(transform(Image.open("cat.jpg")).unsqueeze(0)).argmax())
            """,
            note="an inference script",
        ),
        Good(
            """
            import cv2
            import numpy as np
            import torch
            from torch.utils.data import DataLoader, Dataset

            class SlideDataset(Dataset):
                def __init__(self, paths, labels):
                    self.paths, self.labels = paths, labels

                def __getitem__(self, idx):
                    img = np.transpose(cv2.imread(self.paths[idx]), (2, 0, 1))
                    return torch.from_numpy(img).float(), self.labels[idx]

            for x, y in DataLoader(SlideDataset(paths, labels), batch_size=16, shuffle=True):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x / 255.0), y).backward()
                optimizer.step()
            """,
            note="the loop scales the pixels",
        ),
        Good(
            """
            import matplotlib.pyplot as plt
            import torch
            from torch import nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms

            show_transform = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
            train_data = datasets.ImageFolder("data/train", transform=show_transform)
            train_data, train_data.classes

            def show_samples(dataset, n=4):
                for i in range(n):
                    plt.subplot(1, n, i + 1)
                    plt.imshow(dataset[i][0].permute(1, 2, 0))

            show_samples(train_data)
            peek_loader = DataLoader(train_data, batch_size=8, shuffle=True)
            images, labels = next(iter(peek_loader))

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
            note="a course notebook (pytorch-deep-learning) shows images as ToTensor leaves them, then trains "
            "on a normalized pipeline",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        data = facts.data
        if data.is_test_code:
            return
        if not (data.image_targets or data.is_inference_script or data.inputs_normalized_elsewhere):
            for name, conversion in data.raw_pixel_datasets:
                yield self.report(
                    conversion,
                    f"`{name}` reads images and returns them as float tensors with no transform: the inputs "
                    "are raw 0..255 pixels; scale and normalize them (transforms.ToTensor() and Normalize)",
                    first_line_only=True,
                )
        for pipeline in data.pipelines:
            if not pipeline.transparent or not pipeline.makes_float_tensors or pipeline.normalizes \
                    or pipeline.for_targets:
                continue
            if not any(d.is_image or (d.kind == "map" and data.classification_loss) for d in pipeline.datasets):
                continue
            if data.image_targets or data.is_inference_script or data.inputs_normalized_elsewhere:
                continue
            if data.only_looked_at(pipeline):
                continue  # a notebook's images shown as they are: imshow wants [0, 1]
            yield self.report(
                pipeline.node,
                "this transform pipeline turns images into [0, 1] tensors but never normalizes them; "
                "add transforms.Normalize(mean, std) after ToTensor()",
                first_line_only=True,
            )
