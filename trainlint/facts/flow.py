"""What a tensor went through before it reached a loss: data flow within a file.

`out = model(x); probs = F.softmax(out, 1); loss = ce(probs, y)` is followed back
from the loss call: `probs` is the softmax of the output of `model`, which is a `Net`
whose head ends in a `Linear(128, 10)`. Names are followed through simple
assignments (the definitions that reach the use; branches that disagree give
"unknown"), `self.x` attributes, parameters (through the calls of the function in
the same file), and the return values of the file's functions. Anything else is
unknown, and rules stay silent on unknown values.

`ValueFlow` evaluates expressions to `Value`s (values.py); it also reads the heads of
the file's module classes and nn.Sequentials (what calling the model gives).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import ClassInfo, FunctionInfo
from trainlint.facts.heads import head_from_summary, head_of_layer, short_layer_name, weight_layer_out
from trainlint.facts.roles import names_a_model
from trainlint.facts.syntax import argument, constant_truth, dotted
from trainlint.facts.values import UNKNOWN, Value, merge
from trainlint.facts.vocabulary import (
    ACTIVATION_FUNCTIONS, ACTIVATION_METHODS, ACTIVATION_MODULES, CONV, INDEX_TARGET_FUNCTIONS, INDEX_TARGET_METHODS,
    LINEAR, LOSS_CLASS_KINDS, MODEL_WRAPPERS, MODULE_METHODS, NEUTRAL_FUNCTIONS, NEUTRAL_METHODS, NEUTRAL_MODULES,
    ONE_HOT, SEQUENTIAL,
)
from trainlint.facts.walk import calls_within

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

_MAX_DEPTH = 24

#: The value of a `for` loop's target (`for images, labels in loader:`): an element of
#: a batch, which as a loss target holds the data set's labels.
BATCH = cst.Name("__batch__")


@dataclass(frozen=True)
class Definition:
    name: str
    value: cst.BaseExpression | None  # None: bound to something unknown (a loop target, unpacking)
    order: int
    path: tuple  # the if/try branches it sits in
    #: For a `for` loop's target: what it iterates (`for out in probs:` walks a tensor's rows).
    iterable: cst.BaseExpression | None = None


class Scope:
    """A function body (or the module body): where each name is assigned, in order."""

    def __init__(self, body: cst.CSTNode, info: FunctionInfo | None) -> None:
        self.info = info
        self.node = body
        self.order_of: dict[int, int] = {}
        self.path_of: dict[int, tuple] = {}
        self.defs: dict[str, list[Definition]] = {}
        self.returns: list[tuple[cst.BaseExpression, int]] = []
        #: Names whose attributes are assigned (`model.fc = nn.Linear(512, 2)`): a model
        #: whose head may have been replaced.
        self.patched: set[str] = set()
        self.unpacked: dict[int, cst.Subscript] = {}
        #: The `if` statements with an `else` (or `elif`): one of their two branches runs.
        self.two_way: set[int] = set()
        #: Branch paths that end in `raise` or `return`: code after their `if` is not reached from them.
        self.ends: set[tuple] = set()
        #: `for i, layer in enumerate(self.layers): if i < len(self.layers) - 1: ... else: ...`:
        #: the branch such an `if` takes on the last iteration, and the order where its loop ends.
        self.last_branch: dict[int, tuple[int, int]] = {}
        self._enumerating: list[tuple[str, str, list[tuple[int, int]]]] = []
        self._n = 0
        if isinstance(body, cst.FunctionDef):
            self._block(body.body, ())
        else:
            self._statements(body.body, ())

    @cached_property
    def params(self) -> list[str]:
        if not isinstance(self.node, cst.FunctionDef):
            return []
        p = self.node.params
        return [param.name.value for param in (*p.posonly_params, *p.params, *p.kwonly_params)]

    @property
    def cls(self) -> ClassInfo | None:
        return self.info.cls if self.info else None

    # walking ------------------------------------------------------------------
    def _block(self, block: cst.BaseSuite, path: tuple) -> None:
        if isinstance(block, cst.IndentedBlock):
            self._statements(block.body, path)
            last = block.body[-1] if block.body else None
            if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Raise, cst.Return)):
                self.ends.add(path)
        elif isinstance(block, cst.SimpleStatementSuite):
            self._simple(block.body, block, path)

    def _statements(self, statements, path: tuple) -> None:
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine):
                self._simple(stmt.body, stmt, path)
            else:
                self._compound(stmt, path)

    def _mark(self, node: cst.CSTNode | None, path: tuple) -> int:
        self._n += 1
        if node is not None:
            _mark_calls(node, self._n, path, self.order_of, self.path_of)
        return self._n

    def _define(
        self, target: cst.BaseExpression, value: cst.BaseExpression | None, order: int, path: tuple,
        iterable: cst.BaseExpression | None = None,
    ) -> None:
        if isinstance(target, cst.Name):
            self.defs.setdefault(target.value, []).append(Definition(target.value, value, order, path, iterable))
        elif isinstance(target, (cst.Tuple, cst.List)):
            starred = any(isinstance(e, cst.StarredElement) for e in target.elements)
            for i, element in enumerate(target.elements):
                if value is BATCH:
                    part = BATCH
                elif value is None or starred:
                    part = None
                else:  # `dis_output, aux_output = netD(x)`: the i-th element of what the call returns
                    part = self._unpacked(value, i)
                self._define(element.value, part, order, path)
        elif isinstance(target, cst.StarredElement):
            self._define(target.value, None, order, path)

    def _unpacked(self, value: cst.BaseExpression, i: int) -> cst.Subscript:
        """A `value[i]` node for an unpacking assignment; it takes the i-th element of a
        tuple only (unpacking a tensor walks its rows; that is not followed)."""
        node = cst.Subscript(value=value, slice=[cst.SubscriptElement(slice=cst.Index(value=cst.Integer(str(i))))])
        self.unpacked[id(node)] = node  # kept alive so the id stays its own
        return node

    def _simple(self, statements, line: cst.CSTNode, path: tuple) -> None:
        for stmt in statements:
            order = self._mark(stmt, path)
            self.order_of[id(stmt)] = order
            self.path_of[id(stmt)] = path
            if isinstance(stmt, cst.Assign):
                for target in stmt.targets:
                    self._define(target.target, stmt.value, order, path)
                    if isinstance(target.target, cst.Attribute) and isinstance(target.target.value, cst.Name):
                        self.patched.add(target.target.value.value)
            elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
                self._define(stmt.target, stmt.value, order, path)
            elif isinstance(stmt, cst.AugAssign):
                self._define(stmt.target, None, order, path)
            elif isinstance(stmt, cst.Return) and stmt.value is not None:
                self.returns.append((stmt.value, order))

    def _compound(self, stmt: cst.BaseCompoundStatement, path: tuple) -> None:
        if isinstance(stmt, cst.If):
            self._mark(stmt.test, path)
            live = constant_truth(stmt.test)
            if live is not None:  # `if 0:` switches its body off, `if 1:` its else: one branch always runs
                branch = stmt.body if live else stmt.orelse
                if isinstance(branch, cst.If):
                    self._compound(branch, path)
                elif branch is not None:
                    self._block(branch if live else branch.body, path)
                return
            if stmt.orelse is not None:
                self.two_way.add(id(stmt))
                last = self._last_iteration_branch(stmt.test)
                if last is not None:
                    self._enumerating[-1][2].append((id(stmt), last))
            self._block(stmt.body, path + ((id(stmt), 0),))
            branch = stmt.orelse
            if isinstance(branch, cst.If):
                self._compound(branch, path + ((id(stmt), 1),))
            elif isinstance(branch, cst.Else):
                self._block(branch.body, path + ((id(stmt), 1),))
        elif isinstance(stmt, cst.For):
            order = self._mark(stmt.iter, path)
            self._define(stmt.target, BATCH, order, path, stmt.iter)
            # A loop body counts as executed: the value after `for batch in loader:` is
            # the one the body computed.
            self._enumerating.append((*_enumerated(stmt), []))
            self._block(stmt.body, path)
            for statement, branch in self._enumerating.pop()[2]:
                self.last_branch[statement] = (branch, self._n)
            if stmt.orelse:
                self._block(stmt.orelse.body, path)
        elif isinstance(stmt, cst.While):
            self._mark(stmt.test, path)
            self._block(stmt.body, path)
            if stmt.orelse:
                self._block(stmt.orelse.body, path)
        elif isinstance(stmt, cst.With):
            order = self._mark(None, path)
            for item in stmt.items:
                _mark_calls(item.item, order, path, self.order_of, self.path_of)
                if item.asname is not None:
                    self._define(item.asname.name, None, order, path)
            self._block(stmt.body, path)
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            self._block(stmt.body, path + ((id(stmt), 0),))
            for i, handler in enumerate(stmt.handlers):
                order = self._mark(None, path)
                if handler.name is not None:
                    self._define(handler.name.name, None, order, path)
                self._block(handler.body, path + ((id(stmt), i + 1),))
            if stmt.orelse:
                self._block(stmt.orelse.body, path + ((id(stmt), 0),))
            if stmt.finalbody:
                self._block(stmt.finalbody.body, path)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            order = self._mark(None, path)
            self._define(stmt.name, None, order, path)
        elif isinstance(stmt, cst.Match):
            self._mark(stmt.subject, path)
            for i, case in enumerate(stmt.cases):
                self._block(case.body, path + ((id(stmt), i),))

    def _last_iteration_branch(self, test: cst.BaseExpression) -> int | None:
        """0 or 1 for `i == len(xs) - 1` / `i < len(xs) - 1` (`!=`) tested in `for i, x in enumerate(xs)`."""
        if not self._enumerating or not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
            return None
        index, iterated, _ = self._enumerating[-1]
        target = test.comparisons[0]
        if not (isinstance(test.left, cst.Name) and test.left.value == index and iterated):
            return None
        if _code(target.comparator).replace(" ", "") != f"len({iterated})-1":
            return None
        if isinstance(target.operator, cst.Equal):
            return 0
        return 1 if isinstance(target.operator, (cst.LessThan, cst.NotEqual)) else None

    # reaching definitions -------------------------------------------------------
    def reaching(self, name: str, order: int, path: tuple) -> tuple[list[Definition], bool]:
        """The definitions of `name` that may reach a use at (order, path), and whether
        one of them certainly executed (else the name may come from outside)."""
        found: list[Definition] = []
        for definition in reversed(self.defs.get(name, [])):
            if definition.order >= order or self._skipped_last_time(definition.path, order):
                continue
            found.append(definition)
            if path[: len(definition.path)] == definition.path or self._covered(found, path, order):
                return found, True
        return found, False

    def _skipped_last_time(self, path: tuple, order: int) -> bool:
        """Whether a branch on `path` is one a loop's last iteration skips, seen from after the loop."""
        for statement, branch in path:
            last = self.last_branch.get(statement)
            if last is not None and last[0] != branch and order > last[1]:
                return True
        return False

    def _covered(self, found: list[Definition], prefix: tuple, order: int, top: bool = True) -> bool:
        """Whether every way through the code below `prefix` runs one of `found`
        (`if a: net = A() else: net = B()`; a branch that raises or returns, or that a
        loop's last iteration skips, does not get there)."""
        if not top and (prefix in self.ends or self._skipped_last_time(prefix[-1:], order)):
            return True
        below = [d for d in found if d.path[: len(prefix)] == prefix]
        if any(len(d.path) == len(prefix) for d in below):
            return True
        branching = {d.path[len(prefix)][0] for d in below}
        return any(
            statement in self.two_way
            and all(self._covered(below, prefix + ((statement, k),), order, top=False) for k in (0, 1))
            for statement in branching
        )


