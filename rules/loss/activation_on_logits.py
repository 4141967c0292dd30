from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

_NON_NEGATIVE = {"relu": "ReLU", "relu6": "ReLU6", "softplus": "Softplus"}


class ActivationOnLogits(Rule):
    """
    ## What it does
    Finds a classifier whose last layer is a non-negative activation (`ReLU`, `ReLU6`,
    `Softplus`) and whose output goes to `CrossEntropyLoss`, or through `log_softmax`
    to `NLLLoss` (the same cross-entropy in two steps).

    ## Why is this bad?
    Cross-entropy wants logits that can go negative: a wrong class is pushed down by
    making its logit smaller than the others. After a ReLU, every logit is at least 0,
    and a unit that goes negative is clipped to 0 with no gradient at all: whole
    classes die and the loss plateaus (seed 001 §4: the output layer of a classifier
    is a plain linear layer).

    ## How to fix
    Remove the activation after the last `Linear`; `CrossEntropyLoss` takes raw logits.
    """

    code = "TL306"
    name = "activation-on-logits"
    severity = Severity.WARNING
    summary = "a ReLU-like activation on the logits that go to CrossEntropyLoss"
    seeds = ("001 §4",)

    bad = [
        Bad(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(784, 256),
                nn.ReLU(),
                nn.Linear(256, 10),
                nn.ReLU(),
            )
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """,
            11,
        ),
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            from models.net import Net

            model = Net()
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
            """,
            8,
            files={
                "models/net.py": """
                    import torch.nn as nn
                    import torch.nn.functional as F

                    class Net(nn.Module):
                        def __init__(self, num_classes=100):
                            super().__init__()
                            self.fc1 = nn.Linear(512, 256)
                            self.fc2 = nn.Linear(256, num_classes)

                        def forward(self, x):
                            x = F.relu(self.fc1(x))
                            x = F.relu(self.fc2(x))
                            return x
                """
            },
        ),
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x.view(-1, 784)))
                    x = F.relu(self.fc2(x))
                    return F.log_softmax(x, dim=1)

            model = Net()
            for data, target in train_loader:
                loss = F.nll_loss(model(data), target)
            """,
            17,
            note="log_softmax + NLLLoss is cross-entropy: the ReLU before it clips the logits the same way",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x.view(-1, 784)))
                    return F.log_softmax(self.fc2(x), dim=1)

            model = Net()
            for data, target in train_loader:
                loss = F.nll_loss(model(data), target)
            """,
            note="the fix: the ReLUs stay in the hidden layers, the last Linear goes straight to log_softmax",
        ),
        Good(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """
        ),
        Good(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 1), nn.Softplus())
            criterion = nn.MSELoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """,
            note="a non-negative regression target",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1)

                def forward(self, x):
                    return F.relu(self.conv(x) + x)

            class ResNet(nn.Module):
                def __init__(self, num_classes=10):
                    super().__init__()
                    self.layer = Block(64)
                    self.fc = nn.Linear(64, num_classes)

                def forward(self, x):
                    return self.fc(F.adaptive_avg_pool2d(self.layer(x), 1).flatten(1))

            model = ResNet()
            loss = F.cross_entropy(model(x), y)
            """,
            note="ReLU inside the blocks, a plain Linear head",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.input.kind != "tensor":
                continue
            if use.kind == "cross_entropy":
                logits = use.input.activation
            elif use.kind == "nll" and use.input.activation == "log_softmax":
                logits = use.input.previous  # log_softmax + NLLLoss is cross-entropy on what came before
            else:
                continue
            name = _NON_NEGATIVE.get(logits or "")
            if name is None:
                continue
            through = f"a {name}" if use.kind == "cross_entropy" else f"a {name} before its log_softmax"
            yield self.report(
                use.call,
                f"{use.fed}, which went through {through} "
                f"({use.input.origin}): logits cannot go negative and clipped units get no gradient; "
                "remove the activation after the last layer",
                first_line_only=True,
            )
