from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class NllWithoutLogSoftmax(Rule):
    """
    ## What it does
    Finds `nn.NLLLoss` / `F.nll_loss` fed a tensor that did not go through
    `log_softmax`: raw logits of a weight layer, or probabilities from `softmax` or
    `sigmoid`.

    ## Why is this bad?
    `NLLLoss` only picks `-input[target]`; it expects log-probabilities and does no
    normalization itself. On raw logits the loss is unbounded below: the model
    lowers it by inflating one output without learning anything. On softmax
    probabilities it minimizes `-p`, which has weak gradients and no log-likelihood
    meaning (seed 001 §4: the loss must match the output layer).

    ## How to fix
    End the model in `F.log_softmax(x, dim=1)` (or `nn.LogSoftmax`) when using
    `NLLLoss`, or drop the activation and use `nn.CrossEntropyLoss`, which is
    `log_softmax` + `NLLLoss` in one numerically stable step.
    """

    code = "TL304"
    name = "nll-without-log-softmax"
    severity = Severity.ERROR
    summary = "NLLLoss fed outputs that did not go through log_softmax"
    seeds = ("001 §4",)

    bad = [
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
                    return self.fc2(x)

            def train(model, device, train_loader, optimizer):
                model.train()
                for data, target in train_loader:
                    optimizer.zero_grad()
                    output = model(data.to(device))
                    loss = F.nll_loss(output, target.to(device))
                    loss.backward()
                    optimizer.step()

            model = Net()
            train(model, "cpu", train_loader, optimizer)
            """,
            19,
            note="the model is passed to train(); its head is read through the call",
        ),
        Bad(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(300, 64), nn.Tanh(), nn.Linear(64, 5), nn.Softmax(dim=1))
            criterion = nn.NLLLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """,
            6,
        ),
        Bad(
            """
            import torch.nn as nn

            from network import Discriminator, SmallDiscriminator

            if image_size == 64:
                netD = Discriminator(num_classes)
            else:
                netD = SmallDiscriminator(num_classes)
            aux_criterion = nn.NLLLoss()
            for images, labels in loader:
                realfake, classes = netD(images)
                loss = aux_criterion(classes, labels)
            """,
            12,
            files={
                "network.py": """
                    import torch
                    import torch.nn as nn

                    class Discriminator(nn.Module):
                        def __init__(self, num_classes):
                            super().__init__()
                            self.body = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
                            self.fc_dis = nn.Linear(64 * 32 * 32, 1)
                            self.fc_aux = nn.Linear(64 * 32 * 32, num_classes)
                            self.softmax = nn.Softmax(dim=1)

                        def forward(self, x):
                            h = self.body(x)
                            return torch.sigmoid(self.fc_dis(h)), self.softmax(self.fc_aux(h))

                    class SmallDiscriminator(Discriminator):
                        def forward(self, x):
                            h = self.body(x)
                            return torch.sigmoid(self.fc_dis(h)).squeeze(1), self.softmax(self.fc_aux(h))
                """
            },
            note="a forward that returns a tuple, unpacked; the model chosen by an if/else",
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
                    self.conv1 = nn.Conv2d(1, 32, 3, 1)
                    self.fc = nn.Linear(5408, 10)

                def forward(self, x):
                    x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                    x = self.fc(x.flatten(1))
                    output = F.log_softmax(x, dim=1)
                    return output

            def train(model, train_loader, optimizer):
                for data, target in train_loader:
                    optimizer.zero_grad()
                    output = model(data)
                    loss = F.nll_loss(output, target)
                    loss.backward()
                    optimizer.step()

            train(Net(), train_loader, optimizer)
            """,
            note="pytorch/examples mnist",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            criterion = nn.NLLLoss(ignore_index=0)
            for src, tgt in loader:
                logits = model(src)
                log_probs = torch.log_softmax(logits, dim=-1)
                loss = criterion(log_probs.view(-1, log_probs.size(-1)), tgt.view(-1))
            """
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class GCN(nn.Module):
                def __init__(self, nfeat, nclass):
                    super().__init__()
                    self.gc = nn.Linear(nfeat, nclass)
                    self.out = nn.LogSoftmax(dim=1)

                def forward(self, x, adj):
                    return self.out(torch.spmm(adj, self.gc(x)))

            model = GCN(1433, 7)
            criterion = nn.NLLLoss()
            loss = criterion(model(features, adj)[idx_train], labels[idx_train])
            """
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self, num_classes):
                    super().__init__()
                    self.fc_dis = nn.Linear(512, 1)
                    self.fc_aux = nn.Linear(512, num_classes)

                def forward(self, h):
                    return torch.sigmoid(self.fc_dis(h)), torch.log_softmax(self.fc_aux(h), dim=1)

            netD = Discriminator(10)
            aux_criterion = nn.NLLLoss()
            dis_criterion = nn.BCELoss()
            for h, labels, is_real in loader:
                realfake, classes = netD(h)
                loss = dis_criterion(realfake, is_real) + aux_criterion(classes, labels)
            """,
            note="the fix: log_softmax on the class output of a two-output discriminator",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.kind != "nll" or use.input.kind != "tensor" or use.input.activation in (None, "log_softmax"):
                continue
            what = "raw logits" if use.input.activation == "" else f"a {use.input.activation} output"
            yield self.report(
                use.call,
                f"{use.fed}, {what} ({use.input.origin}): "
                "it expects log-probabilities; apply log_softmax first or use nn.CrossEntropyLoss on the logits",
                first_line_only=True,
            )
