"""What an expression is, as far as the loss rules care: a tensor (through which
activation, with which target meaning), a module (what calling it gives), or a loss.

The value flow (flow.py) computes Values; model heads (heads.py) are Values of kind
"module"; the loss facts (losses.py) hold the Values fed to each loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst


@dataclass(frozen=True)
class Value:
    """What an expression is, as far as the loss rules care.

    kind: "tensor", "module" (calling it gives a tensor described by the same
    fields, or the tuple of its `elements`), "tuple", "loss" (a loss object), or "unknown".
    activation: the last activation the tensor went through ("softmax",
    "log_softmax", "sigmoid", "relu", ...), "" for the raw output of a weight layer
    (logits), None when unknown.
    """

    kind: str = "unknown"
    #: kind "tuple": the Values of its elements (`return realfake, classes`); a module
    #: whose forward returns a tuple holds them too (calling it gives that tuple).
    elements: tuple["Value", ...] | None = None
    activation: str | None = None
    #: The activation the tensor went through just before `activation`
    #: (`F.log_softmax(F.relu(x))`: "relu"), None when none or unknown.
    previous: str | None = None
    out_features: int | str | None = None
    layer: str | None = None
    target: str | None = None  # "index" (class indices), "onehot", or "batch" (from a loop over a loader)
    loss: str | None = None
    constructor: cst.Call | None = field(default=None, compare=False)
    #: Where the activation came from, for messages ("the head of Net (models/net.py)").
    origin: str = field(default="", compare=False)

    @property
    def known(self) -> bool:
        return self.kind != "unknown"


UNKNOWN = Value()


def merge(values: list[Value]) -> Value:
    """One value for several possible definitions: only what they all agree on. Values
    of one kind and activation that differ in the details (`LinearModel` or `AnnModel`,
    both ending in softmax, one with a known output size) keep the kind and activation."""
    if not values:
        return UNKNOWN
    first = values[0]
    if all(v == first for v in values[1:]):
        return first
    if first.kind not in ("tensor", "module") or first.activation is None or first.elements is not None:
        return UNKNOWN
    if any((v.kind, v.activation, v.target, v.loss, v.elements) != (first.kind, first.activation, first.target, first.loss, None) for v in values):
        return UNKNOWN
    return Value(
        kind=first.kind,
        activation=first.activation,
        previous=_agreed(values, "previous"),
        out_features=_agreed(values, "out_features"),
        layer=_agreed(values, "layer"),
        target=first.target,
        origin=first.origin,
    )


def _agreed(values: list[Value], name: str):
    first = getattr(values[0], name)
    return first if all(getattr(v, name) == first for v in values) else None


__all__ = ["UNKNOWN", "Value", "merge"]
