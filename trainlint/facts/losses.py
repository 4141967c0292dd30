"""The losses a file computes, and what was fed to them.

Each use of a loss, as a loss object (`criterion = nn.CrossEntropyLoss(...)` then
`criterion(out, y)`, also `self.criterion`) or as a function (`F.cross_entropy(out, y)`),
with the Values (see values.py, flow.py) of its input and target: which model's output, through
which activation, whether the target holds class indices or one-hot rows.

    for use in facts.losses.uses:
        if use.kind == "bce" and use.input.activation == "softmax": ...
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import FunctionInfo
from trainlint.facts.flow import ValueFlow
from trainlint.facts.values import Value
from trainlint.facts.syntax import argument, keyword
from trainlint.facts.vocabulary import LOSS_CLASS_KINDS, LOSS_FUNCTION_KINDS, LOSS_NAMES

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

@dataclass(eq=False)
class LossUse:
    kind: str  # "cross_entropy", "bce", "bce_logits", "nll", "mse"
    call: cst.Call  # the call that computes the loss
    input: Value
    target: Value
    function: FunctionInfo | None
    #: The call that holds the loss's options: the loss object's constructor, or the functional call.
    options: cst.Call | None
    #: How the code spells the loss (`criterion`, `F.cross_entropy`, `self.loss_fn`).
    spelled: str
    input_code: str

    #: Whether the target's name is also handed to another call of the same function
    #: (`recon = model(images); mse(recon, images)`: the data are their own target).
    target_is_input: bool = False

    def option(self, name: str) -> cst.BaseExpression | None:
        return None if self.options is None else keyword(self.options, name)

    @property
    def loss_name(self) -> str:
        return LOSS_NAMES[self.kind]

    @property
    def fed(self) -> str:
        """The start of a message: "CrossEntropyLoss (`criterion`) is fed `probs`"."""
        return f"{self.loss_name} (`{self.spelled}`) is fed `{self.input_code}`"


class LossFacts:
    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        self.flow = ValueFlow(facts)

    def head(self, cls) -> Value:
        """The module value of a class of this file (see heads.py)."""
        return self.flow.class_head(cls)

    @cached_property
    def uses(self) -> list[LossUse]:
        """Every loss computed in the file, in source order."""
        calls = self.facts.collected.calls
        if not any(c.qualname in LOSS_CLASS_KINDS or c.qualname in LOSS_FUNCTION_KINDS for c in calls):
            return []
        uses = []
        for call in calls:
            node = call.node
            kind = LOSS_FUNCTION_KINDS.get(call.qualname or "")
            options: cst.Call | None = node
            scope, order, path = self.flow.scope_of_call(call)
            if kind is None:
                if not node.args or not isinstance(node.func, (cst.Name, cst.Attribute, cst.Call)):
                    continue
                callee = self.flow.value(node.func, scope, order, path)
                if callee.kind != "loss":
                    continue
                kind, options = callee.loss, callee.constructor
            first = argument(node, "input", 0)
            uses.append(
                LossUse(
                    kind=kind,
                    call=node,
                    input=self.flow.value(first, scope, order, path),
                    target=self.flow.value(argument(node, "target", 1), scope, order, path),
                    function=call.function,
                    options=options,
                    spelled=self.facts.code(node.func),
                    input_code=self.facts.code(first) if first is not None else "",
                    target_is_input=self._passed_elsewhere(argument(node, "target", 1), call),
                )
            )
        return uses

    def _passed_elsewhere(self, target: cst.BaseExpression | None, loss_call) -> bool:
        """Whether the target's root name is an argument of another call in the loss's function."""
        name = _root_name(target)
        if name is None:
            return False
        return any(
            _root_name(arg.value) == name
            for call in self.facts.collected.calls
            if call is not loss_call and call.function is loss_call.function
            for arg in call.node.args
        )


def _root_name(expr: cst.BaseExpression | None) -> str | None:
    """`labels` of `labels`, `labels[:, 0]`, `labels.float()`, `batch.y.to(device)`."""
    while True:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            expr = expr.func.value
        elif isinstance(expr, (cst.Attribute, cst.Subscript)):
            expr = expr.value
        else:
            return expr.value if isinstance(expr, cst.Name) else None


__all__ = ["LossFacts", "LossUse"]
