"""Numbers across the two processes: JSON has no NaN/Inf, so the child writes them as
strings ("nan", "inf", "-inf") and the parent reads them back. Pure Python: both the
probed child (with torch) and the analysis (without) import it."""

from __future__ import annotations

import math


def as_float(x) -> float:
    """A measured number as a float: "nan"/"inf" strings included, None as NaN."""
    if isinstance(x, str):
        return float(x)
    return float(x) if x is not None else float("nan")


def finite(x) -> bool:
    v = as_float(x)
    return not (math.isnan(v) or math.isinf(v))


def to_json(x: float) -> float | str:
    """NaN and Inf as strings, every other number as it is."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def fmean(values) -> float:
    """The mean of a non-empty series of floats (statistics.fmean, without importing the
    statistics module: 13 ms of every `check` that loads the runtime rules' catalog)."""
    values = list(values)
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def median(values) -> float:
    """The median of a non-empty series (statistics.median: the mean of the two middle values
    of an even count)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def fmt(x) -> str:
    """A number for a message: 3 significant digits, scientific when very large or small."""
    v = as_float(x)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3g}"
