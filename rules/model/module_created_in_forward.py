from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class ModuleCreatedInForward(Rule):
    """
    ## What it does
    Finds an `nn.Module` that owns weights (a `Conv2d`, `Linear`, `BatchNorm2d`, an
    `LSTM`, or one of the project's own modules with parameters) constructed inside
    `forward()` or a method that `forward()` calls.

    ## Why is this bad?
    The layer is created anew on every call, with fresh random weights. Its parameters
    did not exist when the optimizer was built, so they are never updated: every batch
    goes through a different random projection and the loss does not fall, or climbs
    to inf (seed 004: a hand-written ResNet whose `forward()` builds an `nn.Conv2d` for
    the shortcut). The layer is also not moved by `model.to(device)` nor saved in the
    `state_dict`.

    ## How to fix
    Build the layer once in `__init__`, store it on `self`, and only call it in
    `forward()`. Parameter-free operations belong in `torch.nn.functional`.
    """

    code = "TL202"
    name = "module-created-in-forward"
    severity = Severity.ERROR
    summary = "a layer with weights is constructed inside forward()"
    seeds = ("004",)

    bad = [
        Bad(
            """
            import torch.nn as nn

            class ResNet(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.block = nn.Conv2d(channels, channels, 3, padding=1)

                def forward(self, x):
                    out = self.block(x)
                    shortcut = nn.Conv2d(x.shape[1], out.shape[1], kernel_size=1)
                    return out + shortcut(x)
            """,
            10,
        ),
        Bad(
            """
            from torch import nn
            from torch.nn import Linear as Dense

            class Head(nn.Module):
                def forward(self, x):
                    return self.project(x.flatten(1))

                def project(self, x):
                    return Dense(x.shape[1], 10)(x)
            """,
            9,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1)

                def forward(self, x):
                    return torch.relu(self.conv(x)) + x

            class Net(nn.Module):
                def forward(self, x):
                    return Block(x.shape[1])(x)
            """,
            14,
            note="the project's own module with parameters",
        ),
        Bad(
            """
            import torch.nn as nn

            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())

                def head(self, x):
                    return x.mean((2, 3))

                def forward(self, x):
                    return self.head(self.body(x))

            class Classifier(Backbone):
                def head(self, x):
                    fc = nn.Linear(64, 10)
                    return fc(x.mean((2, 3)))
            """,
            16,
            note="Backbone.forward() calls the head() that Classifier overrides",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())

                def head(self, x):
                    return x.mean((2, 3))

                def forward(self, x):
                    return self.head(self.body(x))

                def export(self):
                    return nn.Sequential(self.body, nn.Flatten())

            class Classifier(Backbone):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(64, 10)

                def head(self, x):
                    return self.fc(x.mean((2, 3)))
            """,
            note="the override uses a layer built in __init__; the container built outside forward() is fine",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class ResNet(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.block = nn.Conv2d(channels, channels, 3, padding=1)
                    self.shortcut = nn.Conv2d(channels, channels, kernel_size=1)

                def forward(self, x):
                    out = F.relu(self.block(x))
                    return out + self.shortcut(x)
            """
        ),
        Good(
            """
            import torch.nn as nn

            class VGG(nn.Module):
                def __init__(self, cfg):
                    super().__init__()
                    self.features = self._make_layers(cfg)
                    self.classifier = nn.LazyLinear(10)

                def _make_layers(self, cfg):
                    layers = []
                    in_channels = 3
                    for v in cfg:
                        layers += [nn.Conv2d(in_channels, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                        in_channels = v
                    return nn.Sequential(*layers)

                def forward(self, x):
                    return self.classifier(self.features(x).flatten(1))
            """,
            note="layers built in an __init__ helper",
        ),
        Good(
            """
            import torch.nn as nn

            class Classifier(nn.Module):
                def __init__(self, blocks):
                    super().__init__()
                    self.blocks = nn.ModuleList(blocks)

                def forward(self, x):
                    for block in self.blocks:
                        x = block(x)
                    return nn.Flatten()(nn.ReLU()(x))
            """,
            note="parameter-free modules in forward are harmless",
        ),
        Good(
            """
            import torch.nn as nn

            def make_model():
                return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))

            class Wrapper(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = make_model()

                def forward(self, x):
                    return self.net(x)
            """
        ),
        Good(
            """
            import torch.nn as nn

            class NetWrapper(nn.Module):
                def __init__(self, net, projection_size):
                    super().__init__()
                    self.net = net
                    self.projection_size = projection_size
                    self.projector = None

                def _get_projector(self, hidden):
                    if self.projector is None:
                        self.projector = nn.Linear(hidden.shape[-1], self.projection_size).to(hidden)
                    return self.projector

                def forward(self, x):
                    embed = self.net(x).flatten(1)
                    return self._get_projector(embed)(embed)
            """,
            note="built once, lazily (BYOL/DINO run one forward before creating the optimizer)",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for module_class in facts.module_classes:
            for call in module_class.constructed_in_forward:
                if facts.class_has_parameters(call.qualname):
                    layer = facts.code(call.node.func)
                    yield self.report(
                        call.node,
                        f"`{layer}(...)` is built inside forward() of {module_class.name}: it gets fresh random "
                        "weights on every call and the optimizer never sees them; build it in __init__",
                    )
