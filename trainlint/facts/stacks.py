"""The order in which a model applies its layers.

Two views, both read from source without running it:

- *stacks*: the layers an `nn.Sequential(...)` (or an `nn.ModuleList`) holds, in order,
  including lists built with `layers += [...]` / `layers.append(...)` in `__init__`
  helpers and module-level builder functions, and loops over literal configs;
- *paths*: what `forward()` does to its input, in order (layer calls, with Sequentials
  expanded, `torch.sigmoid`/`tanh`, other ops), and which squashing outputs are used as
  gates (multiplied with another tensor, as in SE blocks, attention and LSTM cells).

The walk is a small abstract interpretation over statements: assignments, `+=`,
`append`/`extend`, `for` (unrolled when the iterable is a literal or a known stack),
`if` (a condition on a literal loop value is decided; otherwise both branches are
walked and the longer result kept). It is deliberately partial: what it cannot read
becomes an `OTHER` element, which never makes a rule fire.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Sequence

import libcst as cst

from trainlint.facts.syntax import dotted, is_number, keyword_arg, literal_value, positional
from trainlint.facts.vocabulary import (
    BATCH_NORM, BIAS_POSITION, CONV, GATING_FUNCTIONS, GATING_METHODS, GRAPHLESS, GRAPHLESS_CALLS, LINEAR, MODULE_LIST,
    NO_GRAD, NORM, SEQUENTIAL, SET_GRAD_ENABLED, SQUASHING_FUNCTIONS, SQUASHING_METHODS, SQUASHING_MODULES,
    WEIGHT_WRAPPERS,
)

if TYPE_CHECKING:
    from trainlint.facts import FileFacts
    from trainlint.facts.collect import ClassInfo

WEIGHT = "weight"  # torch's Conv/Linear
BLOCK = "block"  # any other module with parameters (a project block, an LSTM, attention)
SQUASH = "squash"  # sigmoid, tanh and their hard variants
NORM_KIND = "norm"
OTHER = "other"

_ORDERED_DICTS = frozenset({"collections.OrderedDict", "OrderedDict", "dict"})
_MAX_UNROLL = 64
_MAX_INLINE = 4


@dataclass(eq=False)
class Element:
    """One module (or one squashing call) in a stack or a forward path."""

    kind: str
    qualname: str | None
    #: Where a finding about this element goes: the constructor call, or the call in forward().
    node: cst.CSTNode
    #: The constructor call, when the element was built from one.
    call: cst.Call | None = None
    #: A Conv/Linear whose output goes through a weight normalization (spectral_norm, ...).
    weight_normalized: bool = False

    @property
    def has_weights(self) -> bool:
        return self.kind in (WEIGHT, BLOCK)

    @property
    def is_layer(self) -> bool:
        """A Conv/Linear layer or one of the project's blocks: what the depth of a stack counts.

        torch's own modules with parameters (Embedding, LSTM, PReLU, attention) do not count.
        """
        return self.kind == WEIGHT or (self.kind == BLOCK and not (self.qualname or "").startswith("torch."))

    @property
    def is_conv(self) -> bool:
        return self.kind == WEIGHT and self.qualname in CONV

    @property
    def is_batch_norm(self) -> bool:
        return self.qualname in BATCH_NORM


Seq = tuple[Element, ...]


def _unknown(node: cst.CSTNode) -> Seq:
    return (Element(OTHER, None, node),)





# ---------------------------------------------------------------------------------------
# Stacks: what containers built in __init__ (or anywhere) hold


@dataclass
class _Scope:
    env: dict[str, Seq] = field(default_factory=dict)
    consts: dict[str, object] = field(default_factory=dict)
    returns: list[Seq] = field(default_factory=list)
    cls: "ClassInfo | None" = None

    def copy(self) -> "_Scope":
        return _Scope(dict(self.env), dict(self.consts), [], self.cls)


class Stacks:
    """The file's stacks: every `nn.Sequential(...)` it builds, and what each name holds."""

    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        #: id(nn.Sequential call) -> its elements, in order
        self.sequentials: dict[int, tuple[cst.Call, Seq]] = {}
        self._functions = {
            info.name: info.node for info in facts.collected.functions if info.cls is None and info.parent is None
        }
        self._constants: dict[str, cst.BaseExpression] = {}
        for stmt in facts.module.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                        self._constants[small.targets[0].target.value] = small.value
        self._returns: dict[tuple[int, str], Seq | None] = {}
        self._inlining: list[int] = []
        self._walked: set[int] = set()
        self._walked_module = False

    # public --------------------------------------------------------------------------
    def all_sequentials(self) -> list[tuple[cst.Call, Seq]]:
        """Every nn.Sequential call of the file with what it holds."""
        if not self._walked_module:
            self._walked_module = True
            self.walk(self.facts.module.body, _Scope())
        for call in self.facts.collected.calls:
            if call.qualname == SEQUENTIAL and id(call.node) not in self.sequentials:
                func = call.function.node if call.function else None
                if func is not None and id(func) not in self._walked:
                    self._walked.add(id(func))
                    self.walk(func.body.body if isinstance(func.body, cst.IndentedBlock) else [], _Scope(cls=call.function.cls if call.function else None))
                if id(call.node) not in self.sequentials:
                    self.seq(call.node, _Scope())
        return list(self.sequentials.values())

    def attributes(self, functions: Sequence[cst.FunctionDef], cls: "ClassInfo") -> dict[str, Seq]:
        """`self.<attr>` -> the modules it holds, from __init__ and the helpers it calls."""
        scope = _Scope(cls=cls)
        for func in functions:
            self._walked.add(id(func))
            self.walk(_body(func), scope)
        return {key[5:]: seq for key, seq in scope.env.items() if key.startswith("self.") and key.count(".") == 1}

    # statements -----------------------------------------------------------------------
    def walk(self, body: Iterable[cst.CSTNode], scope: _Scope) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._small(small, scope)
            elif isinstance(stmt, cst.For):
                self._for(stmt, scope)
            elif isinstance(stmt, cst.If):
                self._if(stmt, scope)
            elif isinstance(stmt, (cst.While, cst.With)):
                self.walk(_body(stmt), scope)
            elif isinstance(stmt, cst.Try):
                self.walk(_body(stmt), scope)
                if stmt.orelse is not None:
                    self.walk(_body(stmt.orelse), scope)

    def _small(self, small: cst.BaseSmallStatement, scope: _Scope) -> None:
        if isinstance(small, (cst.Assign, cst.AnnAssign)):
            if small.value is None:
                return
            value = self.seq(small.value, scope)
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            for target in targets:
                key = dotted(target)
                if key is None:
                    continue
                if value is None:
                    scope.env.pop(key, None)
                else:
                    scope.env[key] = value
        elif isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
            key = dotted(small.target)
            if key in scope.env:
                scope.env[key] = scope.env[key] + (self.seq(small.value, scope) or _unknown(small.value))
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            func = call.func
            if isinstance(func, cst.Attribute):
                key = dotted(func.value)
                args = positional(call)
                if key in scope.env and args:
                    method = func.attr.value
                    if method in ("append", "extend"):
                        scope.env[key] = scope.env[key] + (self.seq(args[0], scope) or _unknown(args[0]))
                    elif method == "add_module" and len(args) > 1:
                        scope.env[key] = scope.env[key] + (self.seq(args[1], scope) or _unknown(args[1]))
                    elif method == "insert":
                        scope.env[key] = _unknown(call) + scope.env[key]
                    return
            self.seq(call, scope)
        elif isinstance(small, cst.Return) and small.value is not None:
            seq = self.seq(small.value, scope)
            if seq is not None:
                scope.returns.append(seq)

    def _for(self, stmt: cst.For, scope: _Scope) -> None:
        values = self._iteration_values(stmt.iter, scope)
        name = stmt.target.value if isinstance(stmt.target, cst.Name) else None
        if values is None:
            self.walk(_body(stmt), scope)
        else:
            for value in values[:_MAX_UNROLL]:
                if name:
                    scope.consts[name] = value
                self.walk(_body(stmt), scope)
            if name:
                scope.consts.pop(name, None)
        if stmt.orelse is not None:
            self.walk(_body(stmt.orelse), scope)

    def _iteration_values(self, node: cst.BaseExpression, scope: _Scope) -> list | None:
        """The values a loop runs over, when the source says so."""
        if isinstance(node, cst.Call) and dotted(node.func) == "range":
            try:
                bounds = [literal_value(a) for a in positional(node)]
                return list(range(*bounds))[:_MAX_UNROLL]
            except (ValueError, TypeError):
                return None
        if isinstance(node, cst.Call) and dotted(node.func) == "enumerate":
            return None
        if isinstance(node, cst.Name) and isinstance(scope.consts.get(node.value), (list, tuple)):
            return list(scope.consts[node.value])  # type: ignore[arg-type]
        expr = node
        if isinstance(node, cst.Name) and node.value in self._constants:
            expr = self._constants[node.value]
        elif isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value in self._constants:
            # cfg[name] over a module-level dict of configs: the shortest one is the lower bound
            try:
                table = literal_value(self._constants[node.value.value])
            except ValueError:
                return None
            if isinstance(table, dict) and table and all(isinstance(v, (list, tuple)) for v in table.values()):
                return list(min(table.values(), key=len))
            return None
        try:
            value = literal_value(expr)
        except ValueError:
            return None
        return list(value) if isinstance(value, (list, tuple)) else None

    def _if(self, stmt: cst.If, scope: _Scope) -> None:
        truth = self._truth(stmt.test, scope)
        orelse = stmt.orelse
        if truth is True:
            self.walk(_body(stmt), scope)
            return
        if truth is False:
            if isinstance(orelse, cst.If):
                self._if(orelse, scope)
            elif orelse is not None:
                self.walk(_body(orelse), scope)
            return
        first, second = scope.copy(), scope.copy()
        self.walk(_body(stmt), first)
        if isinstance(orelse, cst.If):
            self._if(orelse, second)
        elif orelse is not None:
            self.walk(_body(orelse), second)
        for key in set(first.env) | set(second.env):
            a, b = first.env.get(key), second.env.get(key)
            if a is None or b is None:
                if key in scope.env or (a or b) is None:
                    scope.env.pop(key, None)
                else:
                    scope.env[key] = a or b  # type: ignore[assignment]
            else:
                scope.env[key] = a if len(a) >= len(b) else b
        scope.returns.extend(first.returns + second.returns)

    def _truth(self, test: cst.BaseExpression, scope: _Scope) -> bool | None:
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = self._truth(test.expression, scope)
            return None if inner is None else not inner
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Name):
            if test.left.value not in scope.consts:
                return None
            left = scope.consts[test.left.value]
            comparison = test.comparisons[0]
            try:
                right = literal_value(comparison.comparator)
            except ValueError:
                return None
            op = comparison.operator
            try:
                if isinstance(op, cst.Equal):
                    return left == right
                if isinstance(op, cst.NotEqual):
                    return left != right
                if isinstance(op, cst.In):
                    return left in right  # type: ignore[operator]
                if isinstance(op, cst.NotIn):
                    return left not in right  # type: ignore[operator]
            except TypeError:
                return None
        if isinstance(test, cst.Call) and dotted(test.func) == "isinstance":
            args = positional(test)
            if len(args) == 2 and isinstance(args[0], cst.Name) and args[0].value in scope.consts:
                types = {"int": int, "str": str, "float": float, "list": list, "tuple": tuple}
                kind = types.get(dotted(args[1]) or "")
                if kind is not None:
                    return isinstance(scope.consts[args[0].value], kind)
        return None

    # expressions ----------------------------------------------------------------------
    def seq(self, node: cst.BaseExpression, scope: _Scope) -> Seq | None:
        """The modules an expression holds, in order; None when it is not a module or list of them."""
        key = dotted(node)
        if key is not None and key in scope.env:
            return scope.env[key]
        if isinstance(node, cst.Call):
            return self._call(node, scope)
        if isinstance(node, (cst.List, cst.Tuple)):
            return self._elements(node.elements, scope)
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
            inner = self.seq(node.elt, scope)
            if inner is None:
                return None
            values = self._iteration_values(node.for_in.iter, scope) if node.for_in.inner_for_in is None else None
            return inner * max(1, len(values or [0]))
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Add):
                left, right = self.seq(node.left, scope), self.seq(node.right, scope)
                if left is not None and right is not None:
                    return left + right
            elif isinstance(node.operator, cst.Multiply):
                left = self.seq(node.left, scope)
                try:
                    times = literal_value(node.right)
                except ValueError:
                    times = 1
                if left is not None and isinstance(times, int):
                    return left * max(1, min(times, _MAX_UNROLL))
        return None

    def _elements(self, elements: Sequence[cst.BaseElement], scope: _Scope) -> Seq:
        out: Seq = ()
        for element in elements:
            out += self.seq(element.value, scope) or _unknown(element.value)
        return out

    def _call(self, call: cst.Call, scope: _Scope) -> Seq | None:
        facts = self.facts
        qualname = facts.qualname(call.func)
        if qualname == SEQUENTIAL:
            out: Seq = ()
            for arg in call.args:
                if arg.keyword is not None:
                    continue
                if arg.star == "*":
                    out += self.seq(arg.value, scope) or _unknown(arg.value)
                elif isinstance(arg.value, cst.Call) and facts.qualname(arg.value.func) in _ORDERED_DICTS:
                    out += self._dict_values(arg.value, scope)
                elif isinstance(arg.value, cst.Dict):
                    out += self._elements([cst.Element(e.value) for e in arg.value.elements if isinstance(e, cst.DictElement)], scope)
                else:
                    out += self.seq(arg.value, scope) or _unknown(arg.value)
            known = self.sequentials.get(id(call))
            if known is None or _weights(out) > _weights(known[1]):
                self.sequentials[id(call)] = (call, out)
            return out
        if qualname == MODULE_LIST:
            args = positional(call)
            return (self.seq(args[0], scope) or _unknown(args[0])) if args else ()
        if qualname in WEIGHT_WRAPPERS:
            args = positional(call)
            inner = self.seq(args[0], scope) if args else None
            if inner is None:
                return None
            return tuple(replace(e, weight_normalized=True) for e in inner)
        if qualname and facts.is_module_class(qualname):
            return (element_for(facts, qualname, call),)
        target = self._callee(call, scope)
        if target is not None:
            return self._returned(target, call, scope)
        return None

    def _constant(self, node: cst.BaseExpression, scope: _Scope):
        """A literal, a bound loop value, or an entry of a module-level literal table."""
        if isinstance(node, cst.Name) and node.value in scope.consts:
            return scope.consts[node.value]
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value in self._constants:
            try:
                table = literal_value(self._constants[node.value.value])
                index = node.slice[0].slice
                key = literal_value(index.value) if isinstance(index, cst.Index) else None
                return table[key]
            except (ValueError, KeyError, IndexError, TypeError):
                return None
        if isinstance(node, cst.Name) and node.value in self._constants:
            node = self._constants[node.value]
        try:
            return literal_value(node)
        except ValueError:
            return None

    def _dict_values(self, call: cst.Call, scope: _Scope) -> Seq:
        args = positional(call)
        if not args or not isinstance(args[0], (cst.List, cst.Tuple)):
            return _unknown(call)
        out: Seq = ()
        for element in args[0].elements:
            pair = element.value
            if isinstance(pair, cst.Tuple) and len(pair.elements) == 2:
                out += self.seq(pair.elements[1].value, scope) or _unknown(pair)
            else:
                out += _unknown(pair)
        return out

    def _callee(self, call: cst.Call, scope: _Scope) -> cst.FunctionDef | None:
        name = dotted(call.func)
        if name is None:
            return None
        if name.startswith("self.") and name.count(".") == 1 and scope.cls is not None:
            return scope.cls.methods.get(name[5:])
        if "." not in name and not self.facts.names.is_imported(name):
            return self._functions.get(name)
        return None

    def _returned(self, func: cst.FunctionDef, call: cst.Call, scope: _Scope) -> Seq | None:
        """What a builder function returns, with the literal arguments of this call bound."""
        inner = _Scope(cls=scope.cls)
        params = [p.name.value for p in func.params.params]
        if params and params[0] == "self" and scope.cls is not None:
            params = params[1:]
        for name, arg in zip(params, call.args):
            if arg.keyword is not None or arg.star:
                break
            value = self._constant(arg.value, scope)
            if value is not None:
                inner.consts[name] = value
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in params:
                value = self._constant(arg.value, scope)
                if value is not None:
                    inner.consts[arg.keyword.value] = value
        key = (id(func), repr(sorted(inner.consts.items())))
        if key in self._returns:
            cached = self._returns[key]
            # each call builds its own modules: fresh elements, so two attributes never share one
            return None if cached is None else tuple(replace(e) for e in cached)
        if id(func) in self._inlining or len(self._inlining) >= _MAX_INLINE:
            return None
        self._inlining.append(id(func))
        self._walked.add(id(func))
        try:
            self.walk(_body(func), inner)
        finally:
            self._inlining.pop()
        result = max(inner.returns, key=len) if inner.returns else None
        self._returns[key] = result
        return result


