"""Finding positions (1-based rows, 1-based columns in characters) <-> LSP positions
(0-based lines, columns in the client's code units: UTF-16 unless negotiated otherwise).

Only the lines that hold a position are looked at, so a 10 MB file with two findings
costs two line lookups, not a split of the whole text per diagnostic.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from trainlint.finding import Location

_NEWLINE = re.compile(r"\r\n|\r|\n")


class Lines:
    """The text's lines (LSP's definition: split at \\n, \\r\\n or \\r), computed once, lazily."""

    def __init__(self, source: str, codec: PositionCodec) -> None:
        self.source = source
        self.codec = codec
        self._starts: list[int] | None = None

    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in _NEWLINE.finditer(self.source)]
        return self._starts

    def __len__(self) -> int:
        return len(self.line_starts())

    def line(self, index: int) -> str:
        """Line `index` (0-based) without its line break; "" past the end."""
        starts = self.line_starts()
        if not 0 <= index < len(starts):
            return ""
        end = starts[index + 1] if index + 1 < len(starts) else len(self.source)
        return self.source[starts[index] : end].rstrip("\r\n")

    # finding -> LSP ---------------------------------------------------------
    def to_lsp(self, location: Location) -> types.Position:
        line = max(location.row - 1, 0)
        if line >= len(self):
            return self.end()
        text = self.line(line)
        column = min(max(location.column - 1, 0), len(text))
        return types.Position(line=line, character=self.codec.client_num_units(text[:column]))

    def at_offset(self, offset: int) -> types.Position:
        """The position of a character offset into the text (not inside a \\r\\n)."""
        starts = self.line_starts()
        line = bisect_right(starts, offset) - 1
        return types.Position(line=line, character=self.codec.client_num_units(self.source[starts[line]:offset]))

    def range_exact(self, start: Location, end: Location) -> types.Range:
        return types.Range(start=self.to_lsp(start), end=self.to_lsp(end))

    def end(self) -> types.Position:
        last = len(self) - 1
        return types.Position(line=last, character=self.codec.client_num_units(self.line(last)))

    def range_to_lsp(self, start: Location, end: Location) -> types.Range:
        """For a diagnostic: a zero-width range is widened to one character so every editor can show it."""
        first, last = self.to_lsp(start), self.to_lsp(end)
        if (first.line, first.character) == (last.line, last.character):
            text = self.line(first.line)
            column = min(max(start.column - 1, 0), len(text))
            if column < len(text):
                last = types.Position(line=first.line, character=self.codec.client_num_units(text[: column + 1]))
            elif column > 0:
                first = types.Position(line=first.line, character=self.codec.client_num_units(text[: column - 1]))
        return types.Range(start=first, end=last)

    # LSP -> finding ---------------------------------------------------------
    def from_lsp(self, position: types.Position) -> Location:
        text = self.line(position.line)
        units = 0
        column = 0
        for char in text:
            if units >= position.character:
                break
            units += self.codec.client_num_units(char)
            column += 1
        return Location(position.line + 1, column + 1)
