"""Normalization written by hand: `(x - mean) / std`, `x.sub(m).div(s)`, `x * 2 - 1`.

A transform pipeline without Normalize is fine when the inputs are normalized
somewhere else; these are the places the data facts look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.roles import split_words
from trainlint.facts.syntax import dotted, number

if TYPE_CHECKING:
    from trainlint.facts.collect import Collected

_STAT_WORDS = frozenset({"mean", "mu", "avg", "average", "std", "stdev", "sigma", "var", "scale", "norm"})


def _mentions_statistic(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Float, cst.Integer)):
        return True
    name = dotted(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    if isinstance(expr, cst.Subscript):
        name = dotted(expr.value)
    if isinstance(expr, cst.Call):
        name = dotted(expr.func)  # x.mean(), x.std(), torch.tensor(MEAN)
        if name and name.rsplit(".", 1)[-1] in ("tensor", "as_tensor", "view", "reshape"):
            return True
    return bool(name) and any(w.lower() in _STAT_WORDS for w in split_words(name))


def is_sub_div_chain(call: cst.Call) -> bool:
    """`x.sub(mean).div(std)`, `x.sub_(m).div_(s)`."""
    func = call.func
    return (
        isinstance(func, cst.Attribute)
        and func.attr.value in ("div", "div_")
        and isinstance(func.value, cst.Call)
        and isinstance(func.value.func, cst.Attribute)
        and func.value.func.attr.value in ("sub", "sub_")
    )


def normalizes_by_hand(collected: "Collected") -> bool:
    """`(x - mean) / std`, `(x - 0.5) / 0.5`, `x * 2 - 1`, `x -= mean; x /= std`: normalization
    written by hand anywhere in the file."""
    for node in collected.binary_operations:
        if (
            isinstance(node.operator, cst.Divide)
            and _is_subtraction_of_statistic(node.left)
            and _mentions_statistic(node.right)
        ):
            return True
        if (
            isinstance(node.operator, cst.Subtract)
            and isinstance(node.left, cst.BinaryOperation)
            and isinstance(node.left.operator, cst.Multiply)
            and any(number(side) == 2 for side in (node.left.left, node.left.right))
            and number(node.right) == 1
        ):
            return True
    for assign in collected.assigns:
        node = assign.node
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, (cst.SubtractAssign, cst.DivideAssign)) \
                and _mentions_statistic(node.value) and not isinstance(node.value, (cst.Integer, cst.Float)):
            return True
    return False


def _is_subtraction_of_statistic(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.BinaryOperation)
        and isinstance(expr.operator, cst.Subtract)
        and _mentions_statistic(expr.right)
    )


__all__ = ["is_sub_div_chain", "normalizes_by_hand"]
