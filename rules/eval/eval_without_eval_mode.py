from collections.abc import Iterator

from trainlint.facts import EventKind, FileFacts, Loop, LoopEvents, evaluation_loop, same_model
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class EvalWithoutEvalMode(Rule):
    """
    ## What it does
    Finds an evaluation loop (no backward; over validation/test data or under
    `torch.no_grad()`) that runs the model while it is still in training mode: after
    `model.train()`, or after training steps with no `model.eval()` in between.
    Helpers of the same file are followed, so `evaluate(model, val_loader)` called right
    after `model.eval()` is fine, and an evaluation function whose caller is not in the
    file is not reported. Nor is a model whose class (in this file, or in the project
    index) or inline `nn.Sequential` has no dropout, BatchNorm or other layer that
    behaves differently in eval mode (a class defined twice, as a notebook's later cell
    may, is read as defined above the loop); a model of unknown class (torchvision,
    timm) is assumed to have them.

    ## Why is this bad?
    In training mode dropout still drops units and BatchNorm normalizes with the
    statistics of each validation batch and updates its running averages with them:
    the metric is noisy and too low, and the validation data leaks into the model's
    statistics (seed 001).

    ## How to fix
    Call `model.eval()` before evaluating, and `model.train()` again before the next
    training step.
    """

    code = "TL501"
    name = "eval-without-eval-mode"
    severity = Severity.WARNING
    summary = "an evaluation loop runs the model in training mode"
    seeds = ("001",)

    bad = [
        Bad(
            """
            import torch

            for epoch in range(30):
                model.train()
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                correct = 0
                for images, labels in val_loader:
                    correct += (model(images).argmax(1) == labels).sum().item()
            """,
            10,
        ),
        Bad(
            """
            import torch

            def validate(model, loader):
                total = 0.0
                with torch.no_grad():
                    for x, y in loader:
                        total += criterion(model(x), y).item()
                return total / len(loader)

            def main():
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()
                    print(validate(model, val_loader))
            """,
            6,
            note="training mode is the default: the model never left it",
        ),
        Bad(
            """
            import torch
            from torch import nn

            emulator = nn.Sequential(nn.Linear(6, 45), nn.ReLU(), nn.Dropout(0.1), nn.Linear(45, 4))
            optimiser = torch.optim.SGD(emulator.parameters(), lr=0.005)
            criterion = nn.MSELoss()
            for epoch in range(10):
                for x, y in zip(train_inputs, train_outputs):
                    optimiser.zero_grad()
                    criterion(emulator(x), y).backward()
                    optimiser.step()
            total_loss = 0
            with torch.no_grad():
                for x, y in zip(test_inputs, test_outputs):
                    total_loss += criterion(emulator(x), y).item()
            """,
            14,
            note="an nn.Sequential with dropout",
        ),
        Bad(
            """
            import torch
            from torch import nn

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 64)
                    self.fc2 = nn.Linear(64, 10)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x.flatten(1))))

            model = Classifier()
            optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
            for epoch in range(5):
                for images, labels in trainloader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                with torch.no_grad():
                    for images, labels in testloader:
                        test_loss = criterion(model(images), labels)

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 64)
                    self.fc2 = nn.Linear(64, 10)
                    self.dropout = nn.Dropout(p=0.2)

                def forward(self, x):
                    return self.fc2(self.dropout(torch.relu(self.fc1(x.flatten(1)))))

            model = Classifier()
            optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
            for epoch in range(5):
                for images, labels in trainloader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                with torch.no_grad():
                    for images, labels in testloader:
                        test_loss = criterion(model(images), labels)
            """,
            42,
            filename="validation.ipynb",
            note="a class redefined in a later cell: the model built after it has dropout",
        ),
    ]
    good = [
        Good(
            """
            import torch

            def evaluate(model, loader, device):
                model.eval()
                correct = 0
                with torch.no_grad():
                    for images, labels in loader:
                        outputs = model(images.to(device))
                        correct += (outputs.argmax(1) == labels.to(device)).sum().item()
                return correct / len(loader.dataset)
            """
        ),
        Good(
            """
            import torch

            def evaluate(model, loader):
                correct = 0
                with torch.no_grad():
                    for images, labels in loader:
                        correct += (model(images).argmax(1) == labels).sum().item()
                return correct

            def main():
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    print(evaluate(model, val_loader))
            """,
            note="evaluation in a separate function called after model.eval()",
        ),
        Good(
            """
            import torch

            model.train()
            with torch.no_grad():
                for images, _ in train_loader:
                    model(images)
            """,
            note="BatchNorm statistics recalibrated on training data, on purpose",
        ),
        Good(
            """
            import torch

            @torch.no_grad()
            def estimate_loss():
                out = {}
                model.eval()
                for split in ["train", "val"]:
                    losses = torch.zeros(eval_iters)
                    for k in range(eval_iters):
                        X, Y = get_batch(split)
                        logits, loss = model(X, Y)
                        losses[k] = loss.item()
                    out[split] = losses.mean()
                model.train()
                return out
            """,
            note="nanoGPT",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class NeuralNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 500)
                    self.fc2 = nn.Linear(500, 10)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = NeuralNet()
            for epoch in range(5):
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
            with torch.no_grad():
                for images, labels in test_loader:
                    correct = (model(images).argmax(1) == labels).sum().item()
            """,
            note="no dropout or BatchNorm: eval mode would change nothing",
        ),
        Good(
            """
            import torch
            from torch import nn

            emulator = nn.Sequential(nn.Linear(6, 45), nn.ReLU(), nn.Linear(45, 4))
            optimiser = torch.optim.SGD(emulator.parameters(), lr=0.005)
            criterion = nn.MSELoss()
            for epoch in range(10):
                for x, y in zip(train_inputs, train_outputs):
                    optimiser.zero_grad()
                    criterion(emulator(x), y).backward()
                    optimiser.step()
            total_loss = 0
            with torch.no_grad():
                for x, y in zip(test_inputs, test_outputs):
                    total_loss += criterion(emulator(x), y).item()
            """,
            note="an nn.Sequential of Linear and ReLU computes the same in both modes (NYU-DLSP20's notebooks)",
        ),
        Good(
            """
            import torch
            from torch import nn

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 64)
                    self.fc2 = nn.Linear(64, 10)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x.flatten(1))))

            model = Classifier()
            optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
            for epoch in range(5):
                for images, labels in trainloader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                with torch.no_grad():
                    for images, labels in testloader:
                        test_loss = criterion(model(images), labels)

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 64)
                    self.fc2 = nn.Linear(64, 10)
                    self.dropout = nn.Dropout(p=0.2)

                def forward(self, x):
                    return self.fc2(self.dropout(torch.relu(self.fc1(x.flatten(1)))))
            """,
            filename="validation.ipynb",
            note="a class redefined in a later cell (deep-learning-v2-pytorch's Part 5): the loop above it ran the "
            "first definition, which has no dropout",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                if not evaluation_loop(loop) or (loop.parent is not None and evaluation_loop(loop.parent)):
                    continue
                model = next(e.target for e in loop.events if e.kind == EventKind.FORWARD)
                if _in_train_mode(flow, loop, model) and facts.behaves_differently_in_eval(model, at=loop.node):
                    yield self.report(
                        loop.node,
                        f"this evaluation loop runs `{model}` in training mode (dropout and BatchNorm behave as in "
                        f"training): call `{model}.eval()` before it",
                        first_line_only=True,
                    )


def _in_train_mode(flow: LoopEvents, loop: Loop, model: str) -> bool:
    start = loop.events[0].index
    trained = False
    for event in reversed(flow.events[:start]):
        if event.kind == EventKind.EVAL:
            return False  # eval() on any name: an alias of the model is switched too, often enough
        if event.kind == EventKind.TRAIN and same_model(event.target, model):
            return event.value is None
        if event.kind == EventKind.FORWARD and same_model(event.target, model) and any(l.is_training for l in event.loops):
            trained = True
    return trained
