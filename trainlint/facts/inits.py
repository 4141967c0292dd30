"""Weight initialization: constant fills and parameters allocated without values.

`ConstantInit`: `nn.init.zeros_(m.weight)`, `constant_(p, 0.5)`, `m.weight.data.fill_(0)`
with the `if` tests and `for` loops around it, so a rule can tell "every Linear of the
model gets zeros" (an `isinstance(m, nn.Linear)` guard) from the deliberate zero init of
one head or residual branch (`if name.startswith("head")`, `m.bn3.weight`).

`EmptyParameter`: `nn.Parameter(torch.empty(...))` / `nn.Parameter(torch.Tensor(n, m))`,
with whether anything in the file initializes it afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import CallInfo, ClassInfo, FunctionInfo
from trainlint.facts.syntax import dotted, string
from trainlint.facts.vocabulary import (
    CONSTANT_INIT_FUNCTIONS, CONSTANT_INIT_METHODS, EMPTY_ALLOCATIONS, LEGACY_CONSTRUCTORS, PARAMETER,
)
from trainlint.facts.walk import calls_within

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

_SIZE_NAME = re.compile(r"(dim|size|feature|channel|num|^n_|^n[A-Z]|hidden|in_|out_|len|head|class|width|height|depth|units)", re.I)


@dataclass(frozen=True)
class Guard:
    test: cst.BaseExpression
    positive: bool  # inside the body (True) or the else branch (False)


@dataclass(eq=False)
class ConstantInit:
    call: cst.Call
    tensor: cst.BaseExpression  # what is filled, `.data` stripped
    #: The ifs and fors around the call within its function, outermost first.
    context: tuple["Guard | cst.For", ...]
    #: The function the call is written in (None: the module body).
    function: FunctionInfo | None = None
    #: Filled by torch.nn.init (`zeros_(w)`), not by a tensor method (`w.zero_()`, `.fill_(c)`).
    by_init_function: bool = False


@dataclass(eq=False)
class EmptyParameter:
    call: cst.Call  # the allocation (`torch.empty(...)`)
    parameter: cst.Call  # the nn.Parameter(...) around it
    attr: str | None  # `self.<attr> = nn.Parameter(...)`
    cls: ClassInfo | None


def _strip_data(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    return expr


def _filled_tensor(call: CallInfo) -> cst.BaseExpression | None:
    node = call.node
    if call.qualname in CONSTANT_INIT_FUNCTIONS:
        if node.args and node.args[0].keyword is None:
            return _strip_data(node.args[0].value)
        return None
    if isinstance(node.func, cst.Attribute) and node.func.attr.value in CONSTANT_INIT_METHODS:
        return _strip_data(node.func.value)
    return None


class _GuardWalker:
    """Records the ifs and fors around chosen calls, per function (a walk over
    statements only: the expressions are searched for the chosen calls alone)."""

    def __init__(self, wanted: dict[int, tuple[cst.BaseExpression, CallInfo]]) -> None:
        self.wanted = wanted
        self.found: list[ConstantInit] = []

    def statements(self, statements, context: tuple) -> None:
        for stmt in statements:
            self.statement(stmt, context)

    def block(self, block: cst.BaseSuite, context: tuple) -> None:
        if isinstance(block, cst.IndentedBlock):
            self.statements(block.body, context)
        else:
            self.calls(block, context)

    def calls(self, node: cst.CSTNode, context: tuple) -> None:
        # `zeros_(w) if cond else normal_(w)`: conditional, never "every layer"
        for call in calls_within(node, skip=(cst.Lambda, cst.FunctionDef, cst.IfExp)):
            wanted = self.wanted.get(id(call))
            if wanted is not None:
                tensor, info = wanted
                self.found.append(
                    ConstantInit(call, tensor, context, info.function, info.qualname in CONSTANT_INIT_FUNCTIONS)
                )

    def statement(self, stmt: cst.CSTNode, context: tuple) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            self.calls(stmt, context)
        elif isinstance(stmt, cst.If):
            self.calls(stmt.test, context)
            self.block(stmt.body, context + (Guard(stmt.test, True),))
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                self.statement(orelse, context + (Guard(stmt.test, False),))
            elif isinstance(orelse, cst.Else):
                self.block(orelse.body, context + (Guard(stmt.test, False),))
        elif isinstance(stmt, cst.For):
            self.calls(stmt.iter, context)
            self.block(stmt.body, context + (stmt,))
            if stmt.orelse:
                self.block(stmt.orelse.body, context)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self.block(stmt.body, ())
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            self.block(stmt.body, context)
            for handler in stmt.handlers:
                self.block(handler.body, context)
            for extra in (stmt.orelse, stmt.finalbody):
                if extra:
                    self.block(extra.body, context)
        elif isinstance(stmt, (cst.While, cst.With)):
            for item in getattr(stmt, "items", ()):
                self.calls(item, context)
            if isinstance(stmt, cst.While):
                self.calls(stmt.test, context)
            self.block(stmt.body, context)
        elif isinstance(stmt, cst.Match):
            for case in stmt.cases:
                self.block(case.body, context + (Guard(case.pattern, True),))


def _constant_inits(facts: "FileFacts") -> list[ConstantInit]:
    wanted = {}
    for call in facts.calls:
        tensor = _filled_tensor(call)
        if tensor is not None:
            wanted[id(call.node)] = (tensor, call)
    if not wanted:
        return []
    walker = _GuardWalker(wanted)
    walker.statements(facts.module.body, ())
    return walker.found


# uninitialized parameters ---------------------------------------------------------------
def _is_allocation(facts: "FileFacts", expr: cst.BaseExpression) -> bool:
    if not isinstance(expr, cst.Call):
        return False
    qualname = facts.qualname(expr.func)
    if qualname in EMPTY_ALLOCATIONS:
        return True
    if qualname in LEGACY_CONSTRUCTORS:
        args = [a for a in expr.args if a.keyword is None]
        if not args or any(a.star for a in args):
            return False
        if len(args) > 1:
            return all(_size_like(a.value, loose=True) for a in args)
        return _size_like(args[0].value, loose=False)
    return False


def _size_like(expr: cst.BaseExpression, *, loose: bool) -> bool:
    if isinstance(expr, cst.Integer):
        return True
    if isinstance(expr, cst.BinaryOperation):
        return _size_like(expr.left, loose=True) and _size_like(expr.right, loose=True)
    name = dotted(expr)
    if name is None:
        return False
    return loose or bool(_SIZE_NAME.search(name.rsplit(".", 1)[-1]))


def _empty_parameters(facts: "FileFacts") -> list[EmptyParameter]:
    found = []
    for call in facts.calls:
        if call.qualname not in PARAMETER or not call.node.args:
            continue
        inner = call.node.args[0].value
        if not _is_allocation(facts, inner):
            continue
        found.append(EmptyParameter(inner, call.node, _assigned_attr(facts, call), _class_of(call)))
    return found


def _class_of(call: CallInfo) -> ClassInfo | None:
    function = call.function
    while function is not None and function.cls is None:
        function = function.parent
    return function.cls if function else None


def _assigned_attr(facts: "FileFacts", call: CallInfo) -> str | None:
    for assign in facts.assigns_in(call.function.node if call.function else None):
        node = assign.node
        value = node.value if isinstance(node, cst.Assign) else None
        if isinstance(value, cst.IfExp):  # `nn.Parameter(...) if use_pos_embed else None`
            value = value.body if value.body is call.node else value.orelse
        if value is call.node:
            for target in node.targets:
                if isinstance(target.target, cst.Attribute):
                    return target.target.attr.value
    return _register_parameter_name(facts, call)


def _register_parameter_name(facts: "FileFacts", call: CallInfo) -> str | None:
    for other in facts.calls_in(call.function.node if call.function else None):
        node = other.node
        if (
            isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "register_parameter"
            and len(node.args) >= 2
            and node.args[1].value is call.node
            and string(node.args[0].value) is not None
        ):
            return string(node.args[0].value)
    return None


def _initialized_attributes(facts: "FileFacts") -> dict[int | None, frozenset[str]]:
    """Attribute names that calls of the file fill with values: the first argument of an
    init function (`nn.init.xavier_uniform_(self.w)`, `trunc_normal_(m.pos_embed)`), the
    receiver of an in-place method (`self.w.data.uniform_(-s, s)`, `.copy_(...)`).

    `self.w` in a method counts for that class only (keyed by id of its ClassDef); any
    other owner (`m.pos_embed`, `layer.weight`) may be any class's, and counts for all (key None)."""
    names: dict[int | None, set[str]] = {}

    def add(target: cst.BaseExpression, function: FunctionInfo | None) -> None:
        if not isinstance(target, cst.Attribute):
            return
        on_self = isinstance(target.value, cst.Name) and target.value.value == "self"
        key = id(function.cls.node) if on_self and function is not None and function.cls is not None else None
        names.setdefault(key, set()).add(target.attr.value)

    for call in facts.calls:
        node = call.node
        func_name = dotted(node.func) or ""
        last = func_name.rsplit(".", 1)[-1]
        if node.args and (last.endswith("_") or "init" in last.lower()):
            add(_strip_data(node.args[0].value), call.function)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value.endswith("_"):
            add(_strip_data(node.func.value), call.function)
    for assign in facts.assigns:
        node = assign.node
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        for target in targets:
            if isinstance(target, cst.Attribute) and target.attr.value == "data":
                add(target.value, assign.function)
    return {key: frozenset(value) for key, value in names.items()}


