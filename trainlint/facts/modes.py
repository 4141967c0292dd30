"""Whether train()/eval() changes what a model computes: dropout, BatchNorm, code that
reads `self.training`.

Only a model whose class is known not to have them is known not to care; anything else
may. Classes of other files are asked through the project index
(`ClassSummary.facts["mode_dependent"]`, which `class_behaves_differently_in_eval` computes).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.syntax import dotted, last_name
from trainlint.facts.vocabulary import ATTENTION, BATCH_NORM, PARALLEL_WRAPPER_NAMES, SEQUENTIAL, WITH_PARAMETERS
from trainlint.facts.walk import children

if TYPE_CHECKING:
    from trainlint.facts import FileFacts, ModuleClass

# `model = nn.Sequential(...).to(device)`: calls that return the same module
_MOVES = frozenset({"to", "cuda", "cpu", "half", "float", "double"})
_MODE_DEPENDENT = re.compile(r"dropout|batchnorm|batch_norm|self\.training|\.train\(|drop_path|droppath|stochastic", re.I)


def behaves_differently_in_eval(facts: "FileFacts", model: str | None, at: cst.CSTNode | None = None) -> bool:
    """Whether train()/eval() changes what the model computes (dropout, BatchNorm).

    Only a model whose class is written in this file, with no such layer and no layer
    of an unknown class, is known not to care; anything else may. `at` is where the model
    runs: a class written twice (a notebook's later cell redefines it) is read as defined
    above that statement.
    """
    if not model:
        return True
    name = model.split(".module", 1)[0]
    qualname = facts.loops.model_types.get(name)
    if qualname is None:
        return True
    if qualname == SEQUENTIAL:
        return _sequential_mode_dependent(facts, name)
    if qualname.startswith("torch.nn."):
        # a bare layer (`model = nn.Linear(1, 1)`) computes the same in both modes
        return not (qualname in WITH_PARAMETERS and qualname not in BATCH_NORM)
    return _class_mode_dependent(facts, qualname, set(), at)


def is_parallel_wrapper(qualname: str) -> bool:
    return last_name(qualname) in PARALLEL_WRAPPER_NAMES


def class_behaves_differently_in_eval(facts: "FileFacts", class_name: str) -> bool:
    """For the project index (ClassSummary.facts["mode_dependent"]): a class of this file."""
    return _class_mode_dependent(facts, class_name, set())


def _definition_above(facts: "FileFacts", name: str, at: cst.CSTNode | None) -> "ModuleClass | None":
    """The module class `name` means at the top-level statement holding `at`: the last
    definition above it. Without `at`, or inside a function (it runs later, when any
    definition may hold), the file's last definition."""
    latest = facts.local_module_classes.get(name)
    defined = [mc for mc in facts.module_classes if mc.name == name and mc.info.outer is None]
    if at is None or len(defined) < 2:
        return latest
    body = list(facts.module.body)
    statement = next((i for i, top in enumerate(body) if _holds(top, at)), None)
    if statement is None or isinstance(body[statement], (cst.FunctionDef, cst.ClassDef)):
        return latest
    above = [mc for mc in defined if any(mc.node is top for top in body[:statement])]
    return above[-1] if above else latest


def _holds(node: cst.CSTNode, inner: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if item is inner:
            return True
        stack.extend(children(item))
    return False


def _sequential_mode_dependent(facts: "FileFacts", name: str) -> bool:
    """`model = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 1))`: known not to
    care when every `nn.Sequential` bound to the name holds only layers that compute the
    same in both modes (no dropout, BatchNorm, attention with its default dropout, nor a
    layer that cannot be read)."""
    built = []
    for assign in facts.collected.assigns:
        if any(dotted(t) == name for t in assign.targets):
            value = _constructor(assign.node.value)
            if value is None or facts.qualname(value.func) != SEQUENTIAL:
                return True
            built.append(value)
    return not built or any(_layers_mode_dependent(facts, call) for call in built)


def _constructor(value: cst.BaseExpression | None) -> cst.Call | None:
    """`nn.Sequential(...).to(device)` -> the Sequential call."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and isinstance(value.func.value, cst.Call) and value.func.attr.value in _MOVES:
        value = value.func.value
    return value if isinstance(value, cst.Call) else None


def _layers_mode_dependent(facts: "FileFacts", sequential: cst.Call) -> bool:
    if _MODE_DEPENDENT.search(facts.code(sequential)):
        return True
    for arg in sequential.args:
        if arg.star or arg.keyword is not None:
            return True
        branches = [arg.value.body, arg.value.orelse] if isinstance(arg.value, cst.IfExp) else [arg.value]
        for layer in branches:
            if not isinstance(layer, cst.Call):
                return True  # a layer built elsewhere: it may be anything
            callee = facts.qualname(layer.func)
            if callee == SEQUENTIAL:
                if _layers_mode_dependent(facts, layer):
                    return True
            elif not callee or callee in ATTENTION or not callee.startswith("torch.nn.") \
                    or not facts.is_module_class(callee):
                return True  # attention layers drop out by default; the project's own layers are not read here
    return False


def _class_mode_dependent(facts: "FileFacts", qualname: str, seen: set[str], at: cst.CSTNode | None = None) -> bool:
    local = _definition_above(facts, qualname.rsplit(".", 1)[-1], at)
    if local is None or not facts.local_class(qualname):
        summary = facts.index.lookup(qualname, near=facts.path)
        if summary is not None and summary.facts.get("mode_dependent") is False:
            return False
        return True
    if qualname in seen:
        return False
    seen.add(qualname)
    if _MODE_DEPENDENT.search(facts.class_text(local.node)):
        return True
    for function in local.init_functions:
        for assign in facts.assigns_in(function):
            value = assign.node.value
            if not isinstance(value, cst.Call) or not any(
                dotted(t.target) and dotted(t.target).startswith("self.") for t in getattr(assign.node, "targets", ())
            ):
                continue
            callee = facts.qualname(value.func)
            if callee and callee.startswith("torch."):
                continue  # torch's own layers were matched by name above; tensors do not care
            if not callee or not facts.is_module_class(callee) or _class_mode_dependent(facts, callee, seen):
                return True  # torchvision.models.resnet18(), make_layers(...): may hold BatchNorm
    return False


__all__ = ["behaves_differently_in_eval", "class_behaves_differently_in_eval", "is_parallel_wrapper"]