def _element(base: Value, index: cst.BaseSlice) -> Value:
    """`outputs[1]` of a tuple of Values; unknown for anything but an integer index."""
    if not isinstance(index, cst.Index):
        return UNKNOWN
    expr, sign = index.value, 1
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        expr, sign = expr.expression, -1
    if not isinstance(expr, cst.Integer) or base.elements is None:
        return UNKNOWN
    i = sign * int(expr.evaluated_value)
    return base.elements[i] if -len(base.elements) <= i < len(base.elements) else UNKNOWN


#: `log` of a softmax is a log_softmax; `exp` of a log_softmax is a softmax again
#: (`torch.exp(self.log_softmax(x))`): function -> (the activation it undoes, the result).
_INVERSES = {"torch.log": ("softmax", "log_softmax"), "torch.exp": ("log_softmax", "softmax")}


def _inverted(inner: Value, inverse: tuple[str, str], spelled: str) -> Value:
    before, after = inverse
    if inner.kind != "tensor" or inner.activation != before:
        return UNKNOWN
    return replace(inner, activation=after, origin=f"`{spelled}` of {inner.origin}" if inner.origin else "")


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _enumerated(loop: cst.For) -> tuple[str, str]:
    """(`i`, `self.layers`) for `for i, layer in enumerate(self.layers):`; ("", "") otherwise."""
    target, iterable = loop.target, loop.iter
    if (
        isinstance(target, cst.Tuple)
        and target.elements
        and isinstance(target.elements[0].value, cst.Name)
        and isinstance(iterable, cst.Call)
        and isinstance(iterable.func, cst.Name)
        and iterable.func.value == "enumerate"
        and len(iterable.args) == 1
    ):
        return target.elements[0].value.value, _code(iterable.args[0].value).replace(" ", "")
    return "", ""


