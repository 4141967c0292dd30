from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class NormLayerReused(Rule):
    """
    ## What it does
    Finds a `BatchNorm` layer (alone, or inside an `nn.Sequential` block) that
    `forward()` applies a second time, further down the same path, to a tensor that
    already went through it.

    Applying one block to two independent inputs, as a siamese network does with two
    images of the same kind, is not reported.

    ## Why is this bad?
    BatchNorm keeps one set of running mean and variance. Fed activations from two
    different depths of the network, it averages two different distributions: in
    training each call normalizes with its own batch statistics, but in `eval()` both use
    the mixed running statistics, so evaluation accuracy collapses while the training
    loss looks fine. Seed 004's ResNet applies one `conv2block` twice in a row.

    ## How to fix
    Build one module per use in `__init__` (e.g. `self.block1`, `self.block2`, or an
    `nn.ModuleList` of copies).
    """

    code = "TL209"
    name = "norm-layer-reused"
    severity = Severity.WARNING
    summary = "one BatchNorm applied at two depths of forward()"
    seeds = ("004",)

    bad = [
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 32, 3, padding=1, bias=False)
                    self.conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(32)

                def forward(self, x):
                    x = F.relu(self.bn(self.conv1(x)))
                    x = F.relu(self.bn(self.conv2(x)))
                    return x
            """,
            13,
        ),
        Bad(
            """
            import torch.nn as nn

            def bottleneck(c):
                return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())

            class ResNet(nn.Module):
                def __init__(self, c=64):
                    super().__init__()
                    self.stem = nn.Conv2d(3, c, 3, padding=1)
                    self.block = bottleneck(c)

                def forward(self, x):
                    out = self.stem(x)
                    res1 = self.block(out) + out
                    res2 = self.block(res1) + res1
                    return res2
            """,
            15,
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class Siamese(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.cnn = nn.Sequential(nn.Conv2d(1, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.Flatten())
                    self.head = nn.LazyLinear(1)

                def forward(self, x1, x2):
                    a = self.cnn(x1)
                    b = self.cnn(x2)
                    return self.head((a - b).abs())
            """,
            note="one encoder for two inputs of the same kind",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(c)
                    self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(c)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    return F.relu(out + x)
            """
        ),
        Good(
            """
            import torch.nn as nn

            class Mixer(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.norm = nn.LayerNorm(dim)
                    self.token_mix = nn.Linear(dim, dim)
                    self.channel_mix = nn.Linear(dim, dim)

                def forward(self, x):
                    x = x + self.token_mix(self.norm(x))
                    return x + self.channel_mix(self.norm(x))
            """,
            note="LayerNorm keeps no running statistics",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for module_class in facts.module_classes:
            for attr, call in module_class.forward_paths.reapplied:
                yield self.report(
                    call,
                    f"`self.{attr}` holds a BatchNorm and is applied again to a tensor that already went through it: "
                    "its running statistics mix two distributions; build one module per use",
                    first_line_only=True,
                )
