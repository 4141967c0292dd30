"""The engine's single traversal: everything facts are later built from.

One pass records imports, classes, functions, calls, assignments and loops, each
with its enclosing function, class and loop stack. Fact builders then work on these
lists and on the few subtrees they care about, never on the whole module again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import libcst as cst

from trainlint.facts.syntax import constant_truth, dotted
from trainlint.facts.walk import walk
from trainlint.names import CONVENTIONAL_IMPORTS, ImportTable

LoopNode = cst.For | cst.While


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    names: ImportTable = field(repr=False)
    outer: "FunctionInfo | None"
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)

    @cached_property
    def base_names(self) -> tuple[str, ...]:
        """Qualified names of the bases, as far as they resolve."""
        return tuple(q for q in (self.names.qualname(arg.value) for arg in self.node.bases) if q)


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef
    name: str
    cls: ClassInfo | None  # set when the function is a method
    parent: "FunctionInfo | None"

    @property
    def qualname(self) -> str:
        prefix = self.cls.name + "." if self.cls else (self.parent.qualname + "." if self.parent else "")
        return prefix + self.name


@dataclass(eq=False)
class CallInfo:
    node: cst.Call
    names: ImportTable = field(repr=False)
    function: FunctionInfo | None
    loops: tuple[LoopNode, ...]  # enclosing loops inside the same function, outermost first

    @cached_property
    def qualname(self) -> str | None:
        """What the callee resolves to through the file's imports (all of them, wherever they are)."""
        return self.names.qualname(self.node.func)


@dataclass(eq=False)
class AssignInfo:
    node: cst.Assign | cst.AnnAssign | cst.AugAssign
    function: FunctionInfo | None
    loops: tuple[LoopNode, ...]

    @property
    def targets(self) -> list[cst.BaseExpression]:
        """What `=` binds (`a = b = v` binds two); empty for `+=` and the like."""
        if isinstance(self.node, cst.Assign):
            return [t.target for t in self.node.targets]
        if isinstance(self.node, cst.AnnAssign):
            return [self.node.target]
        return []


@dataclass(eq=False)
class LoopInfo:
    node: LoopNode
    function: FunctionInfo | None
    parents: tuple[LoopNode, ...]


@dataclass
class Collected:
    names: ImportTable
    classes: list[ClassInfo] = field(default_factory=list)
    functions: list[FunctionInfo] = field(default_factory=list)
    calls: list[CallInfo] = field(default_factory=list)
    assigns: list[AssignInfo] = field(default_factory=list)
    loops: list[LoopInfo] = field(default_factory=list)
    #: every `a <op> b` of the file: hand-written normalization and pixel scaling are read
    #: from this list, not from another walk of the whole tree
    binary_operations: list[cst.BinaryOperation] = field(default_factory=list)
    #: how often each identifier appears, as a name or as an attribute's name
    identifier_counts: dict[str, int] = field(default_factory=dict)


