"""What a module's forward() does to its input, in order: its forward paths.

A path is the sequence of layer calls (with Sequentials expanded, see stacks.py),
`torch.sigmoid`/`tanh` and other ops a tensor goes through from the input to an
output. The walk also records which squashing outputs are used as gates (multiplied
with another tensor, as in SE blocks, attention and LSTM cells), which layers consume
which layers' outputs, and the tensors forward() stores on `self`. What it cannot read
becomes an `OTHER` element, which never makes a rule fire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Sequence

import libcst as cst

from trainlint.facts.kinds import ElementKind
from trainlint.facts.stacks import Element, Seq
from trainlint.facts.syntax import body_of, dotted, is_false, is_number, positional
from trainlint.facts.vocabulary import (
    GATING_FUNCTIONS, GATING_METHODS, GRAPHLESS, GRAPHLESS_CALLS, NO_GRAD, SET_GRAD_ENABLED, SQUASHING_FUNCTIONS,
    SQUASHING_METHODS,
)

if TYPE_CHECKING:
    from trainlint.facts import FileFacts
    from trainlint.facts.collect import ClassInfo

_MAX_UNROLL = 64
_MAX_INLINE = 4

#: The elements a tensor went through, from forward()'s input to where it is used.
ForwardPath = tuple[Element, ...]


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


class ForwardPaths:
    """One walk of forward() (and the methods it calls) over the class's stacks."""

    def __init__(self, facts: "FileFacts", cls: "ClassInfo", attributes: dict[str, Seq]) -> None:
        self.facts = facts
        self.cls = cls
        self.attributes = attributes
        self.returns: list[ForwardPath] = []
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

    def _function(self, func: cst.FunctionDef, args: list[ForwardPath | None]) -> list[ForwardPath]:
        if id(func) in self._inlining or len(self._inlining) >= _MAX_INLINE:
            return []
        params = [p.name.value for p in func.params.params]
        if params and params[0] == "self":
            params = params[1:]
        env: dict[str, ForwardPath] = {}
        for name, path in zip(params, args):
            if path is not None:
                env[name] = path
        self._inlining.append(id(func))
        returns: list[ForwardPath] = []
        try:
            self._walk(body_of(func), env, {}, returns)
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
                self._walk(body_of(stmt), first, mods, returns)
                self._guard -= guarded
                orelse = stmt.orelse
                training_else = _training_only(stmt.test)
                self._guard += training_else
                if isinstance(orelse, cst.If):
                    self._walk([orelse], second, mods, returns)
                elif orelse is not None:
                    self._walk(body_of(orelse), second, mods, returns)
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
                self._walk(body_of(stmt), env, mods, returns)
                self._guard -= guarded
            elif isinstance(stmt, (cst.While, cst.Try)):
                self._walk(body_of(stmt), env, mods, returns)

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
                self._walk(body_of(stmt), env, mods, returns)
            mods.pop(target.value, None)
            return
        self.eval(stmt.iter, env, mods)
        self._walk(body_of(stmt), env, mods, returns)

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

    def _bind(self, target: cst.BaseExpression, value: ForwardPath | None, statement: cst.CSTNode, env: dict) -> None:
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
    def eval(self, node: cst.BaseExpression, env: dict, mods: dict) -> ForwardPath | None:
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

    def _binary(self, node: cst.BinaryOperation, env: dict, mods: dict) -> ForwardPath | None:
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

    def _use(self, path: ForwardPath | None, consumer: Element | None = None) -> None:
        if path and path[-1].call is not None:
            self.consumers.setdefault(id(path[-1].call), []).append(consumer)

    def _gate(self, path: ForwardPath | None) -> None:
        if path is None:
            return
        for element in reversed(path):
            if element.has_weights:
                break
            if element.kind == ElementKind.SQUASH:
                self.gates.add(id(element.node))

    def _call(self, call: cst.Call, env: dict, mods: dict) -> ForwardPath | None:
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
            return (first or ()) + (Element(ElementKind.OTHER, None, call),)
        if isinstance(func, cst.Subscript):
            stack = self._stack_of(func.value)
            if stack:
                kinds = {e.kind for e in stack}
                element = stack[0] if len(kinds) == 1 else Element(ElementKind.OTHER, None, call)
                return (first or ()) + (replace(element, node=call),)
        if isinstance(func, cst.Name) and func.value in mods:
            return self._apply(first or (), mods[func.value], call)
        qualname = self.facts.qualname(func)
        if qualname in GRAPHLESS_CALLS:
            return None
        if qualname in SQUASHING_FUNCTIONS:
            return (first or ()) + (Element(ElementKind.SQUASH, qualname, call),)
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
                return first if first is None else first + (Element(ElementKind.OTHER, qualname, call),)
            if method in SQUASHING_METHODS:
                return (receiver or ()) + (Element(ElementKind.SQUASH, method, call),)
            if method in GATING_METHODS:
                self._gate(receiver)
                for path in arg_paths:
                    self._gate(path)
                plain = [p for p in [receiver, *arg_paths] if p is not None and not _squashed(p)]
                return _longest(plain) if plain else receiver
            base = receiver if receiver is not None else first
            return None if base is None else base + (Element(ElementKind.OTHER, method, call),)
        if first is None:
            return None
        return first + (Element(ElementKind.OTHER, qualname, call),)

    def _apply(self, path: ForwardPath, stack: Seq, call: cst.Call) -> ForwardPath:
        self._use(path, stack[0] if stack else None)
        if len(stack) == 1:
            # a single layer: findings about its use in forward() point at the call
            return path + (replace(stack[0], node=call) if stack[0].kind == ElementKind.SQUASH else stack[0],)
        return path + stack


def _squashed(path: ForwardPath) -> bool:
    for element in reversed(path):
        if element.kind == ElementKind.SQUASH:
            return True
        if element.has_weights:
            return False
    return False


def _longest(paths: Sequence[ForwardPath | None]) -> ForwardPath | None:
    known = [p for p in paths if p is not None]
    if not known:
        return None
    return max(known, key=lambda p: (sum(e.has_weights for e in p), len(p)))



def _no_grad(facts: "FileFacts", node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Call):
        qualname = facts.qualname(node.func)
        if qualname == SET_GRAD_ENABLED:
            args = positional(node)
            return bool(args) and is_false(args[0])
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


__all__ = ["ForwardPath", "ForwardPaths", "Store"]
