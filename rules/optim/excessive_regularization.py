from collections.abc import Iterator

import libcst as cst

from trainlint.facts import CONV, FileFacts, argument, number
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

_DECOUPLED = frozenset({"AdamW"})  # weight decay applied to the weights, not through the gradient
_DROPOUT = frozenset({"torch.nn.Dropout", "torch.nn.Dropout2d", "torch.nn.Dropout3d", "torch.nn.Dropout1d"})
_DROPOUT_FUNCTIONS = frozenset({"torch.nn.functional.dropout", "torch.nn.functional.dropout2d", "torch.nn.functional.dropout1d",
                                "torch.nn.functional.dropout3d"})


class ExcessiveRegularization(Rule):
    """
    ## What it does
    Finds regularization far above the usual values from the start of training: an
    optimizer's literal `weight_decay` at or above `weight-decay` (1e-2; `AdamW`, whose
    decay is decoupled, at or above `adamw-weight-decay`, 0.5), and `Dropout(p)` with
    `p` at or above `dropout` (0.5) placed after convolutions in an `nn.Sequential`, and
    a dropout anywhere (`nn.Dropout`, `F.dropout`) whose `p` is at or above `dropout-any`
    (0.8): `p` is the probability to zero a feature, and 0.9 is almost always TensorFlow's
    `keep_prob` carried over with the opposite meaning.

    This is advice, and it is off by default. It reports everywhere when the
    configuration selects it (`select` or `extend-select` naming TL410, its prefix or
    its name). Without that it reports only when the file stacks both kinds, heavy
    weight decay and heavy dropout after convolutions: the combination the seeds
    describe for a model that cannot fit even its training data.

    ## Why is this bad?
    Strong regularization fights the fit itself: the training loss stays high and
    the model underfits, which looks like "the network does not learn" (seeds 001 §3,
    003 §7: add regularization only once the model overfits). `Dropout(p=0.9)` keeps one
    feature in ten: CheXpert_Baseline's heads did, meaning a keep rate of 0.9.

    ## How to fix
    Start with `weight_decay=5e-4` (SGD) or `1e-4` (Adam), or AdamW with 0.01–0.1, and
    dropout ≤ 0.3 after conv blocks; increase them only when validation loss rises
    while training loss falls.

    ## Options
    `weight-decay` (1e-2), `adamw-weight-decay` (0.5), `dropout` (0.5), `dropout-any` (0.8).
    """

    code = "TL410"
    name = "excessive-regularization"
    severity = Severity.INFO
    summary = "weight decay or dropout far above usual values from the start"
    seeds = ("001 §3", "003 §7")
    default_enabled = False
    runs_on_symptoms = True
    options = {"weight-decay": 1e-2, "adamw-weight-decay": 0.5, "dropout": 0.5, "dropout-any": 0.8}

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.05)
            """,
            3,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            features = nn.Sequential(
                nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Dropout(0.5),
                nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Dropout2d(p=0.6),
            )
            optimizer = torch.optim.Adam(features.parameters(), lr=1e-3, weight_decay=1e-2)
            """,
            5,
            6,
            8,
            note="heavy dropout after every conv block and heavy weight decay: reported without selection too",
        ),
        Bad(
            """
            import torch.nn as nn
            import torchvision

            def densenet121(num_classes, pretrained=False, **kwargs):
                model = torchvision.models.densenet121(pretrained=pretrained, **kwargs)
                num_features = model.classifier.in_features
                model.classifier = nn.Sequential(
                    nn.Linear(num_features, num_features),
                    nn.Dropout(p=0.9),
                    nn.Linear(num_features, num_classes),
                    nn.Sigmoid(),
                )
                return model
            """,
            9,
            note="CheXpert_Baseline's heads: p=0.9 meant as the keep rate",
        ),
    ]
    good = [
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
            """
        ),
        Good(
            """
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
                nn.Linear(4096, 1000),
            )
            """,
            note="VGG's classifier: dropout between fully connected layers",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Policy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.affine1 = nn.Linear(4, 128)
                    self.dropout = nn.Dropout(p=0.6)
                    self.affine2 = nn.Linear(128, 2)

                def forward(self, x):
                    x = F.relu(self.dropout(self.affine1(x)))
                    return F.softmax(self.affine2(x), dim=1)
            """,
            note="pytorch/examples' REINFORCE policy: heavy but deliberate dropout between linear layers",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        decays = list(self._weight_decays(facts))
        dropouts = list(self._dropouts(facts))
        if not self.selected and not (decays and dropouts):
            return
        for node, message in decays + dropouts:
            yield self.report(node, message)

    def _weight_decays(self, facts: FileFacts):
        for optimizer in facts.loops.optimizers.values():
            decay = optimizer.weight_decay
            if decay is None:
                continue
            limit = self.settings["adamw-weight-decay" if optimizer.type_name in _DECOUPLED else "weight-decay"]
            if decay >= limit:
                yield optimizer.weight_decay_node, (
                    f"weight_decay={decay:g} for {optimizer.type_name} is far above the usual values (< {limit:g}): "
                    "the model may underfit from the start"
                )

    def _dropouts(self, facts: FileFacts):
        after_conv: set[int] = set()  # dropouts placed after a convolution of their nn.Sequential
        for call in facts.calls:
            if call.qualname != "torch.nn.Sequential":
                continue
            seen_conv = False
            for arg in call.node.args:
                if isinstance(arg.value, cst.Call):
                    qualname = facts.qualname(arg.value.func)
                    seen_conv = seen_conv or qualname in CONV
                    if qualname in _DROPOUT and seen_conv:
                        after_conv.add(id(arg.value))
        for call in facts.calls:
            if call.qualname in _DROPOUT:
                p = number(argument(call.node, "p", 0))
            elif call.qualname in _DROPOUT_FUNCTIONS:
                p = number(argument(call.node, "p", 1))
            else:
                continue
            if p is None:
                continue
            if p >= self.settings["dropout-any"]:
                yield call.node, (
                    f"dropout p={p:g} zeroes {p:.0%} of the features (p is the drop rate, not TensorFlow's keep_prob): "
                    "the model may underfit from the start"
                )
            elif id(call.node) in after_conv and p >= self.settings["dropout"]:
                yield call.node, (
                    f"dropout p={p:g} after a convolution is far above the usual values (≤ 0.3 after conv "
                    "blocks): the model may underfit from the start"
                )
