"""The head of a model: its last weight layer, how many outputs, the final activation.

"BCELoss on a 10-class softmax head" needs to know that `VGGSigmoid` ends in
`nn.Linear(256, num_classes), nn.Softmax(dim=1)`. The head is read from the return
path of `forward()` (`return F.softmax(self.fc(x), 1)`, `return self.classifier(x)`
where the classifier is an `nn.Sequential` ending in `nn.Softmax`), or from the
arguments of an `nn.Sequential(...)` built in the training script. A model whose head
cannot be read has an unknown head, and the loss rules say nothing about it.

Heads travel between files in the project index as
`{"final_activation": "softmax" | "none", "out_features": 10, "last_layer": "torch.nn.Linear"}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from trainlint.facts.collect import ClassInfo
from trainlint.facts.flow import UNKNOWN, Flow, Value, merge, weight_layer_out
from trainlint.facts.vocabulary import ACTIVATION_MODULES, CONV, LINEAR, NEUTRAL_MODULES
from trainlint.index import ClassSummary

if TYPE_CHECKING:
    from trainlint.facts.modules import ModuleClass

_NONE = "none"  # the index's word for "no activation after the last weight layer"


def head_of_layer(qualname: str, call: cst.Call | None) -> Value:
    """A torch.nn module as a model: a Linear/Conv gives logits; an activation or a
    dropout is known by its class (the flow applies it to what it is given)."""
    if qualname in ACTIVATION_MODULES or qualname in NEUTRAL_MODULES:
        return Value(kind="module", layer=qualname)
    if qualname in LINEAR or qualname in CONV:
        return Value(
            kind="module",
            activation="",
            out_features=weight_layer_out(qualname, call),
            layer=qualname,
            origin=f"the raw outputs of {_short(qualname)}",
        )
    return Value(kind="module")


def head_of_sequential(flow: Flow, call: cst.Call, depth: int = 0) -> Value:
    """`nn.Sequential(..., nn.Linear(256, 10), nn.Softmax(dim=1))`: read from the end."""
    activation: str | None = None
    origin = ""
    for arg in reversed(call.args):
        if arg.star or arg.keyword is not None or not isinstance(arg.value, cst.Call):
            return Value(kind="module")
        qualname = flow.facts.qualname(arg.value.func) or ""
        if qualname in NEUTRAL_MODULES:
            continue
        if qualname in ACTIVATION_MODULES:
            if activation is None:
                activation = ACTIVATION_MODULES[qualname]
                origin = f"`{flow.facts.code(arg.value.func)}` at the end of an nn.Sequential"
            continue
        if qualname in LINEAR or qualname in CONV:
            return Value(
                kind="module",
                activation=activation if activation is not None else "",
                out_features=weight_layer_out(qualname, arg.value),
                layer=qualname,
                origin=origin,
            )
        if activation is not None:
            # an activation after a block whose own output is unknown (a project module)
            inner = flow.value(arg.value, flow.scope(None), 1 << 30, (), depth + 1)
            return Value(kind="module", activation=activation, out_features=inner.out_features, layer=inner.layer, origin=origin)
        inner = flow.value(arg.value, flow.scope(None), 1 << 30, (), depth + 1)
        return inner if inner.kind == "module" else Value(kind="module")
    return Value(kind="module", activation=activation, origin=origin) if activation else Value(kind="module")


def head_of_class(flow: Flow, cls: ClassInfo, depth: int = 0) -> Value:
    """The module value of a class of this file: what its forward() returns."""
    forward = cls.methods.get("forward")
    if forward is None:
        return Value(kind="module")
    info = next((f for f in flow.facts.collected.functions if f.node is forward), None)
    scope = flow.scope(info)
    if not scope.returns:
        return Value(kind="module")
    outputs = merge([flow.value(expr, scope, order, (), depth + 1) for expr, order in scope.returns])
    if outputs.kind != "tensor" or outputs.activation is None:
        return Value(kind="module")
    where = f" in {flow.facts.path}" if flow.facts.path else ""
    if outputs.activation:
        origin = f"{cls.name}.forward(){where} ends in {outputs.activation}"
    else:
        origin = f"{cls.name}.forward(){where} returns the raw outputs of {_short(outputs.layer)}"
    return Value(
        kind="module",
        activation=outputs.activation,
        out_features=outputs.out_features,
        layer=outputs.layer,
        origin=origin,
    )


def head(module_class: "ModuleClass") -> Value:
    """The head of a module class of this file: a Value of kind "module" whose
    activation ("softmax", "" for raw logits, None when unknown), out_features and
    layer describe what calling the model gives."""
    return module_class.facts.losses.flow.class_head(module_class.info)


def head_facts(module_class: "ModuleClass") -> dict[str, Any]:
    """The head as the project index stores it; {} when it cannot be read."""
    found = head(module_class)
    if found.kind != "module" or found.activation is None:
        return {}
    facts: dict[str, Any] = {"final_activation": found.activation or _NONE}
    if found.out_features is not None:
        facts["out_features"] = found.out_features
    if found.layer:
        facts["last_layer"] = found.layer
    return facts


def head_from_summary(summary: ClassSummary) -> Value:
    """A model class of another file of the project, from the index."""
    activation = summary.facts.get("final_activation")
    if activation is None:
        return Value(kind="module")
    activation = "" if activation == _NONE else activation
    layer = summary.facts.get("last_layer")
    if activation:
        origin = f"{summary.name}.forward() in {summary.path} ends in {activation}"
    else:
        origin = f"{summary.name}.forward() in {summary.path} returns the raw outputs of {_short(layer)}"
    return Value(
        kind="module",
        activation=activation,
        out_features=summary.facts.get("out_features"),
        layer=layer,
        origin=origin,
    )


def _short(qualname: str | None) -> str:
    return "nn." + qualname.rsplit(".", 1)[-1] if qualname else "a weight layer"


__all__ = ["head", "head_of_class", "head_of_layer", "head_of_sequential", "head_facts", "head_from_summary", "UNKNOWN"]
