from collections.abc import Iterator

from trainlint.facts import Element, ElementKind, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class DeepConvWithoutNormalization(Rule):
    """
    ## What it does
    Finds a stack of `min-depth` (default 4) or more convolution layers, in an
    `nn.Sequential` or along `forward()`, with no normalization layer anywhere in it
    (BatchNorm, GroupNorm, LayerNorm, InstanceNorm, or a weight normalization such as
    `spectral_norm`).

    ## Why is this bad?
    Without normalization, the scale of the activations drifts from layer to layer, so
    a deep plain stack is very sensitive to the initialization and the learning rate:
    the loss can sit still for many epochs or diverge (seed 000 §2.5: adding
    BatchNorm after each convolution is what made the VGG16 train). Normalization also
    allows higher learning rates.

    This is advice, off by default: some architectures leave normalization out on
    purpose (super-resolution networks such as EDSR, some GAN generators) and use a
    careful initialization or residual scaling instead.

    ## How to fix
    Add `nn.BatchNorm2d(channels)` after each convolution (then build the convolution
    with `bias=False`), or `nn.GroupNorm` for small batches.
    """

    code = "TL204"
    name = "deep-conv-without-normalization"
    severity = Severity.INFO
    summary = "a deep stack of convolutions with no normalization layer"
    seeds = ("000 §2.5",)
    default_enabled = False
    options = {"min-depth": 4}

    bad = [
        Bad(
            """
            import torch.nn as nn

            class VGG(nn.Module):
                def __init__(self, num_classes=10):
                    super().__init__()
                    self.features = nn.Sequential(
                        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    )
                    self.classifier = nn.Linear(128 * 8 * 8, num_classes)

                def forward(self, x):
                    return self.classifier(self.features(x).flatten(1))
            """,
            7,
        ),
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(1, 32, 3)
                    self.conv2 = nn.Conv2d(32, 64, 3)
                    self.conv3 = nn.Conv2d(64, 64, 3)
                    self.conv4 = nn.Conv2d(64, 128, 3)
                    self.fc = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.conv1(x))
                    x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                    x = F.relu(self.conv3(x))
                    x = F.relu(self.conv4(x)).mean((2, 3))
                    return self.fc(x)
            """,
            7,
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            def conv_bn(c_in, c_out):
                return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

            features = nn.Sequential(conv_bn(3, 32), conv_bn(32, 64), conv_bn(64, 64), conv_bn(64, 128))
            """
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(1, 32, 3)
                    self.conv2 = nn.Conv2d(32, 64, 3)
                    self.fc = nn.Linear(9216, 10)

                def forward(self, x):
                    x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
                    return self.fc(x.flatten(1))
            """,
            note="a shallow MNIST net",
        ),
        Good(
            """
            import torch.nn as nn
            from torch.nn.utils import spectral_norm

            discriminator = nn.Sequential(
                spectral_norm(nn.Conv2d(3, 64, 4, 2, 1)), nn.LeakyReLU(0.2),
                spectral_norm(nn.Conv2d(64, 128, 4, 2, 1)), nn.LeakyReLU(0.2),
                spectral_norm(nn.Conv2d(128, 256, 4, 2, 1)), nn.LeakyReLU(0.2),
                spectral_norm(nn.Conv2d(256, 1, 4, 1, 0)),
            )
            """,
            note="spectral normalization",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class UNetBlock(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.convs = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1) for _ in range(4)])
                    self.norm = nn.GroupNorm(8, c)

                def forward(self, x):
                    for conv in self.convs:
                        x = F.silu(self.norm(conv(x)))
                    return x
            """,
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        depth = int(self.settings["min-depth"])
        reported: set[int] = set()
        for path in facts.layer_paths:
            convs = [e for e in path if e.is_conv]
            if len(convs) < depth or any(_may_normalize(e) for e in path):
                continue
            first = convs[0]
            if id(first.node) in reported:
                continue
            reported.add(id(first.node))
            yield self.report(
                first.node,
                f"{len(convs)} convolutions in a row with no normalization layer: training is fragile "
                "(init, learning rate); add BatchNorm/GroupNorm after each convolution",
                first_line_only=True,
            )


def _may_normalize(element: Element) -> bool:
    if element.kind in (ElementKind.NORM, ElementKind.BLOCK) or element.weight_normalized:
        return True
    if element.kind == ElementKind.OTHER:
        name = (element.qualname or "").lower()
        return not name or "norm" in name
    return False


