"""The one edit the server sends for a cell a quick fix changes (server.actions.replacement):
applied as an editor applies it (lines split at \\n, \\r\\n or \\r, columns in UTF-16 code
units), it gives the new text exactly, whatever the two texts share."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from trainlint.server.actions import replacement
from trainlint.server.positions import Lines

_LINE_END = re.compile(r"\r\n|\r|\n")


def apply(text: str, edit: types.TextEdit) -> str:
    starts = [0] + [m.end() for m in _LINE_END.finditer(text)]

    def offset(position: types.Position) -> int:
        at, units = starts[position.line], 0
        while units < position.character:
            units += 2 if ord(text[at]) > 0xFFFF else 1
            at += 1
        assert units == position.character  # never inside a character's surrogate pair
        return at

    start, end = offset(edit.range.start), offset(edit.range.end)
    # an LSP position is never between the \r and \n of one line end
    assert all(not (0 < o < len(text) and text[o - 1] == "\r" and text[o] == "\n") for o in (start, end))
    return text[:start] + edit.new_text + text[end:]


TEXTS = st.text(alphabet=["a", "b", " ", "\n", "\r", "é", "🙂"], max_size=12)


@given(TEXTS, TEXTS)
def test_the_edit_gives_the_new_text(old: str, new: str):
    assert apply(old, replacement(old, new, Lines(old, PositionCodec()))) == new


def test_the_edit_covers_only_what_changed():
    old = "%matplotlib inline\nimport torch\n"
    edit = replacement(old, "%matplotlib inline\nimport copy\nimport torch\n", Lines(old, PositionCodec()))
    assert edit.range == types.Range(start=types.Position(line=1, character=0), end=types.Position(line=1, character=0))
    assert edit.new_text == "import copy\n"


def test_a_changed_line_is_replaced_whole():
    old = "a = 1\nbest = model.state_dict()\nb = 2"
    edit = replacement(old, "a = 1\nbest = copy.deepcopy(model.state_dict())\nb = 2", Lines(old, PositionCodec()))
    assert (edit.range.start.line, edit.range.start.character, edit.range.end.line, edit.range.end.character) == (1, 0, 2, 0)
    assert edit.new_text == "best = copy.deepcopy(model.state_dict())\n"