def _initializes_itself(facts: "FileFacts", cls: ClassInfo) -> bool:
    """A class with its own init method (reset_parameters, _init_weights, ...), or one that
    runs an init function over its modules (`self.apply(...)`): assume it covers everything."""
    for name in cls.methods:
        lowered = name.lower()
        if name != "__init__" and ("init" in lowered or "reset" in lowered):
            return True
    for method in cls.methods.values():
        for call in facts.calls_in(method):
            name = dotted(call.node.func) or ""
            if name in ("self.apply",) or name.endswith("named_apply"):
                return True
    return False


_TRAINS = frozenset({"backward", "step", "manual_backward"})


def _in_untrained_test(facts: "FileFacts", function: FunctionInfo | None) -> bool:
    """Code inside a unit test (a `test*` function in a test file, at any depth) that trains
    nothing: weights there are known test values or placeholders, not a starting point for
    training (`def test_lora_mqa_gqa(): ... zeros_(p)`, a fixture class defined in a test)."""
    if function is None:
        return False
    while function.parent is not None:
        function = function.parent
    if not function.name.startswith("test"):
        return False
    if not facts.is_test_module:
        return False
    return not any(
        isinstance(c.node.func, cst.Attribute) and c.node.func.attr.value in _TRAINS for c in facts.calls_in(function.node)
    )