def _mark_calls(node: cst.CSTNode, order: int, path: tuple, order_of: dict, path_of: dict) -> None:
    for call in calls_within(node):
        order_of[id(call)] = order
        path_of[id(call)] = path




class ValueFlow:
    """Evaluates expressions of one file to Values; caches scopes and module heads."""

    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        self._scopes: dict[int, Scope] = {}
        self._class_heads: dict[int, Value] = {}
        self._self_attrs: dict[tuple[int, str], Value] = {}
        self._names: dict[tuple, Value] = {}
        self._functions = {f.name: f for f in facts.collected.functions if f.cls is None and f.parent is None}
        self._infos = {id(f.node): f for f in facts.collected.functions}

    # scopes -------------------------------------------------------------------------
    def scope(self, info: FunctionInfo | None) -> Scope:
        key = id(info.node) if info else 0
        scope = self._scopes.get(key)
        if scope is None:
            scope = self._scopes[key] = Scope(info.node if info else self.facts.module, info)
        return scope

    def scope_of_call(self, call_info) -> tuple[Scope, int, tuple]:
        scope = self.scope(call_info.function)
        return scope, scope.order_of.get(id(call_info.node), 1 << 30), scope.path_of.get(id(call_info.node), ())

    # evaluation ---------------------------------------------------------------------
    def value(self, expr: cst.BaseExpression | None, scope: Scope, order: int, path: tuple = (), depth: int = 0) -> Value:
        if expr is None or depth > _MAX_DEPTH:
            return UNKNOWN
        depth += 1
        if isinstance(expr, cst.Name):
            return self._name(expr.value, scope, order, path, depth)
        if isinstance(expr, cst.Attribute):
            if isinstance(expr.value, cst.Name) and expr.value.value == "self" and scope.cls is not None:
                return self.self_attribute(scope.cls, expr.attr.value, depth)
            return UNKNOWN
        if isinstance(expr, cst.Subscript):
            base = self.value(expr.value, scope, order, path, depth)
            if base.kind == "tuple":
                return _element(base, expr.slice[0].slice) if len(expr.slice) == 1 else UNKNOWN
            return base if base.kind == "tensor" and id(expr) not in scope.unpacked else UNKNOWN
        if isinstance(expr, cst.Tuple) and expr.elements and not any(isinstance(e, cst.StarredElement) for e in expr.elements):
            elements = tuple(self.value(e.value, scope, order, path, depth) for e in expr.elements)
            return Value(kind="tuple", elements=elements) if any(e.known for e in elements) else UNKNOWN
        if isinstance(expr, cst.Call):
            return self._call(expr, scope, order, path, depth)
        return UNKNOWN

    def _name(self, name: str, scope: Scope, order: int, path: tuple, depth: int) -> Value:
        definitions, certain = scope.reaching(name, order, path)
        key = (id(scope), name, tuple(id(d) for d in definitions), certain)
        if key in self._names:
            return self._names[key]
        self._names[key] = UNKNOWN  # a cycle is unknown
        values = [self._definition(d, scope, depth) for d in definitions]
        if not certain:
            values.append(self._outside(name, scope, depth))
        result = merge(values)
        if result.kind == "module" and (name in scope.patched or name in self.scope(None).patched):
            result = UNKNOWN
        self._names[key] = result
        return result

    def _definition(self, definition: Definition, scope: Scope, depth: int) -> Value:
        if definition.value is None:
            return UNKNOWN
        if definition.value is BATCH:
            if definition.iterable is not None:
                # `for out in torch.softmax(scores, -1):` each row is still a softmax
                rows = self.value(definition.iterable, scope, definition.order, definition.path, depth)
                if rows.kind == "tensor" and rows.activation:
                    return rows
            return Value(kind="tensor", target="batch")
        return self.value(definition.value, scope, definition.order, definition.path, depth)

    def _outside(self, name: str, scope: Scope, depth: int) -> Value:
        """A name a function did not assign before its use: a parameter, or a global."""
        info = scope.info
        if info is None:
            return UNKNOWN
        if name in scope.params:
            return self._parameter(info, scope, name, depth)
        outer = self.scope(info.parent)
        definitions = outer.defs.get(name, [])
        if not definitions:
            return UNKNOWN
        return merge([self._definition(d, outer, depth) for d in definitions])

    def _parameter(self, info: FunctionInfo, scope: Scope, name: str, depth: int) -> Value:
        """A parameter of a plain function is what every call of it in this file passes (and,
        for a model, every call in the project's other files)."""
        if name == "self":
            return UNKNOWN
        if info.cls is not None:
            return self._default_loss(scope, name, depth)
        position = scope.params.index(name)
        values = []
        for call in self.facts.collected.calls:
            if dotted(call.node.func) != info.name:
                continue
            arg = argument(call.node, name, position)
            if arg is None:
                return UNKNOWN
            caller, order, path = self.scope_of_call(call)
            values.append(self.value(arg, caller, order, path, depth))
        if info.parent is None and names_a_model(name):
            # `train_one_epoch(model, ...)` called from main.py with `model = Net()`
            for qualname in self.facts.passed_classes(info, name, position):
                values.append(UNKNOWN if qualname is None else self.module_value(qualname, None, depth))
        only = self.facts.only_model_class
        if not values and only is not None and info.parent is None and names_a_model(name):
            # `def train(model, loader, optimizer)` called from another file: the network this file defines
            return self.class_head(only, depth)
        return merge(values)

    def _default_loss(self, scope: Scope, name: str, depth: int) -> Value:
        """A method's parameter whose default is a loss object
        (`def __init__(self, loss=nn.CrossEntropyLoss())`): that loss, the one the class
        is written for. Other defaults say nothing of what callers pass."""
        params = scope.node.params
        param = next((p for p in (*params.posonly_params, *params.params, *params.kwonly_params) if p.name.value == name), None)
        if param is None or param.default is None:
            return UNKNOWN
        default = self.value(param.default, self.scope(scope.info.parent if scope.info else None), 1 << 30, (), depth)
        return default if default.kind == "loss" else UNKNOWN

    def self_attribute(self, cls: ClassInfo, attr: str, depth: int = 0) -> Value:
        key = (id(cls.node), attr)
        if key in self._self_attrs:
            return self._self_attrs[key]
        self._self_attrs[key] = UNKNOWN  # a cycle is unknown
        values = []
        for method in cls.methods.values():
            info = self._infos.get(id(method))
            if info is None:
                continue
            for assign in self.facts.assigns_in(method):
                node = assign.node
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    if (
                        isinstance(target, cst.Attribute)
                        and target.attr.value == attr
                        and isinstance(target.value, cst.Name)
                        and target.value.value == "self"
                    ):
                        if isinstance(node, cst.AugAssign) or node.value is None:
                            values.append(UNKNOWN)
                            continue
                        scope = self.scope(info)
                        order = scope.order_of.get(id(node), 1 << 30)
                        values.append(self.value(node.value, scope, order, scope.path_of.get(id(node), ()), depth))
        if not values:  # `self.softmax` of a subclass, set in its base class's __init__
            values = [
                self.self_attribute(base, attr, depth)
                for base in map(self.facts.local_class, cls.base_names)
                if base is not None and base is not cls
            ]
        result = self._self_attrs[key] = merge(values)
        return result

    def _call(self, call: cst.Call, scope: Scope, order: int, path: tuple, depth: int) -> Value:
        func = call.func
        qualname = self.facts.qualname(func)
        first = argument(call, "input", 0)
        if qualname in ACTIVATION_FUNCTIONS:
            return self._activated(self.value(first, scope, order, path, depth), ACTIVATION_FUNCTIONS[qualname], call)
        if qualname in _INVERSES:
            return _inverted(self.value(first, scope, order, path, depth), _INVERSES[qualname], self.facts.code(func))
        if qualname in NEUTRAL_FUNCTIONS:
            inner = self.value(first, scope, order, path, depth)
            return inner if inner.kind == "tensor" else UNKNOWN
        if qualname in LOSS_CLASS_KINDS:
            return Value(kind="loss", loss=LOSS_CLASS_KINDS[qualname], constructor=call)
        if qualname in MODEL_WRAPPERS:
            inner = self.value(argument(call, "module", 0), scope, order, path, depth)
            return inner if inner.kind == "module" else UNKNOWN
        if qualname in INDEX_TARGET_FUNCTIONS:
            return Value(kind="tensor", target="index")
        if qualname in ONE_HOT:
            return Value(kind="tensor", target="onehot")
        if qualname and self.facts.is_module_class(qualname):
            return self.module_value(qualname, call, depth)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = self.value(func.value, scope, order, path, depth)
            if receiver.kind in ("module", "loss") and method in MODULE_METHODS:
                return receiver
            if receiver.kind == "module" and method == "forward":
                return self._output(receiver)
            is_self = isinstance(func.value, cst.Name) and func.value.value == "self"
            if method in ACTIVATION_METHODS and receiver.kind in ("tensor", "unknown") and not is_self:
                return self._activated(receiver, ACTIVATION_METHODS[method], call)
            if receiver.kind == "tensor":
                if method in NEUTRAL_METHODS:
                    return receiver
                if "torch." + method in _INVERSES:
                    return _inverted(receiver, _INVERSES["torch." + method], f".{method}()")
            if method in INDEX_TARGET_METHODS:
                return Value(kind="tensor", target="index")
            if method in ("float", "double", "half") and receiver.target == "onehot":
                return receiver
        callee = self.value(func, scope, order, path, depth)
        if callee.kind == "module":
            if callee.layer in ACTIVATION_MODULES:  # `self.softmax = nn.Softmax(dim=1)`
                inner = self.value(first, scope, order, path, depth)
                return self._activated(inner, ACTIVATION_MODULES[callee.layer], call)
            if callee.layer in NEUTRAL_MODULES:
                inner = self.value(first, scope, order, path, depth)
                return inner if inner.kind == "tensor" else UNKNOWN
            return self._output(callee)
        if callee.kind == "unknown" and isinstance(func, cst.Name) and func.value in self._functions:
            if not any(d.order < order for d in scope.defs.get(func.value, [])):
                return self._returned(self._functions[func.value], depth)
        if isinstance(func, cst.Name) and func.value == "self" and scope.cls is not None:
            return self._output(self.class_head(scope.cls))
        return UNKNOWN

    def _activated(self, inner: Value, activation: str, call: cst.Call) -> Value:
        if inner.kind not in ("tensor", "unknown") or inner.target in ("index", "onehot"):
            return UNKNOWN
        origin = f"`{self.facts.code(call.func)}(...)`"
        previous = (inner.activation or None) if inner.kind == "tensor" else None
        return Value(
            kind="tensor", activation=activation, previous=previous, out_features=inner.out_features, layer=inner.layer,
            origin=origin,
        )

    def _output(self, module: Value) -> Value:
        if module.kind == "module" and module.elements is not None:
            return Value(kind="tuple", elements=module.elements)
        if module.kind != "module" or module.activation is None:
            return UNKNOWN
        return replace(module, kind="tensor")

    def _returned(self, info: FunctionInfo, depth: int) -> Value:
        """What a function of this file returns (its parameters resolved through its calls)."""
        scope = self.scope(info)
        if not scope.returns:
            return UNKNOWN
        return merge([self.value(expr, scope, order, (), depth) for expr, order in scope.returns])

    # module heads ---------------------------------------------------------------------
    def module_value(self, qualname: str, call: cst.Call | None, depth: int = 0) -> Value:
        if qualname == SEQUENTIAL and call is not None:
            return self._sequential_head(call, depth)
        if qualname.startswith("torch.nn."):
            return head_of_layer(qualname, call)
        local = self.facts.local_class(qualname)
        if local is not None:
            return self.class_head(local, depth)
        summary = self.facts.index.lookup(qualname, near=self.facts.path)
        if summary is not None:
            return head_from_summary(summary)
        return Value(kind="module")

    def class_head(self, cls: ClassInfo, depth: int = 0) -> Value:
        key = id(cls.node)
        if key not in self._class_heads:
            self._class_heads[key] = Value(kind="module")  # recursion: unknown head
            self._class_heads[key] = self._class_head(cls, depth)
        return self._class_heads[key]

    def _sequential_head(self, call: cst.Call, depth: int = 0) -> Value:
        """`nn.Sequential(..., nn.Linear(256, 10), nn.Softmax(dim=1))`: read from the end."""
        activation: str | None = None
        previous: str | None = None
        origin = ""
        for arg in reversed(call.args):
            if arg.star or arg.keyword is not None or not isinstance(arg.value, cst.Call):
                return Value(kind="module")
            qualname = self.facts.qualname(arg.value.func) or ""
            if qualname in NEUTRAL_MODULES:
                continue
            if qualname in ACTIVATION_MODULES:
                if activation is None:
                    activation = ACTIVATION_MODULES[qualname]
                    origin = f"`{self.facts.code(arg.value.func)}` at the end of an nn.Sequential"
                elif previous is None:
                    previous = ACTIVATION_MODULES[qualname]
                continue
            if qualname in LINEAR or qualname in CONV:
                return Value(
                    kind="module",
                    activation=activation if activation is not None else "",
                    previous=previous,
                    out_features=weight_layer_out(qualname, arg.value),
                    layer=qualname,
                    origin=origin or f"the raw outputs of {short_layer_name(qualname)} at the end of an nn.Sequential",
                )
            if activation is not None:
                # an activation after a block whose own output is unknown (a project module)
                inner = self.value(arg.value, self.scope(None), 1 << 30, (), depth + 1)
                return Value(kind="module", activation=activation, out_features=inner.out_features, layer=inner.layer, origin=origin)
            inner = self.value(arg.value, self.scope(None), 1 << 30, (), depth + 1)
            return inner if inner.kind == "module" else Value(kind="module")
        return Value(kind="module", activation=activation, origin=origin) if activation else Value(kind="module")


    @staticmethod
    def _element_head(cls: ClassInfo, element: Value, i: int, where: str) -> Value:
        if element.kind != "tensor" or element.activation is None:
            return UNKNOWN
        what = f"ends in {element.activation}" if element.activation else f"returns the raw outputs of {short_layer_name(element.layer)}"
        return replace(element, origin=f"output {i} of {cls.name}.forward(){where} {what}")

    def _class_head(self, cls: ClassInfo, depth: int = 0) -> Value:
        """The module value of a class of this file: what its forward() returns."""
        forward = cls.methods.get("forward")
        if forward is None:
            return Value(kind="module")
        info = next((f for f in self.facts.collected.functions if f.node is forward), None)
        scope = self.scope(info)
        if not scope.returns:
            return Value(kind="module")
        outputs = merge([self.value(expr, scope, order, (), depth + 1) for expr, order in scope.returns])
        where = f" in {self.facts.path}" if self.facts.path else ""
        if outputs.kind == "tuple":  # `return realfake, classes`: each element is a head of its own
            return Value(kind="module", elements=tuple(self._element_head(cls, e, i, where) for i, e in enumerate(outputs.elements)))
        if outputs.kind != "tensor" or outputs.activation is None:
            return Value(kind="module")
        if outputs.activation:
            origin = f"{cls.name}.forward(){where} ends in {outputs.activation}"
        else:
            origin = f"{cls.name}.forward(){where} returns the raw outputs of {short_layer_name(outputs.layer)}"
        return Value(
            kind="module",
            activation=outputs.activation,
            previous=outputs.previous,
            out_features=outputs.out_features,
            layer=outputs.layer,
            origin=origin,
        )


__all__ = ["BATCH", "Scope", "ValueFlow"]
