"""The project's own data classes, as the data facts need them: Datasets that read image
files (a pipeline given to one transforms images), and transform classes whose
`__call__` can be read (a pipeline holding one is still known not to normalize).

Both are asked about across files (`from utils.preprocess import PlacesDataset,
RandomNoise`), so each file also summarizes its own for the project index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import ClassInfo, Collected
from trainlint.facts.syntax import dotted, method_name, number
from trainlint.facts.vocabulary import IMAGE_READERS, NORMALIZE_FUNCTIONS, NORMALIZING
from trainlint.index import ClassSummary
from trainlint.facts.walk import walk

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

OPENS_IMAGES = "opens_images"
#: True: the transform may normalize (or cannot be read); False: read, and it does not.
MAY_NORMALIZE = "may_normalize"

# Arithmetic that standardizes or rescales: `(x - m) / s`, `x / 255`, `x * 2 - 1`.
_SCALING = (cst.Subtract, cst.Divide, cst.FloorDivide, cst.Multiply, cst.SubtractAssign, cst.DivideAssign,
            cst.MultiplyAssign)
_SCALING_METHODS = frozenset({"sub", "sub_", "div", "div_", "mul", "mul_", "true_divide", "standardize", "whiten"})


def opens_images(facts: "FileFacts", info: ClassInfo) -> bool:
    """A class some method of which reads an image file (`Image.open`, `cv2.imread`, ...)."""
    return any(
        call.qualname in IMAGE_READERS for method in info.methods.values() for call in facts.calls_in(method)
    )


def feeds_raw_pixels(facts: "FileFacts", info: ClassInfo) -> cst.Call | None:
    """A Dataset that reads image files and turns them into float tensors itself, with no
    transform and no arithmetic that rescales them anywhere in the class: its items are
    pixels in 0..255 (`torch.from_numpy(np.transpose(img, (2, 0, 1))).float()`). The
    conversion call, or None."""
    getitem = info.methods.get("__getitem__")
    if getitem is None or not opens_images(facts, info):
        return None
    finder = _ScalingFinder(set())
    walk(info.node.body, finder)
    if finder.found:
        return None
    conversion = None
    for method in info.methods.values():
        for call in facts.calls_in(method):
            callee = dotted(call.node.func) or ""
            if "transform" in callee.lower() or callee.startswith("self.") and callee.count(".") == 1 \
                    and callee.removeprefix("self.") not in info.methods:
                return None  # a transform stored on self (or a callable attribute) is applied
            if (call.qualname or "").startswith("torchvision.transforms"):
                return None  # TF.to_tensor scales
            if method_name(call.node) == "float" or (call.qualname or "") in ("torch.FloatTensor",):
                conversion = conversion or call.node
    return conversion


def rescales_pixels(collected: Collected) -> bool:
    """`x / 255`, `x.div(255.0)`, `x /= 255`: pixels scaled somewhere in the file."""
    if any(isinstance(node.operator, cst.Divide) and _at_least_100(node.right) for node in collected.binary_operations):
        return True
    if any(isinstance(a.node, cst.AugAssign) and isinstance(a.node.operator, cst.DivideAssign) and _at_least_100(a.node.value)
           for a in collected.assigns):
        return True
    return any(method_name(c.node) in ("div", "div_", "true_divide") and bool(c.node.args) and _at_least_100(c.node.args[0].value)
               for c in collected.calls)


def transform_may_normalize(facts: "FileFacts", info: ClassInfo) -> bool | None:
    """For a plain class with `__call__` (a transform): whether it may normalize or rescale
    its input; None when the class is no transform."""
    call = info.methods.get("__call__")
    if call is None or facts.is_module_class(info.name):
        return None
    finder = _ScalingFinder(set(info.methods) - {"__call__", "__init__"})
    walk(call.body, finder)
    if finder.found:
        return True
    for c in facts.calls_in(call):
        if c.qualname in NORMALIZE_FUNCTIONS or c.qualname in NORMALIZING:
            return True
    return False


def data_class_summaries(facts: "FileFacts") -> list[ClassSummary]:
    """The file's image-reading Datasets and readable transform classes, for the project index."""
    out = []
    for info in facts.classes:
        if info.outer is not None:
            continue
        found: dict[str, bool] = {}
        if opens_images(facts, info):
            found[OPENS_IMAGES] = True
        may_normalize = transform_may_normalize(facts, info)
        if may_normalize is not None:
            found[MAY_NORMALIZE] = may_normalize
        if found:
            out.append(ClassSummary(info.name, facts.path, facts.module_name, info.base_names, found))
    return out


def project_class_fact(facts: "FileFacts", qualname: str | None, fact: str) -> bool | None:
    """A fact above about a class of this file or of the project; None when unknown."""
    if not qualname:
        return None
    local = facts.local_class(qualname)
    if local is not None:
        if fact == OPENS_IMAGES:
            return opens_images(facts, local)
        return transform_may_normalize(facts, local)
    summary = facts.index.lookup(qualname, near=facts.path)
    return summary.facts.get(fact) if summary is not None else None


def _at_least_100(expr: cst.BaseExpression) -> bool:
    value = number(expr)
    return value is not None and value >= 100


class _ScalingFinder(cst.CSTVisitor):
    def __init__(self, helpers: set[str]) -> None:
        self.helpers = helpers  # the class's other methods: what they do is not read here
        self.found = False

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self.found |= isinstance(node.operator, _SCALING)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.found |= isinstance(node.operator, _SCALING)

    def visit_Call(self, node: cst.Call) -> None:
        method = method_name(node) or ""
        callee = dotted(node.func) or ""
        self.found |= (
            method in _SCALING_METHODS
            or callee.rsplit(".", 1)[-1].lower().startswith(("normaliz", "normalis", "standardiz"))
            or (callee.startswith("self.") and callee.removeprefix("self.") in self.helpers)
        )


__all__ = [
    "MAY_NORMALIZE", "OPENS_IMAGES", "data_class_summaries", "feeds_raw_pixels", "opens_images", "project_class_fact", "rescales_pixels",
    "transform_may_normalize",
]