def element_for(facts: "FileFacts", qualname: str, call: cst.Call) -> Element:
    if qualname in CONV or qualname in LINEAR:
        kind = WEIGHT
    elif qualname in SQUASHING_MODULES:
        kind = SQUASH
    elif qualname in NORM or qualname.rsplit(".", 1)[-1].endswith(("Norm", "Norm1d", "Norm2d", "Norm3d", "NormAct2d")):
        kind = NORM_KIND
    elif facts.class_has_parameters(qualname):
        kind = BLOCK
    else:
        kind = OTHER
    return Element(kind, qualname, call, call)


def _weights(seq: Seq) -> int:
    return sum(e.has_weights for e in seq)


def _body(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    body = getattr(node, "body", None)
    if isinstance(body, cst.IndentedBlock):
        return body.body
    if isinstance(body, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body.body)]
    return []


# ---------------------------------------------------------------------------------------
# Paths: what forward() does to its input


Path = tuple[Element, ...]


@dataclass(eq=False)
class Store:
    """`self.<attr> = <value>` run while forward() runs."""

    attr: str
    value: cst.BaseExpression
    statement: cst.CSTNode
    #: The value carries an autograd graph: derived from the input or from a layer call.
    tensor: bool
    #: Run under no_grad/inference_mode or only in eval mode (`if not self.training`).
    guarded: bool


