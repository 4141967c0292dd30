from collections.abc import Iterator

import libcst as cst

from trainlint.facts import CONV, FileFacts, argument, number
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

_DECOUPLED = frozenset({"AdamW"})  # weight decay applied to the weights, not through the gradient
_DROPOUT = frozenset({"torch.nn.Dropout", "torch.nn.Dropout2d", "torch.nn.Dropout3d", "torch.nn.Dropout1d"})


class ExcessiveRegularization(Rule):
    """
    ## What it does
    Finds regularization far above the usual values from the start of training: an
    optimizer's literal `weight_decay` at or above `weight-decay` (1e-2; `AdamW`, whose
    decay is decoupled, at or above `adamw-weight-decay`, 0.5), and `Dropout(p)` with
    `p` at or above `dropout` (0.5) placed after convolutions in an `nn.Sequential`.

    This is advice, and it is off by default. It reports everywhere when the
    configuration selects it (`select` or `extend-select` naming TL410, its prefix or
    its name). Without that it reports only when the file stacks both kinds, heavy
    weight decay and heavy dropout after convolutions: the combination the seeds
    describe for a model that cannot fit even its training data.

    ## Why is this bad?
    Strong regularization fights the fit itself: the training loss stays high and
    the model underfits, which looks like "the network does not learn" (seeds 001 §3,
    003 §7: add regularization only once the model overfits).

    ## How to fix
    Start with `weight_decay=5e-4` (SGD) or `1e-4` (Adam), or AdamW with 0.01–0.1, and
    dropout ≤ 0.3 after conv blocks; increase them only when validation loss rises
    while training loss falls.

    ## Options
    `weight-decay` (1e-2), `adamw-weight-decay` (0.5), `dropout` (0.5).
    """

    code = "TL410"
    name = "excessive-regularization"
    severity = Severity.INFO
    summary = "weight decay or dropout far above usual values from the start"
    seeds = ("001 §3", "003 §7")
    default_enabled = False
    runs_on_symptoms = True
    options = {"weight-decay": 1e-2, "adamw-weight-decay": 0.5, "dropout": 0.5}

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
        for call in facts.calls:
            if call.qualname != "torch.nn.Sequential":
                continue
            after_conv = False
            for arg in call.node.args:
                value = arg.value
                if not isinstance(value, cst.Call):
                    continue
                qualname = facts.qualname(value.func)
                if qualname in CONV:
                    after_conv = True
                elif qualname in _DROPOUT and after_conv:
                    p = number(argument(value, "p", 0))
                    if p is not None and p >= self.settings["dropout"]:
                        yield value, (
                            f"dropout p={p:g} after a convolution is far above the usual values (≤ 0.3 after conv "
                            "blocks): the model may underfit from the start"
                        )
