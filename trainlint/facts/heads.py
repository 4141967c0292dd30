"""The head of a model: its last weight layer, how many outputs, the final activation.

"BCELoss on a 10-class softmax head" needs to know that `VGGSigmoid` ends in
`nn.Linear(256, num_classes), nn.Softmax(dim=1)`. The head is read from the return
path of `forward()` (`return F.softmax(self.fc(x), 1)`, `return self.classifier(x)`
where the classifier is an `nn.Sequential` ending in `nn.Softmax`), or from the
arguments of an `nn.Sequential(...)` built in the training script. A model whose head
cannot be read has an unknown head, and the loss rules say nothing about it.

The value flow (flow.py: `ValueFlow.class_head`) reads the heads of this file's classes
and Sequentials; this module holds what needs no flow: the head of a torch layer, and
heads as the project index carries them.

Heads travel between files in the project index as
`{"final_activation": "softmax" | "none", "out_features": 10, "last_layer": "torch.nn.Linear"}`
(and "previous_activation": "relu" when another activation comes just before the final one);
a forward that returns a tuple as `{"outputs": [<one such dict per element>, ...]}`.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from trainlint.facts.syntax import argument, integer_or_name
from trainlint.facts.values import Value
from trainlint.facts.vocabulary import ACTIVATION_MODULES, CONV, LINEAR, NEUTRAL_MODULES
from trainlint.index import ClassSummary

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
            origin=f"the raw outputs of {short_layer_name(qualname)}",
        )
    return Value(kind="module")


def head_facts(found: Value) -> dict[str, Any]:
    """A module class's head (a Value of kind "module") as the project index stores it;
    {} when it cannot be read."""
    if found.kind == "module" and found.elements is not None:  # a forward that returns a tuple
        return {"outputs": [_tensor_facts(element) for element in found.elements]}
    if found.kind != "module" or found.activation is None:
        return {}
    return _tensor_facts(found)


def _tensor_facts(found: Value) -> dict[str, Any]:
    if found.activation is None:
        return {}
    facts: dict[str, Any] = {"final_activation": found.activation or _NONE}
    if found.previous:
        facts["previous_activation"] = found.previous
    if found.out_features is not None:
        facts["out_features"] = found.out_features
    if found.layer:
        facts["last_layer"] = found.layer
    return facts


def head_from_summary(summary: ClassSummary) -> Value:
    """A model class of another file of the project, from the index."""
    outputs = summary.facts.get("outputs")
    if isinstance(outputs, list):
        elements = tuple(
            _from_facts(facts, summary, f"output {i} of ", "tensor") if isinstance(facts, dict) else Value()
            for i, facts in enumerate(outputs)
        )
        return Value(kind="module", elements=elements)
    return _from_facts(summary.facts, summary, "", "module")


def _from_facts(facts: dict[str, Any], summary: ClassSummary, which: str, kind: str) -> Value:
    activation = facts.get("final_activation")
    if activation is None:
        return Value(kind="module") if kind == "module" else Value()
    activation = "" if activation == _NONE else activation
    layer = facts.get("last_layer")
    if activation:
        origin = f"{which}{summary.name}.forward() in {summary.path} ends in {activation}"
    else:
        origin = f"{which}{summary.name}.forward() in {summary.path} returns the raw outputs of {short_layer_name(layer)}"
    return Value(
        kind=kind,
        activation=activation,
        previous=facts.get("previous_activation"),
        out_features=facts.get("out_features"),
        layer=layer,
        origin=origin,
    )


def short_layer_name(qualname: str | None) -> str:
    return "nn." + qualname.rsplit(".", 1)[-1] if qualname else "a weight layer"


def weight_layer_out(qualname: str, call: cst.Call | None) -> int | str | None:
    if call is None:
        return None
    if qualname in LINEAR:
        if qualname == "torch.nn.LazyLinear":
            return integer_or_name(argument(call, "out_features", 0))
        if qualname == "torch.nn.Bilinear":
            return integer_or_name(argument(call, "out_features", 2))
        return integer_or_name(argument(call, "out_features", 1))
    if qualname in CONV:
        if qualname.startswith("torch.nn.Lazy"):
            return integer_or_name(argument(call, "out_channels", 0))
        return integer_or_name(argument(call, "out_channels", 1))
    return None


__all__ = ["head_facts", "head_from_summary", "head_of_layer", "short_layer_name", "weight_layer_out"]
