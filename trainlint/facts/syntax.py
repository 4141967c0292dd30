"""Reading LibCST syntax: call arguments, literals, dotted names.

The one place fact builders and rules read a call's arguments or a literal's value, so
that `lr=0.1`, `SGD(params, 0.1)` and `SGD(*groups, 0.1)` are read the same way
everywhere. Every function here looks at the node it is given and nothing else: no
imports are resolved (that is `FileFacts.qualname`), no names are followed.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import libcst as cst

from trainlint.names import dotted


# call arguments ------------------------------------------------------------------
def keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    """The value passed as `name=...`, or None."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    """The whole `name=...` argument (for a fix that edits or removes it), or None."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional(call: cst.Call) -> list[cst.BaseExpression]:
    """The positional arguments' values, `*args` left out."""
    return [a.value for a in call.args if a.keyword is None and not a.star]


def argument(call: cst.Call, name: str, position: int | None = None) -> cst.BaseExpression | None:
    """A parameter's value: passed by keyword, else at its position among the positional
    arguments; None when not given, or when a `*args` comes at or before the position
    (which value lands there cannot be read)."""
    value = keyword(call, name)
    if value is not None or position is None:
        return value
    given = [a for a in call.args if a.keyword is None]
    if any(a.star for a in given[: position + 1]):
        return None
    return given[position].value if position < len(given) else None


def body_of(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """The statements of a def's, loop's, if's or with's body (a one-line body as one line)."""
    block = getattr(node, "body", None)
    if isinstance(block, cst.IndentedBlock):
        return block.body
    if isinstance(block, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(block.body)]
    return []


def method_name(call: cst.Call) -> str | None:
    """`step` for `optimizer.step()`; None for a call of a bare name."""
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def last_name(name: str | None) -> str:
    """The last segment of a dotted name: `StepLR` for `torch.optim.lr_scheduler.StepLR`."""
    return name.rsplit(".", 1)[-1] if name else ""


# literals ------------------------------------------------------------------------
def number(node: cst.BaseExpression | None) -> float | None:
    """An int or float literal (`-` allowed) as a float; None for anything else."""
    if node is None:
        return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        value = number(node.expression)
        return -value if value is not None else None
    if isinstance(node, (cst.Integer, cst.Float)):
        try:
            return float(node.evaluated_value)
        except (ValueError, OverflowError):
            return None
    return None


def is_number(node: cst.BaseExpression) -> bool:
    """A number literal, with or without a unary operator in front (`2`, `-0.5`)."""
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def integer_or_name(expr: cst.BaseExpression | None) -> int | str | None:
    """An int literal as int, a name or attribute as its dotted text (`num_classes`)."""
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0)
        except ValueError:
            return None
    if expr is not None:
        return dotted(expr)
    return None


def string(expr: cst.BaseExpression | None) -> str | None:
    """A string literal's value (implicit concatenation included); None for f-strings and the rest."""
    if isinstance(expr, cst.SimpleString):
        return expr.evaluated_value if isinstance(expr.evaluated_value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = string(expr.left), string(expr.right)
        return None if left is None or right is None else left + right
    return None


def boolean(expr: cst.BaseExpression | None) -> bool | None:
    """True/False for the literal names; None for anything else."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


def constant_truth(test: cst.BaseExpression) -> bool | None:
    """Whether a condition written as a constant holds: `if 0:`, `if False:`, `if not 1:`
    (how scripts switch code off); None for anything that is decided at run time."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = constant_truth(test.expression)
        return None if inner is None else not inner
    if is_none(test):
        return False
    value = boolean(test)
    if value is not None:
        return value
    if isinstance(test, (cst.Integer, cst.Float)):
        value_of = number(test)
        return None if value_of is None else value_of != 0
    return None


def is_none(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def is_false(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


def literal_value(node: cst.BaseExpression) -> object:
    """The Python value of a literal expression (numbers, strings, lists, dicts of them);
    raises ValueError when the expression is not one."""
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.Name, cst.UnaryOperation, cst.List, cst.Tuple,
                         cst.Dict, cst.ConcatenatedString)):
        try:
            return ast.literal_eval(cst.Module([]).code_for_node(node))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    raise ValueError


__all__ = [
    "argument", "body_of", "boolean", "dotted", "integer_or_name", "is_false", "is_none", "is_number",
    "keyword", "keyword_arg", "last_name", "literal_value", "method_name", "number", "positional", "string",
]