class Flow:
    """One walk of forward() (and the methods it calls) over the class's stacks."""

    def __init__(self, facts: "FileFacts", cls: "ClassInfo", attributes: dict[str, Seq]) -> None:
        self.facts = facts
        self.cls = cls
        self.attributes = attributes
        self.returns: list[Path] = []
        #: ids of squashing calls whose output multiplies another tensor
        self.gates: set[int] = set()
        self.stores: list[Store] = []
        #: id(constructor call) of a layer -> what consumed its output (None: anything but a layer)
        self.consumers: dict[int, list[Element | None]] = {}
        #: (attr, call) where a module holding a BatchNorm is applied to a tensor that already went through it
        self.reapplied: list[tuple[str, cst.Call]] = []
        self._inlining: list[int] = []
        self._guard = 0
        forward = cls.methods.get("forward")
        if forward is not None:
            self.returns = self._function(forward, [()])

    def _function(self, func: cst.FunctionDef, args: list[Path | None]) -> list[Path]:
        if id(func) in self._inlining or len(self._inlining) >= _MAX_INLINE:
            return []
        params = [p.name.value for p in func.params.params]
        if params and params[0] == "self":
            params = params[1:]
        env: dict[str, Path] = {}
        for name, path in zip(params, args):
            if path is not None:
                env[name] = path
        self._inlining.append(id(func))
        returns: list[Path] = []
        try:
            self._walk(_body(func), env, {}, returns)
        finally:
            self._inlining.pop()
        return returns

    # statements -----------------------------------------------------------------------
    def _walk(self, body: Iterable[cst.CSTNode], env: dict, mods: dict, returns: list) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._small(small, env, mods, returns)
            elif isinstance(stmt, cst.If):
                guarded = _eval_only(stmt.test)
                self.eval(stmt.test, env, mods)
                first, second = dict(env), dict(env)
                self._guard += guarded
                self._walk(_body(stmt), first, mods, returns)
                self._guard -= guarded
                orelse = stmt.orelse
                training_else = _training_only(stmt.test)
                self._guard += training_else
                if isinstance(orelse, cst.If):
                    self._walk([orelse], second, mods, returns)
                elif orelse is not None:
                    self._walk(_body(orelse), second, mods, returns)
                self._guard -= training_else
                for key in set(first) | set(second):
                    a, b = first.get(key), second.get(key)
                    merged = _longest([a, b])
                    for other in (a, b):
                        if other is not merged and other and merged and other[-1] is not merged[-1]:
                            self._use(other)  # the branch not followed goes on to unknown uses
                    if merged is None:
                        env.pop(key, None)
                    else:
                        env[key] = merged
            elif isinstance(stmt, cst.For):
                self._for(stmt, env, mods, returns)
            elif isinstance(stmt, cst.With):
                guarded = any(_no_grad(self.facts, item.item) for item in stmt.items)
                for item in stmt.items:
                    self.eval(item.item, env, mods)
                self._guard += guarded
                self._walk(_body(stmt), env, mods, returns)
                self._guard -= guarded
            elif isinstance(stmt, (cst.While, cst.Try)):
                self._walk(_body(stmt), env, mods, returns)

    def _for(self, stmt: cst.For, env: dict, mods: dict, returns: list) -> None:
        target = stmt.target
        iterable = stmt.iter
        if isinstance(iterable, cst.Call) and dotted(iterable.func) == "enumerate" and positional(iterable):
            iterable = positional(iterable)[0]
            if isinstance(target, cst.Tuple) and len(target.elements) == 2:
                target = target.elements[1].value
        stack = self._stack_of(iterable)
        if stack is not None and isinstance(target, cst.Name):
            for element in stack[:_MAX_UNROLL]:
                mods[target.value] = (element,)
                self._walk(_body(stmt), env, mods, returns)
            mods.pop(target.value, None)
            return
        self.eval(stmt.iter, env, mods)
        self._walk(_body(stmt), env, mods, returns)

    def _stack_of(self, node: cst.BaseExpression) -> Seq | None:
        name = dotted(node)
        if name and name.startswith("self.") and name.count(".") == 1:
            return self.attributes.get(name[5:])
        return None

    def _small(self, small: cst.BaseSmallStatement, env: dict, mods: dict, returns: list) -> None:
        if isinstance(small, (cst.Assign, cst.AnnAssign)):
            if small.value is None:
                return
            value = self.eval(small.value, env, mods)
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            for target in targets:
                self._bind(target, value, small, env)
        elif isinstance(small, cst.AugAssign):
            value = self.eval(small.value, env, mods)
            key = dotted(small.target)
            current = env.get(key) if key else None
            if isinstance(small.operator, (cst.MultiplyAssign, cst.MatrixMultiplyAssign)):
                if not is_number(small.value):
                    self._gate(current)
                    self._gate(value)
                result = current if current is not None else value
            else:
                result = _longest([current, value])
            if key:
                self._bind(small.target, result, small, env)
        elif isinstance(small, cst.Return) and small.value is not None:
            value = small.value
            items = [e.value for e in value.elements] if isinstance(value, cst.Tuple) else [value]
            for item in items:
                path = self.eval(item, env, mods)
                self._use(path)
                if path is not None:
                    returns.append(path)
        elif isinstance(small, cst.Expr):
            self.eval(small.value, env, mods)

    def _bind(self, target: cst.BaseExpression, value: Path | None, statement: cst.CSTNode, env: dict) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind(element.value, value, statement, env)
            return
        key = dotted(target)
        if key is None:
            return
        if key.startswith("self.") and key.count(".") == 1 and isinstance(statement, (cst.Assign, cst.AnnAssign)):
            assert statement.value is not None
            # an empty path is the input itself (or a scalar multiple): often raw data, not a graph
            self.stores.append(Store(key[5:], statement.value, statement, bool(value), self._guard > 0))
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value

    # expressions ----------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression, env: dict, mods: dict) -> Path | None:
        """The path of the tensor an expression computes; None when it carries no graph."""
        key = dotted(node)
        if key is not None and key in env:
            return env[key]
        if isinstance(node, cst.Call):
            return self._call(node, env, mods)
        if isinstance(node, cst.Attribute):
            path = self.eval(node.value, env, mods)
            self._use(path)
            return None if node.attr.value in GRAPHLESS else path
        if isinstance(node, cst.Subscript):
            path = self.eval(node.value, env, mods)
            self._use(path)
            return path
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node, env, mods)
        if isinstance(node, cst.UnaryOperation):
            return self.eval(node.expression, env, mods)
        if isinstance(node, cst.IfExp):
            self.eval(node.test, env, mods)
            return _longest([self.eval(node.body, env, mods), self.eval(node.orelse, env, mods)])
        if isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self.eval(element.value, env, mods)
            return None
        if isinstance(node, cst.Comparison):
            self.eval(node.left, env, mods)
            for c in node.comparisons:
                self.eval(c.comparator, env, mods)
            return None
        return None

    def _binary(self, node: cst.BinaryOperation, env: dict, mods: dict) -> Path | None:
        left, right = self.eval(node.left, env, mods), self.eval(node.right, env, mods)
        self._use(left)
        self._use(right)
        op = node.operator
        if isinstance(op, (cst.Multiply, cst.MatrixMultiply)):
            if is_number(node.left):
                return right
            if is_number(node.right):
                return left
            self._gate(left)
            self._gate(right)
            plain = [p for p in (left, right) if p is not None and not _squashed(p)]
            return _longest(plain) if plain else _longest([left, right])
        if isinstance(op, (cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)):
            return left if left is not None else right
        return _longest([left, right])

    def _use(self, path: Path | None, consumer: Element | None = None) -> None:
        if path and path[-1].call is not None:
            self.consumers.setdefault(id(path[-1].call), []).append(consumer)

    def _gate(self, path: Path | None) -> None:
        if path is None:
            return
        for element in reversed(path):
            if element.has_weights:
                break
            if element.kind == SQUASH:
                self.gates.add(id(element.node))

    def _call(self, call: cst.Call, env: dict, mods: dict) -> Path | None:
        func = call.func
        args = positional(call)
        arg_paths = [self.eval(a, env, mods) for a in args]
        for arg in call.args:
            if arg.keyword is not None or arg.star:
                self.eval(arg.value, env, mods)
        first = next((p for p in arg_paths if p is not None), None)
        for path in arg_paths[1:] if arg_paths and arg_paths[0] is first else arg_paths:
            self._use(path)
        name = dotted(func)
        # a module of the class: self.conv(x), self.blocks[i](x), a loop variable over a stack
        if name and name.startswith("self.") and name.count(".") == 1:
            attr = name[5:]
            if attr in self.attributes:
                stack = self.attributes[attr]
                if first and any(e.is_batch_norm for e in stack):
                    seen = {id(e) for e in first}
                    if any(id(e) in seen for e in stack if e.is_batch_norm):
                        self.reapplied.append((attr, call))
                return self._apply(first or (), stack, call)
            method = self.cls.methods.get(attr)
            if method is not None:
                returned = self._function(method, arg_paths)
                return _longest(returned) if returned else first
            return (first or ()) + (Element(OTHER, None, call),)
        if isinstance(func, cst.Subscript):
            stack = self._stack_of(func.value)
            if stack:
                kinds = {e.kind for e in stack}
                element = stack[0] if len(kinds) == 1 else Element(OTHER, None, call)
                return (first or ()) + (replace(element, node=call),)
        if isinstance(func, cst.Name) and func.value in mods:
            return self._apply(first or (), mods[func.value], call)
        qualname = self.facts.qualname(func)
        if qualname in GRAPHLESS_CALLS:
            return None
        if qualname in SQUASHING_FUNCTIONS:
            return (first or ()) + (Element(SQUASH, qualname, call),)
        if qualname in GATING_FUNCTIONS:
            for path in arg_paths:
                self._gate(path)
            plain = [p for p in arg_paths if p is not None and not _squashed(p)]
            return _longest(plain) if plain else first
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = self.eval(func.value, env, mods)
            if method in GRAPHLESS:
                return None
            if receiver is None and (qualname or "").startswith("torch."):
                return first if first is None else first + (Element(OTHER, qualname, call),)
            if method in SQUASHING_METHODS:
                return (receiver or ()) + (Element(SQUASH, method, call),)
            if method in GATING_METHODS:
                self._gate(receiver)
                for path in arg_paths:
                    self._gate(path)
                plain = [p for p in [receiver, *arg_paths] if p is not None and not _squashed(p)]
                return _longest(plain) if plain else receiver
            base = receiver if receiver is not None else first
            return None if base is None else base + (Element(OTHER, method, call),)
        if first is None:
            return None
        return first + (Element(OTHER, qualname, call),)

    def _apply(self, path: Path, stack: Seq, call: cst.Call) -> Path:
        self._use(path, stack[0] if stack else None)
        if len(stack) == 1:
            # a single layer: findings about its use in forward() point at the call
            return path + (replace(stack[0], node=call) if stack[0].kind == SQUASH else stack[0],)
        return path + stack