class _Collector(cst.CSTVisitor):
    def __init__(self, names: ImportTable) -> None:
        self.out = Collected(names=names)
        self._scopes: list[ClassInfo | FunctionInfo] = []
        # one loop stack per function, so a nested def starts afresh
        self._loops: list[list[LoopNode]] = [[]]

    def _current_function(self) -> FunctionInfo | None:
        for scope in reversed(self._scopes):
            if isinstance(scope, FunctionInfo):
                return scope
        return None

    # imports -----------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> bool:
        self.out.names.add_import(node)
        walk(node, _NameCounter(self.out.identifier_counts))
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        self.out.names.add_import_from(node)
        walk(node, _NameCounter(self.out.identifier_counts))
        return False

    # scopes ------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = ClassInfo(node=node, name=node.name.value, names=self.out.names, outer=self._current_function())
        self._scopes.append(info)
        self.out.classes.append(info)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        cls = self._scopes[-1] if self._scopes and isinstance(self._scopes[-1], ClassInfo) else None
        info = FunctionInfo(node=node, name=node.name.value, cls=cls, parent=self._current_function())
        if cls is not None:
            cls.methods.setdefault(info.name, node)
        self._scopes.append(info)
        self.out.functions.append(info)
        self._loops.append([])

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._scopes.pop()
        self._loops.pop()

    # loops -------------------------------------------------------------------
    def visit_For(self, node: cst.For) -> None:
        self.out.loops.append(LoopInfo(node, self._current_function(), tuple(self._loops[-1])))
        self._loops[-1].append(node)

    def leave_For(self, original_node: cst.For) -> None:
        self._loops[-1].pop()

    def visit_While(self, node: cst.While) -> None:
        self.out.loops.append(LoopInfo(node, self._current_function(), tuple(self._loops[-1])))
        self._loops[-1].append(node)

    def leave_While(self, original_node: cst.While) -> None:
        self._loops[-1].pop()

    # branches ----------------------------------------------------------------
    def visit_If(self, node: cst.If) -> bool:
        """`if 0:` / `if False:` switches code off, `if 1:` keeps its body and drops its
        `else`: only the branch that runs is collected, so nothing in dead code is
        reported or counted as evidence."""
        live = constant_truth(node.test)
        if live is None:
            return True
        branch = node.body if live else node.orelse
        if branch is not None:
            walk(branch, self)
        return False

    # events ------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self.out.calls.append(
            CallInfo(node, self.out.names, self._current_function(), tuple(self._loops[-1]))
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        self.out.assigns.append(AssignInfo(node, self._current_function(), tuple(self._loops[-1])))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.out.assigns.append(AssignInfo(node, self._current_function(), tuple(self._loops[-1])))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.out.assigns.append(AssignInfo(node, self._current_function(), tuple(self._loops[-1])))

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self.out.binary_operations.append(node)

    def visit_Name(self, node: cst.Name) -> None:  # an attribute's name is a Name too
        counts = self.out.identifier_counts
        counts[node.value] = counts.get(node.value, 0) + 1


class _NameCounter:
    """The names of an import statement, which the collector does not walk into."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def visit_Name(self, node: cst.Name) -> None:
        self.counts[node.value] = self.counts.get(node.value, 0) + 1


def collect(module: cst.Module, names: ImportTable, source: str = "") -> Collected:
    """The traversal's lists; `source` (the module's text) tells which of torch's usual names
    the file uses without importing them (names.CONVENTIONAL_IMPORTS)."""
    collector = _Collector(names)
    walk(module, collector)  # LibCST's module.visit() rebuilds every node: slower than the parse
    missing = tuple(name for name in CONVENTIONAL_IMPORTS if name not in names.bindings)
    if missing and source and not names.star:
        used = {m.group(1) for m in _uses(missing).finditer(source)}
        if used:
            names.assume_conventional(used - _bound_names(collector.out))
    return collector.out


@lru_cache(maxsize=64)
def _uses(missing: tuple[str, ...]) -> re.Pattern[str]:
    """`nn.Linear`, `F.relu(`, `DataLoader(`: a use of one of `missing`, not `model.nn.x`."""
    return re.compile(r"(?<![\w.])(" + "|".join(missing) + r")\s*[.(]")


def _bound_names(out: Collected) -> set[str]:
    """The names the file binds itself: its classes, functions, parameters, assignment and
    loop targets (a parameter called `F` is not torch.nn.functional)."""
    bound = {c.name for c in out.classes}
    for function in out.functions:
        bound.add(function.name)
        params = function.node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            bound.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                bound.add(star.name.value)
    targets: list[cst.BaseExpression] = [t for a in out.assigns for t in a.targets]
    targets += [a.node.target for a in out.assigns if isinstance(a.node, cst.AugAssign)]
    targets += [loop.node.target for loop in out.loops if isinstance(loop.node, cst.For)]
    while targets:
        target = targets.pop()
        if type(target) is cst.Name:
            bound.add(target.value)
        elif type(target) in (cst.Tuple, cst.List):
            targets.extend(e.value for e in target.elements)
        elif type(target) is cst.StarredElement:
            targets.append(target.value)
    return bound


__all__ = ["AssignInfo", "CallInfo", "ClassInfo", "Collected", "FunctionInfo", "LoopInfo", "collect"]
