from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds `nn.CrossEntropyLoss` / `F.cross_entropy` fed a tensor that already went
    through `softmax`: in the training script itself, or in the model's `forward()`
    (also when the model is defined in another file).

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` to its input itself. Fed probabilities,
    it computes the softmax of values squeezed into [0, 1]: the predicted distribution
    can never become confident, the loss stays near log(C) and the gradients are tiny,
    so training crawls or stalls (seed 004: a ResNet whose head ends in `F.softmax`
    trained with `CrossEntropyLoss`; seed 001 §4). A `log_softmax` before it is not
    reported: log_softmax of log-probabilities changes nothing, so training is correct.

    ## How to fix
    Return raw logits from the model and give them to `CrossEntropyLoss`. Apply
    `softmax` only where you need probabilities (metrics, inference). With a
    `log_softmax` head, use `NLLLoss` instead.
    """

    code = "TL302"
    name = "softmax-before-cross-entropy"
    severity = Severity.ERROR
    summary = "CrossEntropyLoss is fed outputs that already went through softmax"
    seeds = ("004", "001 §4")

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn

            from models.resnet import ResNet

            model = ResNet(in_channels=14, num_classes=7)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            for epoch in range(10):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    probs = model(x)
                    loss = criterion(probs, y)
                    loss.backward()
                    optimizer.step()
            """,
            14,
            files={
                "models/resnet.py": """
                    import torch.nn as nn
                    import torch.nn.functional as F

                    class ResNet(nn.Module):
                        def __init__(self, in_channels=14, num_classes=7):
                            super().__init__()
                            self.body = nn.Sequential(nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                            self.linear = nn.Linear(64, num_classes)

                        def forward(self, x):
                            x = self.linear(self.body(x))
                            return F.softmax(x, dim=1)
                """
            },
            note="the softmax is in the model's file",
        ),
        Bad(
            """
            import torch.nn.functional as F

            def train(model, loader, optimizer):
                model.train()
                for data, target in loader:
                    optimizer.zero_grad()
                    output = model(data)
                    probs = output.softmax(dim=-1)
                    loss = F.cross_entropy(probs, target)
                    loss.backward()
                    optimizer.step()
            """,
            9,
        ),
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
            for x, y in loader:
                probs = F.softmax(model(x), dim=1)
                loss = F.cross_entropy(probs, y)
            """,
            7,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class Ranker(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.score = nn.Linear(dim, 1)
                    self.log_softmax = nn.LogSoftmax(dim=0)

                def forward(self, candidates, target):
                    scores = self.score(candidates).squeeze(-1)
                    probs = torch.exp(self.log_softmax(scores))
                    loss = nn.CrossEntropyLoss()(probs.view(1, -1), target)
                    return probs, loss
            """,
            13,
            note="exp of a log_softmax is a softmax",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class MatchingLoss(nn.Module):
                def __init__(self, loss=nn.CrossEntropyLoss(reduction="sum")):
                    super().__init__()
                    self.loss = loss

                def forward(self, scores):
                    total = 0
                    for row in torch.softmax(scores, -1):
                        total = total + self.loss(row, torch.arange(row.shape[0]))
                    return total
            """,
            12,
            note="the loss is a default argument; iterating over a softmax gives softmax rows",
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
                    x = F.relu(self.fc1(x.flatten(1)))
                    return F.softmax(self.fc2(x), dim=1)

            def train(model, loader, optimizer):
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
            """,
            18,
            note="train() is called from main.py: the model it receives is the one class this file defines",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Flatten(),
                nn.Linear(784, 128),
                nn.ReLU(),
                nn.Linear(128, 10),
                nn.LogSoftmax(dim=1),
            )
            loss_fn = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = loss_fn(model(x), y)
            """,
            note="redundant but correct: log_softmax of log-probabilities is the identity",
        ),
        Good(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
            criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                probs = logits.softmax(dim=1)  # for the metrics only
                accuracy = (probs.argmax(1) == y).float().mean()
            """
        ),
        Good(
            """
            import torch.nn.functional as F

            def distillation_loss(student_logits, teacher_logits, labels, T=4.0):
                soft_targets = F.softmax(teacher_logits / T, dim=-1)
                kd = F.cross_entropy(student_logits / T, soft_targets) * T * T
                return kd + F.cross_entropy(student_logits, labels)
            """,
            note="softmax on the target side (soft labels), logits on the input side",
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                probs = torch.exp(F.log_softmax(logits, dim=1))  # for the metrics only
                confidence = probs.max(1).values.mean()
            """,
            note="exp(log_softmax) for the metrics, logits into the loss",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class MatchingLoss(nn.Module):
                def __init__(self, loss=nn.CrossEntropyLoss(reduction="sum")):
                    super().__init__()
                    self.loss = loss

                def forward(self, scores):
                    total = 0
                    for row in scores:
                        total = total + self.loss(row, torch.arange(row.shape[0]))
                    return total
            """,
            note="the same loss over the raw score rows",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(9216, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = self.fc2(x)
                    if not self.training:
                        x = F.softmax(x, dim=1)
                    return x

            model = Net()
            for data, target in loader:
                loss = F.cross_entropy(model(data), target)
            """,
            note="softmax only in eval mode: the head is not known to be a softmax",
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            import torchvision

            class Deployed(nn.Module):
                \"\"\"The exported model: probabilities for the serving code.\"\"\"
                def __init__(self, model):
                    super().__init__()
                    self.model = model

                def forward(self, x):
                    return self.model(x).softmax(dim=1)

            def train(model, loader, optimizer):
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            def main(loader):
                model = torchvision.models.resnet18(num_classes=10)
                train(model, loader, torch.optim.SGD(model.parameters(), lr=0.1))
                return Deployed(model.eval())
            """,
            note="the file's one class wraps the model for serving; the call of train() says what it trains",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.kind != "cross_entropy" or use.input.kind != "tensor":
                continue
            activation = use.input.activation
            if activation == "softmax":
                yield self.report(
                    use.call,
                    f"{use.fed}, already a softmax "
                    f"({use.input.origin}): it applies log_softmax itself, so the probabilities are squashed "
                    "twice and the gradients vanish; feed it the logits",
                    first_line_only=True,
                )
