from collections.abc import Iterator

from trainlint.facts import ElementKind, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class SigmoidInDeepStack(Rule):
    """
    ## What it does
    Finds `sigmoid` or `tanh` (the modules `nn.Sigmoid`/`nn.Tanh`/`nn.Hardsigmoid`/
    `nn.Hardtanh`/`nn.Softsign`, or `torch.sigmoid`, `F.tanh`, `x.sigmoid()`) used as the
    activation *between* the weight layers of a stack of `min-depth` (default 4) or more
    Conv/Linear layers or blocks. Stacks are read from `nn.Sequential(...)`, from layer
    lists built in `__init__` helpers (`layers += [...]`), and from the order of calls in
    `forward()`.

    The rule needs at least two such activations in the stack: a single tanh layer (a
    BERT pooler, a Luong attention layer, an autoencoder's bottleneck) is a design
    choice. A squashing function that is the *output* activation, or a *gate* whose
    output multiplies another tensor (squeeze-excitation, attention, GLU, LSTM/GRU
    cells), is not reported.

    ## Why is this bad?
    The derivative of sigmoid is at most 0.25 and both sigmoid and tanh saturate: the
    gradient shrinks at every layer it passes back through, so the first layers of a deep
    stack barely learn and the loss stays flat (seed 000 §2.3: a VGG16 with sigmoid
    between the convolutions does not converge; seed 001 §4 and 003 §10 give the same
    advice). Sigmoid outputs are also all positive, which slows the next layer's updates.

    ## How to fix
    Use `nn.ReLU` (or `GELU`/`SiLU`) between the layers, and keep `sigmoid` for gates and
    for the output of a binary classifier (better: return logits and use
    `BCEWithLogitsLoss`).

    ## Options
    `min-depth` (default 4): the number of Conv/Linear layers (or the project's own
    blocks) a stack needs before the rule fires.
    """

    code = "TL201"
    name = "sigmoid-in-deep-stack"
    severity = Severity.WARNING
    summary = "sigmoid/tanh between the weight layers of a deep stack"
    seeds = ("000 §2.3", "001 §4", "003 §10")
    options = {"min-depth": 4}

    bad = [
        Bad(
            """
            import torch.nn as nn

            class VGG(nn.Module):
                def __init__(self, num_classes=10):
                    super().__init__()
                    self.features = nn.Sequential(
                        nn.Conv2d(3, 64, 3, padding=1),
                        nn.Sigmoid(),
                        nn.Conv2d(64, 64, 3, padding=1),
                        nn.Sigmoid(),
                        nn.MaxPool2d(2),
                        nn.Conv2d(64, 128, 3, padding=1),
                        nn.Sigmoid(),
                        nn.MaxPool2d(2),
                    )
                    self.classifier = nn.Sequential(nn.Flatten(), nn.LazyLinear(256), nn.Sigmoid(), nn.Linear(256, num_classes))

                def forward(self, x):
                    return self.classifier(self.features(x))
            """,
            8,
            note="the stack runs through both Sequentials in forward(): one finding names its four sigmoids",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class LeNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(1, 6, 5)
                    self.conv2 = nn.Conv2d(6, 16, 5)
                    self.fc1 = nn.Linear(16 * 4 * 4, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, x):
                    x = F.max_pool2d(torch.sigmoid(self.conv1(x)), 2)
                    x = F.max_pool2d(torch.sigmoid(self.conv2(x)), 2)
                    x = x.flatten(1)
                    x = self.fc1(x).sigmoid()
                    x = torch.sigmoid(self.fc2(x))
                    return self.fc3(x)
            """,
            15,
        ),
        Bad(
            """
            from torch import nn

            def make_layers(cfg):
                layers = []
                in_channels = 3
                for v in cfg:
                    if v == "M":
                        layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
                    else:
                        conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                        layers += [conv2d, nn.Tanh()]
                        in_channels = v
                return nn.Sequential(*layers)

            features = make_layers([64, "M", 128, "M", 256, 256, "M", 512, 512, "M"])
            """,
            11,
            note="a builder function over a literal config",
        ),
        Bad(
            """
            import torch.nn as nn

            net = nn.Sequential()
            for i in range(6):
                net.add_module(f"fc{i}", nn.Linear(256, 256))
                net.add_module(f"act{i}", nn.Sigmoid())
            net.add_module("out", nn.Linear(256, 10))
            """,
            6,
            note="a stack filled with add_module in a loop at module level",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            net = nn.Sequential()
            for i in range(6):
                net.add_module(f"fc{i}", nn.Linear(256, 256))
                net.add_module(f"act{i}", nn.ReLU())
            net.add_module("out", nn.Linear(256, 1))
            net.add_module("prob", nn.Sigmoid())
            """,
            note="ReLU between the layers, one sigmoid on the output",
        ),
        Good(
            """
            import torch.nn as nn

            class SqueezeExcite(nn.Module):
                def __init__(self, channels, reduction=16):
                    super().__init__()
                    self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
                    self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
                    self.fc3 = nn.Conv2d(channels, channels, 1)
                    self.fc4 = nn.Conv2d(channels, channels, 1)

                def forward(self, x):
                    x = self.fc4(self.fc3(x))
                    scale = self.fc2(self.fc1(x.mean((2, 3), keepdim=True)).relu()).sigmoid()
                    return x * scale
            """,
            note="a squeeze-excitation gate",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class LSTMCell(nn.Module):
                def __init__(self, input_size, hidden_size):
                    super().__init__()
                    self.ih = nn.Linear(input_size, 4 * hidden_size)
                    self.hh = nn.Linear(hidden_size, 4 * hidden_size)
                    self.proj = nn.Linear(hidden_size, hidden_size)
                    self.out = nn.Linear(hidden_size, hidden_size)

                def forward(self, x, state):
                    h, c = state
                    gates = self.ih(x) + self.hh(h)
                    i, f, g, o = gates.chunk(4, 1)
                    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
                    g = torch.tanh(g)
                    c = f * c + i * g
                    h = o * torch.tanh(c)
                    return self.out(self.proj(h)), (h, c)
            """,
            note="LSTM gates multiply other tensors",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class GLUBlock(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(dim, 2 * dim) for _ in range(6)])
                    self.head = nn.Linear(dim, 1)

                def forward(self, x):
                    for layer in self.layers:
                        a, b = layer(x).chunk(2, dim=-1)
                        x = a * b.sigmoid()
                    return torch.sigmoid(self.head(x))
            """,
            note="GLU gates, and a sigmoid as the output activation",
        ),
        Good(
            """
            import torch.nn as nn

            actor = nn.Sequential(
                nn.Linear(64, 64),
                nn.Tanh(),
                nn.Linear(64, 64),
                nn.Tanh(),
                nn.Linear(64, 4),
            )
            """,
            note="a shallow tanh MLP, as in PPO policies",
        ),
        Good(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(
                        nn.Conv2d(3, 32, 3), nn.GroupNorm(8, 32), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.GroupNorm(8, 32), nn.ReLU(),
                        nn.Conv2d(32, 64, 3), nn.GroupNorm(8, 64), nn.ReLU(), nn.Conv2d(64, 1, 1), nn.Sigmoid(),
                    )

                def forward(self, x):
                    return self.body(x)
            """,
            note="ReLU between the layers, sigmoid on the output mask",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class TextClassifier(nn.Module):
                def __init__(self, vocab, dim, num_classes):
                    super().__init__()
                    self.embed = nn.Embedding(vocab, dim)
                    self.encoder = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU())
                    self.pooler = nn.Linear(dim, dim)
                    self.classifier = nn.Linear(dim, num_classes)

                def forward(self, tokens):
                    hidden = self.encoder(self.embed(tokens))
                    pooled = torch.tanh(self.pooler(hidden[:, 0]))
                    return self.classifier(pooled)
            """,
            note="one tanh layer (a BERT-style pooler) is a design choice",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        depth = int(self.settings["min-depth"])
        reported: set[int] = set()
        gates = {gate for module_class in facts.module_classes for gate in module_class.forward_paths.gates}
        for path in facts.layer_paths:
            weights = [i for i, e in enumerate(path) if e.is_layer]
            if len(weights) < depth:
                continue
            between = [
                element
                for i, element in enumerate(path)
                if element.kind == ElementKind.SQUASH and weights[0] < i < weights[-1] and id(element.node) not in gates
            ]
            # one squashing layer (a BERT pooler, a Luong attention layer, an autoencoder's
            # bottleneck) costs little; the gradient vanishes when it is repeated down the stack
            if len(between) < 2:
                continue
            # one finding per stack, on its first squashing layer not reported with another stack
            fresh = [element for element in between if id(element.node) not in reported]
            if not fresh:
                continue
            reported.update(id(element.node) for element in fresh)
            names = sorted({str(element.qualname).rsplit(".", 1)[-1] for element in fresh})
            places = len({id(element.node) for element in fresh})
            if len(fresh) == 1:
                what, where = f"{names[0]} between", "it"
            elif places == 1:  # built in a loop
                what, where = f"{len(fresh)} {'/'.join(names)} layers built here, between", "them"
            else:
                what = f"{len(fresh)} {'/'.join(names)} layers (this one and {places - 1} more below) between"
                where = "them"
            yield self.report(
                fresh[0].node,
                f"{what} the weight layers of a stack of {len(weights)}: gradients vanish on the way back through "
                f"{where}; use ReLU (keep sigmoid/tanh for gates and outputs)",
                first_line_only=True,
            )
