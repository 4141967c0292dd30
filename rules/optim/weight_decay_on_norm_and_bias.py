from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, argument, is_optimizer_class, keyword, number
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class WeightDecayOnNormAndBias(Rule):
    """
    ## What it does
    Finds an optimizer with a positive `weight_decay` built over `model.parameters()`:
    one parameter group, so biases and the weights of normalization layers are decayed
    too.

    ## Why is this bad?
    Decaying a BatchNorm/LayerNorm scale or a bias pulls it towards zero without any
    regularizing effect on the function the network computes: it shrinks the
    normalized activations and fights the optimizer. Recipes (timm, nanoGPT, BERT)
    exempt them (seed 003 §7).

    ## How to fix
    Build two parameter groups: parameters with `ndim >= 2` with the decay, the rest
    (biases, norm weights) with `weight_decay=0.0`.
    """

    code = "TL413"
    name = "weight-decay-on-norm-and-bias"
    severity = Severity.INFO
    summary = "one param group with weight decay over all parameters, norm weights and biases included"
    seeds = ("003 §7",)
    default_enabled = False

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
            """,
            3,
        ),
        Bad(
            """
            from torch import optim

            optimizer = optim.SGD(self.net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
            """,
            3,
        ),
    ]
    good = [
        Good(
            """
            import torch

            decay = [p for p in model.parameters() if p.ndim >= 2]
            no_decay = [p for p in model.parameters() if p.ndim < 2]
            optimizer = torch.optim.AdamW(
                [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=6e-4
            )
            """,
            note="nanoGPT's groups",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.AdamW(param_groups_weight_decay(model, 0.05), lr=1e-3)
            """
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for call in facts.calls:
            qualname = call.qualname
            if not qualname or not qualname.startswith("torch.optim.") or not is_optimizer_class(qualname):
                continue
            decay_node = keyword(call.node, "weight_decay")
            decay = number(decay_node)
            if decay is None or decay <= 0:
                continue
            params = argument(call.node, "params", 0)
            if (
                isinstance(params, cst.Call)
                and isinstance(params.func, cst.Attribute)
                and params.func.attr.value == "parameters"
            ):
                yield self.report(
                    decay_node,
                    f"weight_decay={facts.code(decay_node)} applies to every parameter of "
                    f"`{facts.code(params.func.value)}`, biases and norm weights included; exempt them with a second "
                    "param group",
                )
