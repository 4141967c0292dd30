"""Which datasets and DataLoaders of a notebook are only looked at, never fed to a model.

Course notebooks build a dataset to show it: a few samples plotted, one batch taken with
`next(iter(loader))`, its `len()` and `.classes` printed; the datasets that train come
later, with pipelines of their own. Such a dataset serves neither training nor evaluation,
so what the data rules say about training or evaluation data (no shuffling, no
normalization, random crops in evaluation) does not apply to it.

Only a notebook is read this way: it is a whole program (no other file imports it), so
the uses of its names are all in view. A module-level name of a `.py` may be imported and
trained on elsewhere.

A use looks at the object when it
- reads an attribute (`ds.classes`), an item (`ds[0]`), or passes it to `len`, `print`, `next`,
  `iter` inside `next(...)`, a comparison or an f-string;
- is a cell's last expression or a tuple of them (the notebook displays it);
- wraps it in a DataLoader that is itself only looked at, or binds `iter(...)` of it to a
  name only given to `next()`;
- passes it to a function of the notebook that draws (calls matplotlib) and trains nothing.

Any other use (iterated, passed to `train(...)`, a method called on it) may feed a model.
A name bound more than once at module level counts every binding's uses together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.syntax import dotted, method_name
from trainlint.facts.vocabulary import DATALOADER
from trainlint.facts.walk import children, walk

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

# Builtins that read an object without consuming its samples for a model.
_LOOKING_CALLS = frozenset({"len", "print", "repr", "str", "type", "id", "isinstance", "display", "next", "vars", "dir"})
# What a function that trains or evaluates calls; a drawing helper calls none of them.
_TRAINING_METHODS = frozenset({"backward", "step", "zero_grad", "eval", "train"})
_MAX_DEPTH = 4


class Glances:
    """Answers `only_looked_at(call)` for the dataset and loader calls of one notebook."""

    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        #: module-level name -> the values bound to it there
        self.module_values: dict[str, list[cst.BaseExpression]] = {}
        for assign in facts.collected.assigns:
            if assign.function is None and isinstance(assign.node, cst.Assign):
                for target in assign.targets:
                    if isinstance(target, cst.Name):
                        self.module_values.setdefault(target.value, []).append(assign.node.value)
        self.uses = _find_uses(facts.module)
        self._drawing: dict[str, bool] = {}

    def only_looked_at(self, node: cst.CSTNode, depth: int = 0) -> bool:
        """A dataset or loader call whose data never reaches anything but a look."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Call) and self._draws_only(dotted(node.func)):
            return True  # `plot_transformed_images(paths, transform=tf)`: given to a drawing, not a dataset
        names = [name for name, values in self.module_values.items() if any(v is node for v in values)]
        if names:
            return all(self._name_only_looked_at(name, depth) for name in names)
        return self._wrapped_by_looked_at_loader(node, depth)

    def _name_only_looked_at(self, name: str, depth: int) -> bool:
        return all(self._looks(use, depth) for use in self.uses.get(name, ()))

    def _wrapped_by_looked_at_loader(self, node: cst.CSTNode, depth: int) -> bool:
        """`DataLoader(ImageFolder(...))`: the dataset built inline is looked at as its loader is."""
        for call in self.facts.collected.calls:
            if call.qualname == DATALOADER and call.node.args and call.node.args[0].value is node:
                return self.only_looked_at(call.node, depth + 1)
        return False

    def _looks(self, use: "_Use", depth: int) -> bool:
        parent, grand = use.parent, use.grand
        if isinstance(parent, cst.Attribute):
            # `ds.classes`; not `ds.map(...)`, nor `ds.transform = ...`
            return not (isinstance(grand, cst.Call) and grand.func is parent) and not isinstance(grand, cst.AssignTarget)
        if isinstance(parent, cst.Subscript) or isinstance(parent, (cst.FormattedStringExpression, cst.Comparison,
                                                                     cst.ComparisonTarget)):
            return True
        if use.displayed:
            return True
        if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
            return self._passed_to_a_look(grand, use, depth)
        return False

    def _passed_to_a_look(self, call: cst.Call, use: "_Use", depth: int) -> bool:
        callee = dotted(call.func)
        if callee in _LOOKING_CALLS and callee != "iter":
            return True
        if callee == "iter":
            return self._iterator_only_nexted(use, call)
        info = next((c for c in self.facts.collected.calls if c.node is call), None)
        if info is not None and info.qualname == DATALOADER:
            return self.only_looked_at(call, depth + 1)
        return self._draws_only(callee)

    def _iterator_only_nexted(self, use: "_Use", iterator: cst.Call) -> bool:
        """`next(iter(loader))`, or `it = iter(loader)` with `it` only given to `next()`."""
        if isinstance(use.great, cst.Arg) and isinstance(use.greater, cst.Call) and dotted(use.greater.func) == "next":
            return True
        names = [name for name, values in self.module_values.items() if any(v is iterator for v in values)]
        return bool(names) and all(
            isinstance(u.parent, cst.Arg) and isinstance(u.grand, cst.Call) and dotted(u.grand.func) == "next"
            for name in names for u in self.uses.get(name, ())
        )

    def _draws_only(self, callee: str | None) -> bool:
        """A function of the notebook that plots what it is given and trains nothing."""
        if callee is None:
            return False
        known = self._drawing.get(callee)
        if known is not None:
            return known
        functions = [f for f in self.facts.collected.functions if f.name == callee and f.cls is None and f.parent is None]
        draws = bool(functions) and all(self._draws(f.node) for f in functions)
        self._drawing[callee] = draws
        return draws

    def _draws(self, function: cst.FunctionDef) -> bool:
        calls = self.facts.calls_in(function)
        if any(method_name(c.node) in _TRAINING_METHODS or c.qualname == DATALOADER for c in calls):
            return False
        return any((c.qualname or "").startswith("matplotlib.") for c in calls)


