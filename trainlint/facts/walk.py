"""A fast read-only traversal of a LibCST tree, for the facts' visitors.

`node.visit(visitor)` in LibCST rebuilds every node it passes (each
`_visit_and_replace_children` constructs a new dataclass, validated in
`__post_init__`), which on real code costs more than the parse itself: about 1.8 s
against 1.1 s for the parse of a 4,900-line timm file. Facts only read the tree, so
`walk` reads the children's fields in source order and calls the visitor's
`visit_<Node>` / `leave_<Node>` methods as LibCST would (a `visit_` returning False
skips the children; `leave_` is called anyway).

It skips trivia: whitespace, comments, parentheses, commas, colons, operators' tokens.
A visitor that needs those must use LibCST's own `visit`.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterator
from typing import Any

import libcst as cst

# Source order of the children, where LibCST's dataclass field order differs from it
# (read from each node's _visit_and_replace_children; tests/test_walk.py checks it).
SOURCE_ORDER: dict[str, tuple[str, ...]] = {
    "Arg": ("keyword", "value"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "FunctionDef": ("decorators", "name", "type_parameters", "params", "returns", "body"),
    "IfExp": ("body", "test", "orelse"),
    "ImportFrom": ("relative", "module", "names"),
    "MatchCase": ("pattern", "guard", "body"),
    "Param": ("star", "name", "annotation", "default"),
    "Parameters": ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "TypeAlias": ("name", "type_parameters", "value"),
    "Index": ("star", "value"),
}

TRIVIA_FIELDS = frozenset(
    {
        "lpar", "rpar", "lbrace", "rbrace", "lbracket", "rbracket", "comma", "semicolon", "equal", "colon",
        "first_colon", "second_colon", "dot", "leading_lines", "lines_after_decorators", "header", "footer",
        "indent", "trailing_whitespace", "leading_whitespace", "asynchronous", "operator", "whitespace",
        "posonly_ind", "trailing_comma", "star",
    }
)

_fields: dict[type, tuple[str, ...]] = {}
_methods: dict[tuple[type, type], tuple[Any, Any]] = {}


def child_fields(cls: type) -> tuple[str, ...]:
    names = _fields.get(cls)
    if names is None:
        text = {f.name for f in dataclasses.fields(cls) if f.type is str or f.type == "str"}  # Name.value: never a node
        order = SOURCE_ORDER.get(cls.__name__) or tuple(f.name for f in dataclasses.fields(cls))
        names = tuple(n for n in order if n not in TRIVIA_FIELDS and not n.startswith("whitespace") and n not in text)
        _fields[cls] = names
    return names


_is_node: dict[type, bool] = {}


def is_node(value: Any) -> bool:
    """isinstance(value, cst.CSTNode), by type: CSTNode is an ABC, and ABC checks were a
    fifth of the facts' time on real code."""
    kind = type(value)
    known = _is_node.get(kind)
    if known is None:
        known = _is_node[kind] = issubclass(kind, cst.CSTNode)
    return known


_getters: dict[type, Any] = {}


def _getter(cls: type) -> Any:
    """One C call that reads all of a class's child fields, as a tuple."""
    names = child_fields(cls)
    if not names:
        getter: Any = None  # a leaf: Name, Integer, SimpleString, ...
    elif len(names) == 1:
        one = operator.attrgetter(names[0])
        getter = lambda node: (one(node),)  # noqa: E731
    else:
        getter = operator.attrgetter(*names)
    _getters[cls] = getter
    return getter


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The syntax children of a node in source order, trivia left out."""
    out: list[cst.CSTNode] = []
    kinds = _is_node
    getter = _getters.get(type(node), _getter)
    if getter is _getter:
        getter = _getter(type(node))
    if getter is None:
        return out
    for value in getter(node):
        kind = type(value)
        known = kinds.get(kind)
        if known is None:
            known = is_node(value)
        if known:
            out.append(value)
        elif kind is tuple or kind is list:
            for item in value:
                known = kinds.get(type(item))
                if known or (known is None and is_node(item)):
                    out.append(item)
    return out


def walk(node: cst.CSTNode, visitor: Any) -> None:
    """Visit `node` and its syntax children in source order with `visitor`'s visit_/leave_ methods."""
    vtype = type(visitor)
    getters = _getters
    kinds = _is_node

    def go(node: cst.CSTNode) -> None:
        cls = type(node)
        key = (vtype, cls)
        methods = _methods.get(key)
        if methods is None:
            methods = (getattr(vtype, "visit_" + cls.__name__, None), getattr(vtype, "leave_" + cls.__name__, None))
            _methods[key] = methods
        visit, leave = methods
        if visit is None or visit(visitor, node) is not False:
            # children(node), inlined: this runs once per node of every file
            getter = getters.get(cls, _getter)
            if getter is _getter:
                getter = _getter(cls)
            for value in getter(node) if getter is not None else ():
                kind = type(value)
                known = kinds.get(kind)
                if known is None:
                    known = is_node(value)
                if known:
                    go(value)
                elif kind is tuple or kind is list:
                    for item in value:
                        known = kinds.get(type(item))
                        if known or (known is None and is_node(item)):
                            go(item)
        if leave is not None:
            leave(visitor, node)

    go(node)


def calls_within(node: cst.CSTNode, skip: tuple[type, ...] = (cst.Lambda, cst.FunctionDef)) -> Iterator[cst.Call]:
    """The calls inside a node (not inside nested defs and lambdas), in no particular order."""
    stack: list = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in skip:
            continue
        if kind is cst.Call:
            yield item
        stack.extend(children(item))
