from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, argument, number
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Replacement, Report, Rule


class AdamWithWeightDecay(Rule):
    """
    ## What it does
    Finds `torch.optim.Adam(..., weight_decay=...)` with a positive weight decay.

    ## Why is this bad?
    Adam's `weight_decay` is an L2 term added to the gradient, which then goes through
    the adaptive normalization: weights with large gradients are barely decayed, rarely
    updated ones are decayed hard, and the regularization does not do what the value
    says. `AdamW` applies the decay to the weights directly, decoupled from the
    gradient, which generalizes better and is what most recipes mean (seed 003 §7).

    ## How to fix
    Use `torch.optim.AdamW` and retune the decay (AdamW's usual values are 0.01–0.1).

    ## Fix safety
    Unsafe: the same number means a different amount of decay in AdamW, so the
    training changes; the fix only renames `...Adam` to `...AdamW` in `torch.optim.Adam`
    / `optim.Adam` spellings.
    """

    code = "TL412"
    name = "adam-with-weight-decay"
    severity = Severity.INFO
    summary = "Adam with weight_decay > 0: L2 coupled with the adaptive step; AdamW decouples it"
    seeds = ("003 §7",)
    default_enabled = False
    fix_applicability = Applicability.UNSAFE

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
            """,
            3,
            fixed="""
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
            """,
        ),
        Bad(
            """
            from torch.optim import Adam

            opt = Adam(net.parameters(), 3e-4, (0.9, 0.999), 1e-8, 5e-4)
            """,
            3,
        ),
    ]
    good = [
        Good(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
            """
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for call in facts.calls:
            if call.qualname != "torch.optim.Adam":
                continue
            decay_node = argument(call.node, "weight_decay", 4)
            decay = number(decay_node)
            if decay is None or decay <= 0:
                continue
            func = call.node.func
            fix = None
            if isinstance(func, cst.Attribute):
                fix = self.fix("Use AdamW", Replacement(func.attr, "AdamW"))
            yield self.report(
                call.node,
                f"Adam with weight_decay={facts.code(decay_node)} couples L2 with the adaptive step; AdamW decouples "
                "the decay",
                fix=fix,
                first_line_only=True,
            )
