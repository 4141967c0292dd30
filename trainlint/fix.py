"""Applying fixes: text edits from findings, checked by re-parsing before anything is written."""

from __future__ import annotations

from collections.abc import Iterable

from trainlint.finding import Edit, Location


def _offsets(source: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(source):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], location: Location) -> int:
    return starts[location.row - 1] + location.column - 1


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits (later ones first, so earlier offsets stay valid).

    An edit that overlaps one already applied is skipped; the next fix pass gets it.
    """
    starts = _offsets(source)
    spans = sorted(
        ((_offset(starts, e.location), _offset(starts, e.end_location), e.content) for e in edits),
        key=lambda span: (span[0], span[1]),
        reverse=True,
    )
    out = source
    lowest = len(source) + 1
    for start, end, content in spans:
        if end > lowest:
            continue
        out = out[:start] + content + out[end:]
        lowest = start
    return out
