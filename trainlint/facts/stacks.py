"""What a model's containers hold: the layers of every `nn.Sequential(...)` and
`nn.ModuleList`, in order.

Read from source without running it, including lists built with `layers += [...]` /
`layers.append(...)` in `__init__` helpers and module-level builder functions, and
loops over literal configs. The walk is a small abstract interpretation over
statements: assignments, `+=`, `append`/`extend`, `for` (unrolled when the iterable is
a literal or a known stack), `if` (a condition on a literal loop value is decided;
otherwise both branches are walked and the longer result kept). It is deliberately
partial: what it cannot read becomes an `OTHER` element, which never makes a rule fire.

What forward() does with these stacks is forward.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Sequence

import libcst as cst

from trainlint.facts.kinds import ElementKind
from trainlint.facts.syntax import body_of, boolean, dotted, keyword_arg, literal_value, positional
from trainlint.facts.vocabulary import (
    BATCH_NORM, BIAS_POSITION, CONV, LINEAR, MODULE_LIST, NORM, SEQUENTIAL, SQUASHING_MODULES, WEIGHT_WRAPPERS,
)

if TYPE_CHECKING:
    from trainlint.facts import FileFacts
    from trainlint.facts.collect import ClassInfo


_ORDERED_DICTS = frozenset({"collections.OrderedDict", "OrderedDict", "dict"})
_MAX_UNROLL = 64
_MAX_INLINE = 4


@dataclass(eq=False)
class Element:
    """One module (or one squashing call) in a stack or a forward path."""

    kind: ElementKind
    qualname: str | None
    #: Where a finding about this element goes: the constructor call, or the call in forward().
    node: cst.CSTNode
    #: The constructor call, when the element was built from one.
    call: cst.Call | None = None
    #: A Conv/Linear whose output goes through a weight normalization (spectral_norm, ...).
    weight_normalized: bool = False

    @property
    def has_weights(self) -> bool:
        return self.kind in (ElementKind.WEIGHT, ElementKind.BLOCK)

    @property
    def is_layer(self) -> bool:
        """A Conv/Linear layer or one of the project's blocks: what the depth of a stack counts.

        torch's own modules with parameters (Embedding, LSTM, PReLU, attention) do not count.
        """
        return self.kind == ElementKind.WEIGHT or (self.kind == ElementKind.BLOCK and not (self.qualname or "").startswith("torch."))

    @property
    def is_conv(self) -> bool:
        return self.kind == ElementKind.WEIGHT and self.qualname in CONV

    @property
    def is_batch_norm(self) -> bool:
        return self.qualname in BATCH_NORM


Seq = tuple[Element, ...]


def _unknown(node: cst.CSTNode) -> Seq:
    return (Element(ElementKind.OTHER, None, node),)





# ---------------------------------------------------------------------------------------
# Stacks: what containers built in __init__ (or anywhere) hold


@dataclass
class _Scope:
    env: dict[str, Seq] = field(default_factory=dict)
    consts: dict[str, object] = field(default_factory=dict)
    returns: list[Seq] = field(default_factory=list)
    cls: "ClassInfo | None" = None
    #: Names bound to an `nn.Sequential(...)` call, which `add_module`/`append` fill later.
    sequential_of: dict[str, cst.Call] = field(default_factory=dict)

    def copy(self) -> "_Scope":
        return _Scope(dict(self.env), dict(self.consts), [], self.cls, dict(self.sequential_of))


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
            self.walk(body_of(func), scope)
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
                self.walk(body_of(stmt), scope)
            elif isinstance(stmt, cst.Try):
                self.walk(body_of(stmt), scope)
                if stmt.orelse is not None:
                    self.walk(body_of(stmt.orelse), scope)

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
                if isinstance(small.value, cst.Call) and self.facts.qualname(small.value.func) == SEQUENTIAL:
                    scope.sequential_of[key] = small.value
                else:
                    scope.sequential_of.pop(key, None)
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
                    built = scope.sequential_of.get(key)
                    if built is not None:  # `net = nn.Sequential()` then `net.add_module("fc1", nn.Linear(...))`
                        self.sequentials[id(built)] = (built, scope.env[key])
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
            self.walk(body_of(stmt), scope)
        else:
            for value in values[:_MAX_UNROLL]:
                if name:
                    scope.consts[name] = value
                self.walk(body_of(stmt), scope)
            if name:
                scope.consts.pop(name, None)
        if stmt.orelse is not None:
            self.walk(body_of(stmt.orelse), scope)

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
            self.walk(body_of(stmt), scope)
            return
        if truth is False:
            if isinstance(orelse, cst.If):
                self._if(orelse, scope)
            elif orelse is not None:
                self.walk(body_of(orelse), scope)
            return
        first, second = scope.copy(), scope.copy()
        self.walk(body_of(stmt), first)
        if isinstance(orelse, cst.If):
            self._if(orelse, second)
        elif orelse is not None:
            self.walk(body_of(orelse), second)
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
            self.walk(body_of(func), inner)
        finally:
            self._inlining.pop()
        result = max(inner.returns, key=len) if inner.returns else None
        self._returns[key] = result
        return result


def element_for(facts: "FileFacts", qualname: str, call: cst.Call) -> Element:
    if qualname in CONV or qualname in LINEAR:
        kind = ElementKind.WEIGHT
    elif qualname in SQUASHING_MODULES:
        kind = ElementKind.SQUASH
    elif qualname in NORM or qualname.rsplit(".", 1)[-1].endswith(("Norm", "Norm1d", "Norm2d", "Norm3d", "NormAct2d")):
        kind = ElementKind.NORM
    elif facts.class_has_parameters(qualname):
        kind = ElementKind.BLOCK
    else:
        kind = ElementKind.OTHER
    return Element(kind, qualname, call, call)


def _weights(seq: Seq) -> int:
    return sum(e.has_weights for e in seq)



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
    return boolean(value)


__all__ = ["Element", "Seq", "Stacks", "element_for", "has_bias"]
