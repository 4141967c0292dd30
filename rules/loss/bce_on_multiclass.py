from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class BceOnMulticlass(Rule):
    """
    ## What it does
    Finds `BCELoss`, `BCEWithLogitsLoss` or `F.binary_cross_entropy*` used on the output
    of a single-label multiclass classifier: a model (or tensor) that went through a
    softmax, or a head with several outputs trained against class-index targets
    (`labels.long()`, `argmax`). The model may live in another file of the project.

    ## Why is this bad?
    Binary cross-entropy treats every output as an independent yes/no question. On a
    softmax head the outputs compete (they sum to 1), so BCE pushes the wrong class
    probabilities down and the right one up through a squashed, tiny gradient, and the
    loss stalls (seed 000 §2.7: a VGG16 on 10 classes with a softmax head and BCELoss
    that never converges). Against class-index targets the shapes do not even match.

    ## How to fix
    For one label per sample, return raw logits from the model and use
    `nn.CrossEntropyLoss` with class-index targets. Keep BCE(WithLogits) for multi-label
    problems, where every output is a separate sigmoid.
    """

    code = "TL301"
    name = "bce-on-multiclass"
    severity = Severity.ERROR
    summary = "binary cross-entropy used on a single-label multiclass output"
    seeds = ("000 §2.7",)

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn

            from models.vgg import VGG

            model = VGG(num_classes=10)
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

            for images, labels in train_loader:
                optimizer.zero_grad()
                outputs = model(images)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
            """,
            13,
            files={
                "models/vgg.py": """
                    import torch.nn as nn

                    class VGG(nn.Module):
                        def __init__(self, num_classes=10):
                            super().__init__()
                            self.features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
                            self.classifier = nn.Sequential(
                                nn.Flatten(),
                                nn.Linear(64, num_classes),
                                nn.Softmax(dim=1),
                            )

                        def forward(self, x):
                            return self.classifier(self.features(x))
                """
            },
            note="the softmax head is defined in another file",
        ),
        Bad(
            """
            import torch.nn.functional as F

            def train_step(model, images, labels, optimizer):
                logits = model(images)
                probs = F.softmax(logits, dim=1)
                loss = F.binary_cross_entropy(probs, F.one_hot(labels, 10).float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            """,
            6,
        ),
        Bad(
            """
            import torch.nn as nn

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(784, 256), nn.ReLU())
                    self.fc = nn.Linear(256, 10)

                def forward(self, x):
                    return self.fc(self.body(x))

            model = Classifier()
            criterion = nn.BCEWithLogitsLoss()
            for x, y in loader:
                loss = criterion(model(x), y.long())
            """,
            15,
            note="ten outputs against class indices",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes, num_classes):
                    super().__init__()
                    self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:] + [num_classes]))
                    self.relu = nn.ReLU()
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    for i, layer in enumerate(self.layers):
                        x = layer(x)
                        if i < len(self.layers) - 1:
                            x = self.relu(x)
                        else:
                            x = self.softmax(x)
                    return x

            def fit(model, loader, epochs):
                criterion = nn.BCELoss()
                optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
                for _ in range(epochs):
                    for inputs, labels in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(inputs), nn.functional.one_hot(labels).float())
                        loss.backward()
                        optimizer.step()

            def train(kind, loader, num_classes):
                if kind == "linear":
                    model = MLP([13], num_classes)
                elif kind == "ann":
                    model = MLP([13, 18, 9], num_classes)
                else:
                    raise ValueError(kind)
                fit(model, loader, 10)
            """,
            26,
            note="the model is a parameter, chosen by an if/elif/else-raise at the call; the softmax is the last iteration's branch",
        ),
        Bad(
            """
            import torch
            from torch import nn

            from carla.models.catalog.ANN_TORCH import AnnModel

            def train_model(x_train, loader, num_classes, epochs):
                model = AnnModel(input_layer=x_train.shape[1], hidden_layers=[18, 9, 3], num_of_classes=num_classes)
                criterion = nn.BCELoss()
                optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
                for _ in range(epochs):
                    for inputs, labels in loader:
                        optimizer.zero_grad()
                        outputs = model(inputs.float())
                        loss = criterion(outputs, nn.functional.one_hot(labels).float())
                        loss.backward()
                        optimizer.step()
            """,
            14,
            files={
                "ANN_TORCH/__init__.py": "from .model_ann import AnnModel\n",
                "ANN_TORCH/model_ann.py": """
                    from torch import nn

                    class AnnModel(nn.Module):
                        def __init__(self, input_layer, hidden_layers, num_of_classes):
                            super().__init__()
                            sizes = [input_layer, *hidden_layers]
                            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
                            self.out = nn.Linear(sizes[-1], num_of_classes)
                            self.softmax = nn.Softmax()

                        def forward(self, x):
                            for layer in self.layers:
                                x = nn.functional.relu(layer(x))
                            return self.softmax(self.out(x))
                """,
            },
            note="CARLA checked from carla/models/catalog/: the package's module names differ from the import's",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class Tagger(nn.Module):
                def __init__(self, num_tags=20):
                    super().__init__()
                    self.backbone = nn.Sequential(nn.Linear(512, 256), nn.ReLU())
                    self.head = nn.Linear(256, num_tags)

                def forward(self, x):
                    return self.head(self.backbone(x))

            model = Tagger()
            criterion = nn.BCEWithLogitsLoss()
            for features, tags in loader:  # tags: multi-hot float rows
                loss = criterion(model(features), tags)
            """,
            note="multi-label: one independent sigmoid per tag",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            def mixup(x, y, alpha=0.2, num_classes=100):
                lam = torch.distributions.Beta(alpha, alpha).sample()
                index = torch.randperm(x.size(0))
                y = nn.functional.one_hot(y, num_classes).float()
                return lam * x + (1 - lam) * x[index], lam * y + (1 - lam) * y[index]

            criterion = nn.BCEWithLogitsLoss()
            for images, labels in loader:
                images, targets = mixup(images, labels)
                loss = criterion(model(images), targets)
            """,
            note="timm-style BCE on mixup soft targets",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Sigmoid())

                def forward(self, x):
                    return self.net(x)

            D = Discriminator()
            criterion = nn.BCELoss()
            real_labels = torch.ones(64, 1)
            loss = criterion(D(images), real_labels)
            """,
            note="a GAN discriminator: one sigmoid output",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(128, 10)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model.fc(x), y)
            """
        ),
        Good(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes, num_classes):
                    super().__init__()
                    self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:] + [num_classes]))
                    self.relu = nn.ReLU()
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    for i, layer in enumerate(self.layers):
                        x = layer(x)
                        if i < len(self.layers) - 1:
                            x = self.relu(x)
                    return x

            model = MLP([13, 18, 9], 2)
            criterion = nn.BCEWithLogitsLoss()
            for inputs, labels in loader:
                loss = criterion(model(inputs), nn.functional.one_hot(labels, 2).float())
            """,
            note="ReLU between the layers only: the last layer's logits go to BCEWithLogitsLoss",
        ),
        Good(
            """
            import torch.nn as nn

            from model import Net

            model = Net()
            criterion = nn.BCELoss()
            for x, y in loader:
                loss = criterion(model(x), nn.functional.one_hot(y, 10).float())
            """,
            files={
                "baseline/model.py": """
                    import torch.nn as nn

                    class Net(nn.Module):
                        def __init__(self):
                            super().__init__()
                            self.fc = nn.Linear(784, 10)

                        def forward(self, x):
                            return nn.functional.softmax(self.fc(x), dim=1)
                """,
                "multilabel/model.py": """
                    import torch.nn as nn

                    class Net(nn.Module):
                        def __init__(self):
                            super().__init__()
                            self.fc = nn.Linear(784, 10)

                        def forward(self, x):
                            return self.fc(x).sigmoid()
                """,
            },
            note="two experiments' Net and no model.py beside train.py: which one is meant is not known",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.kind not in ("bce", "bce_logits") or use.input.kind != "tensor":
                continue
            if use.input.activation == "softmax":
                yield self.report(
                    use.call,
                    f"{use.fed}, a softmax output "
                    f"({use.input.origin}): softmax classes compete, binary cross-entropy treats them as "
                    "independent; use nn.CrossEntropyLoss on the logits",
                    first_line_only=True,
                )
            elif use.target.target == "index" and use.input.out_features not in (None, 1):
                yield self.report(
                    use.call,
                    f"{use.fed}, {use.input.out_features} outputs, against "
                    "class-index targets: a single-label multiclass problem; use nn.CrossEntropyLoss",
                    first_line_only=True,
                )