def _squashed(path: Path) -> bool:
    for element in reversed(path):
        if element.kind == SQUASH:
            return True
        if element.has_weights:
            return False
    return False


def _longest(paths: Sequence[Path | None]) -> Path | None:
    known = [p for p in paths if p is not None]
    if not known:
        return None
    return max(known, key=lambda p: (sum(e.has_weights for e in p), len(p)))



def _no_grad(facts: "FileFacts", node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Call):
        qualname = facts.qualname(node.func)
        if qualname == SET_GRAD_ENABLED:
            args = positional(node)
            return bool(args) and isinstance(args[0], cst.Name) and args[0].value == "False"
        return qualname in NO_GRAD
    return False


def _is_training(node: cst.BaseExpression) -> bool:
    return dotted(node) == "self.training"


def _eval_only(test: cst.BaseExpression) -> bool:
    """`if not self.training:` (and `self.training is False`): eval-mode code."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _is_training(test.expression)
    if isinstance(test, cst.Comparison) and _is_training(test.left) and len(test.comparisons) == 1:
        c = test.comparisons[0]
        return isinstance(c.operator, (cst.Is, cst.Equal)) and dotted(c.comparator) == "False"
    return False


def _training_only(test: cst.BaseExpression) -> bool:
    """`if self.training:` whose `else` branch is eval-mode code."""
    return _is_training(test)


__all__ = [
    "BIAS_POSITION", "BLOCK", "Element", "Flow", "NORM_KIND", "OTHER", "Path", "SQUASH", "Seq", "Stacks", "Store", "WEIGHT",
    "element_for", "file_paths", "has_bias", "keyword", "positional",
]


def has_bias(element: Element) -> bool | None:
    """Whether a Conv/Linear element is built with a bias; None when the source does not say."""
    call = element.call
    if call is None or element.qualname not in BIAS_POSITION:
        return None
    if any(arg.star for arg in call.args):
        return None
    arg = keyword_arg(call, "bias")
    if arg is None:
        args = positional(call)
        position = BIAS_POSITION[element.qualname]
        if len(args) <= position:
            return True
        value = args[position]
    else:
        value = arg.value
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return value.value == "True"
    return None


def file_paths(facts: "FileFacts") -> list[Path]:
    """Every stack of the file in order: forward() of each module class, then each nn.Sequential."""
    paths: list[Path] = []
    for module_class in facts.module_classes:
        paths.extend(module_class.flow.returns)
    paths.extend(seq for _, seq in facts.stacks.all_sequentials())
    return paths
