"""The model facts behind TL201-TL209: stacks read from __init__ and paths through forward()."""

from __future__ import annotations

import textwrap

from trainlint.engine import parse
from trainlint.facts import FileFacts


def _facts(code: str) -> FileFacts:
    source = textwrap.dedent(code).lstrip("\n")
    return FileFacts("models.py", source, parse(source))


def _kinds(seq) -> list[str]:
    return [f"{e.kind}:{str(e.qualname).rsplit('.', 1)[-1]}" for e in seq]


def test_vgg_cfg_table_is_unrolled_per_value():
    facts = _facts(
        """
        import torch.nn as nn

        cfg = {"A": [64, "M", 128, "M"], "B": [64, 64, "M", 128, 128, "M"]}

        class VGG(nn.Module):
            def __init__(self, name):
                super().__init__()
                self.features = self._make_layers(cfg["A"])

            def _make_layers(self, cfg):
                layers = []
                for x in cfg:
                    if x == "M":
                        layers += [nn.MaxPool2d(2)]
                    else:
                        layers += [nn.Conv2d(3, x, 3, padding=1), nn.BatchNorm2d(x), nn.ReLU(inplace=True)]
                return nn.Sequential(*layers)

            def forward(self, x):
                return self.features(x)
        """
    )
    (vgg,) = facts.module_classes
    assert _kinds(vgg.stacks["features"]) == [
        "weight:Conv2d", "norm:BatchNorm2d", "other:ReLU", "other:MaxPool2d",
        "weight:Conv2d", "norm:BatchNorm2d", "other:ReLU", "other:MaxPool2d",
    ]


def test_forward_path_expands_sequentials_and_marks_gates():
    facts = _facts(
        """
        import torch
        import torch.nn as nn

        class SEBlock(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Sequential(nn.Conv2d(c, c, 3), nn.ReLU())
                self.fc = nn.Linear(c, c)

            def forward(self, x):
                x = self.conv(x)
                w = torch.sigmoid(self.fc(x.mean((2, 3))))
                return x * w[:, :, None, None]
        """
    )
    (block,) = facts.module_classes
    flow = block.forward_paths
    assert len(flow.gates) == 1
    (path,) = flow.returns
    assert [e.kind for e in path][:2] == ["weight", "other"]


def test_stores_know_detach_and_no_grad():
    facts = _facts(
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                y = self.fc(x)
                self.kept = y
                self.detached = y.detach()
                self.size = y.shape[0]
                with torch.no_grad():
                    self.stat = y.mean()
                return y
        """
    )
    (net,) = facts.module_classes
    stores = {s.attr: (s.tensor, s.guarded) for s in net.forward_paths.stores}
    assert stores == {
        "kept": (True, False),
        "detached": (False, False),
        "size": (False, False),
        "stat": (True, True),
    }