class InitFacts:
    """The file's weight initialization, each part computed the first time a rule asks."""

    def __init__(self, facts: "FileFacts") -> None:
        self._facts = facts

    @cached_property
    def constant_inits(self) -> list[ConstantInit]:
        """Constant fills of a tensor (`zeros_(m.weight)`, `w.data.fill_(0)`), in source order."""
        return _constant_inits(self._facts)

    @cached_property
    def empty_parameters(self) -> list[EmptyParameter]:
        """`nn.Parameter(torch.empty(...))` and the like: parameters allocated without values."""
        return _empty_parameters(self._facts)

    @cached_property
    def _initialized(self) -> dict[int | None, frozenset[str]]:
        return _initialized_attributes(self._facts)

    def initialized_attributes_of(self, cls: ClassInfo | None) -> frozenset[str]:
        """The attribute names filled with values for `cls`: `self.<name>` in its methods
        or its base classes' in the file, and `<anything>.<name>` anywhere. One class's
        `reset_parameters` says nothing of another class's `self.weight`."""
        names = set(self._initialized.get(None, frozenset()))
        for owner in self._facts.class_and_bases(cls) if cls is not None else []:
            names |= self._initialized.get(id(owner.node), frozenset())
        return frozenset(names)

    def initializes_itself(self, cls: ClassInfo) -> bool:
        """A class with its own init method, or one that applies an init function to its modules."""
        return _initializes_itself(self._facts, cls)

    def in_untrained_test(self, function: FunctionInfo | None) -> bool:
        """Code inside a unit test of a test module that trains nothing."""
        return _in_untrained_test(self._facts, function)


__all__ = ["ConstantInit", "EmptyParameter", "Guard", "InitFacts"]
