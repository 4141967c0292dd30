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
from trainlint.facts.vocabulary import BATCH_NORM, PARALLEL_WRAPPER_NAMES, WITH_PARAMETERS

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

_MODE_DEPENDENT = re.compile(r"dropout|batchnorm|batch_norm|self\.training|\.train\(|drop_path|droppath|stochastic", re.I)


def behaves_differently_in_eval(facts: "FileFacts", model: str | None) -> bool:
    """Whether train()/eval() changes what the model computes (dropout, BatchNorm).

    Only a model whose class is written in this file, with no such layer and no layer
    of an unknown class, is known not to care; anything else may.
    """
    if not model:
        return True
    qualname = facts.loops.model_types.get(model.split(".module", 1)[0])
    if qualname is None:
        return True
    if qualname.startswith("torch.nn."):
        # a bare layer (`model = nn.Linear(1, 1)`) computes the same in both modes
        return not (qualname in WITH_PARAMETERS and qualname not in BATCH_NORM)
    return _class_mode_dependent(facts, qualname, set())


def is_parallel_wrapper(qualname: str) -> bool:
    return last_name(qualname) in PARALLEL_WRAPPER_NAMES


def class_behaves_differently_in_eval(facts: "FileFacts", class_name: str) -> bool:
    """For the project index (ClassSummary.facts["mode_dependent"]): a class of this file."""
    return _class_mode_dependent(facts, class_name, set())


def _class_mode_dependent(facts: "FileFacts", qualname: str, seen: set[str]) -> bool:
    local = facts.local_module_classes.get(qualname.rsplit(".", 1)[-1])
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
