"""`add_noqa_edit`: the editor's "Disable TLxxx for this line" (and `--add-noqa`)."""

from __future__ import annotations

import pytest

from trainlint.fix import apply_edits
from trainlint.noqa import Suppressions, add_noqa_edit


def add(source: str, row: int, code: str = "TL202") -> str | None:
    edit = add_noqa_edit(source, row, code)
    return None if edit is None else apply_edits(source, [edit])


def test_appends_a_comment_and_the_line_is_then_suppressed():
    source = "x = 1\n        shortcut = nn.Conv2d(64, 128, 1)\ny = 2\n"
    fixed = add(source, 2)
    assert fixed == "x = 1\n        shortcut = nn.Conv2d(64, 128, 1)  # noqa: TL202\ny = 2\n"
    assert Suppressions(fixed).suppresses("TL202", 2)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("loss = crit(out, y)  # noqa: TL301", "loss = crit(out, y)  # noqa: TL301, TL202"),
        ("loss = crit(out, y)  # NOQA:TL301,TL302", "loss = crit(out, y)  # NOQA:TL301,TL302, TL202"),
        ("loss = crit(out, y)  # keep this", "loss = crit(out, y)  # keep this  # noqa: TL202"),
        ("model.train()   ", "model.train()  # noqa: TL202"),
        ("opt.step()\r", "opt.step()  # noqa: TL202\r"),
        ("", "# noqa: TL202"),
        ("f = nn.Linear(  # the head", "f = nn.Linear(  # the head  # noqa: TL202"),
    ],
)
def test_extends_or_appends(line, expected):
    assert add(line + "\n", 1) == expected + "\n"


@pytest.mark.parametrize(
    "line",
    [
        "x = 1  # noqa",
        "x = 1  # noqa: TL202",
        "x = 1  # noqa: TL101, tl202",
        "x = a + \\",
        'doc = """starts here',
    ],
)
def test_nothing_when_already_suppressed_or_impossible(line):
    assert add_noqa_edit(line + "\nmore\n", 1, "TL202") is None


def test_rows_outside_the_file():
    assert add_noqa_edit("x = 1\n", 0, "TL202") is None
    assert add_noqa_edit("x = 1\n", 5, "TL202") is None
