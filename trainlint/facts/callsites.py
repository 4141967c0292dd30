"""Calls across files: what one file passes to a function another file of the project defines.

`engine.py` defines `def train_one_epoch(model, loader, optimizer, criterion)`; `main.py`
does `model = Net()` (Net from models.py) and calls `train_one_epoch(model, ...)`. The
caller's side (`call_sites`) reads, from the calling file alone, what each such call
passes: the classes an argument may hold as the caller's imports name them. The project
run puts those into the index; the callee's side (`passed_classes`) asks the index for
the calls of its function (a recorded question, so a changed caller re-checks it) and
resolves each class near its caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.modes import is_parallel_wrapper
from trainlint.facts.syntax import dotted
from trainlint.index import LIBRARIES, CallSite

if TYPE_CHECKING:
    from trainlint.facts import FileFacts
    from trainlint.facts.collect import FunctionInfo

# `Net().to(device)` is still a Net
_MOVES = frozenset({"to", "cuda", "cpu", "half", "float", "double"})
# Not the project's code: calls into these are never another file's training helper. (Not
# all of the standard library: a project's own test.py or trace.py shadows it.)
_NOT_PROJECT = LIBRARIES | frozenset({
    "numpy", "np", "scipy", "pandas", "matplotlib", "PIL", "cv2", "tqdm", "wandb", "tensorboardX", "yaml", "einops",
    "os", "sys", "json", "time", "math", "random", "re", "logging", "shutil", "pickle", "argparse", "collections",
    "itertools", "functools", "subprocess", "glob", "copy", "datetime", "warnings", "pathlib", "typing",
})


def call_sites(facts: "FileFacts") -> tuple[CallSite, ...]:
    """The file's calls of functions it imports from the project (`train(model, loader)`
    with `from engine import train`, `engine.train(...)` with `import engine`), each with
    the classes its arguments may hold."""
    sites = []
    constructed: dict[str, list[str]] | None = None
    names = facts.names
    for call in facts.collected.calls:
        node = call.node
        if not node.args:
            continue
        head = node.func
        while isinstance(head, cst.Attribute):
            head = head.value
        if not isinstance(head, cst.Name) or not names.is_imported(head.value):
            continue  # a name of this file (`self.fc(x)`, `model.parameters()`), not an import
        if names.resolve_dotted(head.value).partition(".")[0] in _NOT_PROJECT:
            continue  # torch.*, nn.*, F.*, np.*: decided from the import alone
        qualname = call.qualname or ""
        module, _, function = qualname.rpartition(".")
        if not module or function[:1].isupper():
            continue  # a class (its constructor)
        if constructed is None:
            constructed = _constructed(facts)
        positional, keywords, starred = [], [], False
        for arg in node.args:
            if arg.star:
                starred = True
            elif arg.keyword is not None:
                keywords.append((arg.keyword.value, _classes(facts, arg.value, constructed)))
            elif not starred:
                positional.append(_classes(facts, arg.value, constructed))
        sites.append(CallSite(facts.path, facts.module_name, qualname, tuple(positional), tuple(keywords), starred))
    return tuple(sites)


def _constructed(facts: "FileFacts") -> dict[str, list[str]]:
    """Name -> the classes the file constructs into it (`model = Net().to(device)`), in order;
    names are typed by spelling across the file, as the loop facts type them."""
    found: dict[str, list[str]] = {}
    for assign in facts.collected.assigns:
        qualname = _constructor(facts, assign.node.value) if not isinstance(assign.node, cst.AugAssign) else None
        if qualname is None:
            continue
        for target in assign.targets:
            name = dotted(target)
            if name is not None and qualname not in found.setdefault(name, []):
                found[name].append(qualname)
    return found


def _constructor(facts: "FileFacts", value: cst.BaseExpression | None) -> str | None:
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and isinstance(value.func.value, cst.Call) and value.func.attr.value in _MOVES:
        value = value.func.value
    if not isinstance(value, cst.Call):
        return None
    qualname = facts.qualname(value.func)
    return qualname if qualname and not is_parallel_wrapper(qualname) else None


def _classes(facts: "FileFacts", value: cst.BaseExpression, constructed: dict[str, list[str]]) -> tuple[str, ...] | None:
    qualname = _constructor(facts, value)
    if qualname is not None:
        return (qualname,)
    name = dotted(value)
    classes = constructed.get(name) if name is not None else None
    return tuple(classes) if classes else None


def passed_classes(facts: "FileFacts", info: "FunctionInfo", name: str, position: int) -> list[str | None]:
    """For a top-level function of this file, one entry per call of it in the other files of
    the project: the project class its parameter `name` (at `position`) receives there
    (its qualified name, as this file's facts resolve it), or None where that is not one
    known class. Empty: no other file calls it."""
    if info.cls is not None or info.parent is not None or not facts.module_name:
        return []
    index = facts.index
    found: list[str | None] = []
    for site in index.callers(facts.module_name, info.name, path=facts.path):
        passed = site.passed(name, position)
        classes = set()
        for qualname in passed or ():
            summary = index.lookup(qualname, near=site.path)
            if summary is not None and index.is_module_class(qualname, near=site.path):
                classes.add(f"{summary.module}.{summary.name}" if summary.module else summary.name)
        found.append(classes.pop() if len(classes) == 1 else None)
    return found