class _Use:
    """A read of a name, with the nodes around it (nearest first)."""

    __slots__ = ("parent", "grand", "great", "greater")

    def __init__(self, around: list[cst.CSTNode | None]) -> None:
        self.parent, self.grand, self.great, self.greater = (around + [None, None, None, None])[:4]

    @property
    def displayed(self) -> bool:
        """The name is a statement's whole expression (`train_data`), or an element of a tuple
        that is (`train_data, test_data`): a notebook cell shows it."""
        if isinstance(self.parent, cst.Expr):
            return True
        return isinstance(self.parent, cst.Element) and isinstance(self.grand, cst.Tuple) \
            and isinstance(self.great, cst.Expr)


def _find_uses(module: cst.Module) -> dict[str, list[_Use]]:
    """Every read of a name, by name. Names a function binds for itself (its parameters,
    its assignments, its loop targets) are another variable there and are left out, and so
    are the names an assignment binds."""
    uses: dict[str, list[_Use]] = {}
    stack: list[cst.CSTNode] = []

    # Exact types, not isinstance: LibCST's node classes are ABCs, whose isinstance check cost
    # more than the rest of this walk (these classes have no subclasses).
    def go(node: cst.CSTNode, local: frozenset[str], targets: frozenset[int]) -> None:
        kind = type(node)
        if kind is cst.Name:
            if id(node) not in targets and node.value not in local:
                uses.setdefault(node.value, []).append(_Use(stack[:-5:-1]))
            return
        if kind is cst.Import or kind is cst.ImportFrom:
            return
        if kind is cst.Attribute:
            inside: list[cst.CSTNode] = [node.value]  # `x.classes` reads `x`, not a name `classes`
        elif kind is cst.Arg:
            inside = [node.value]  # `f(dataset=x)`: the keyword is no name
        elif kind is cst.Param:
            inside = [node.default] if node.default is not None else []
        elif kind is cst.FunctionDef or kind is cst.ClassDef:
            inside = [child for child in children(node) if child is not node.name]
        else:
            inside = children(node)
        if kind is cst.FunctionDef:
            local = local | _bound_in(node)
        elif kind is cst.AssignTarget or kind is cst.For:
            targets = targets | {id(n) for n in _names_of(node.target)}
        stack.append(node)
        for child in inside:
            go(child, local, targets)
        stack.pop()

    go(module, frozenset(), frozenset())
    return uses


def _bound_in(function: cst.FunctionDef) -> set[str]:
    bound = {p.name.value for p in _params(function.params)}
    finder = _Targets()
    walk(function.body, finder)
    return bound | finder.names


def _params(params: cst.Parameters) -> list[cst.Param]:
    out = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.append(star)
    return out


class _Targets(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.names.update(n.value for n in _names_of(node.target))

    def visit_For(self, node: cst.For) -> None:
        self.names.update(n.value for n in _names_of(node.target))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False


def _names_of(target: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _names_of(e.value)]
    return []
