"""Mutations of real training files, for the fuzz tests (tests/test_fuzz.py) and the long
fuzz run (benchmarks/fuzz.py): what an editor sees while a user types, what a bad merge or
a truncated download leaves. Each mutation is a pure function of the text and a
`random.Random`, so a failing input is reproduced from its seed; hypothesis drives the
seeds in the suite and shrinks them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seed_files(extra: list[Path] | None = None) -> list[Path]:
    """The repository's own training files: examples/ and the probe fixtures (plus `extra`)."""
    files = sorted((ROOT / "examples").rglob("*.py")) + sorted((ROOT / "tests" / "fixtures").rglob("*.py"))
    return files + list(extra or [])


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def delete_line(text: str, rnd: random.Random) -> str:
    lines = _lines(text)
    del lines[rnd.randrange(len(lines))]
    return "".join(lines)


def duplicate_line(text: str, rnd: random.Random) -> str:
    lines = _lines(text)
    i = rnd.randrange(len(lines))
    lines.insert(i, lines[i])
    return "".join(lines)


def swap_lines(text: str, rnd: random.Random) -> str:
    lines = _lines(text)
    i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def reindent_line(text: str, rnd: random.Random) -> str:
    lines = _lines(text)
    i = rnd.randrange(len(lines))
    line = lines[i]
    choice = rnd.randrange(4)
    if choice == 0:
        lines[i] = "    " + line
    elif choice == 1:
        lines[i] = line[4:] if line.startswith("    ") else line.lstrip(" ")
    elif choice == 2:
        lines[i] = "\t" + line.lstrip(" ")  # tabs where the rest has spaces
    else:
        lines[i] = " " + line
    return "".join(lines)


def truncate(text: str, rnd: random.Random) -> str:
    """Cut at any byte of the UTF-8 text (a cut inside a character leaves invalid UTF-8)."""
    data = text.encode("utf-8", "surrogateescape")
    return data[: rnd.randrange(len(data) + 1)].decode("utf-8", "surrogateescape")


def mixed_line_endings(text: str, rnd: random.Random) -> str:
    return re.sub("\n", lambda _: rnd.choice(["\n", "\r\n", "\r", "\n"]), text)


def deep_nesting(text: str, rnd: random.Random) -> str:
    """An expression or a block nested deeper than anyone writes (and deeper than CPython takes)."""
    depth = rnd.choice([20, 99, 150, 201, 1000, 5000])
    lines = _lines(text)
    i = rnd.randrange(len(lines))
    if rnd.randrange(2):
        nested = "x = " + "(" * depth + "1" + ")" * depth + "\n"
    else:
        nested = "".join("    " * k + "if x:\n" for k in range(min(depth, 120))) + "    " * min(depth, 120) + "pass\n"
    lines.insert(i, nested)
    return "".join(lines)


def splice(text: str, rnd: random.Random) -> str:
    """A span of the text copied over another (what a bad merge or paste leaves)."""
    if not text:
        return text
    a, b = sorted(rnd.randrange(len(text) + 1) for _ in range(2))
    at = rnd.randrange(len(text) + 1)
    return text[:at] + text[a:b] + text[at:]


TEXT_MUTATIONS = (delete_line, duplicate_line, swap_lines, reindent_line, truncate, mixed_line_endings,
                  deep_nesting, splice)


def random_bytes(data: bytes, rnd: random.Random) -> bytes:
    """Random bytes written over or into the file's bytes (invalid UTF-8, NULs, a BOM, a cookie)."""
    noise = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 16)))
    noise = rnd.choice([noise, b"\x00", b"\xef\xbb\xbf", b"# -*- coding: latin-1 -*-\n", b"\xff\xfe", noise])
    at = rnd.randrange(len(data) + 1)
    if rnd.randrange(2):
        return data[:at] + noise + data[at + len(noise):]
    return data[:at] + noise + data[at:]


def mutate(data: bytes, rnd: random.Random, rounds: int = 1) -> bytes:
    """`rounds` mutations, each a text mutation or random bytes."""
    for _ in range(rounds):
        if rnd.randrange(6) == 0:
            data = random_bytes(data, rnd)
        else:
            text = data.decode("utf-8", "surrogateescape")
            data = rnd.choice(TEXT_MUTATIONS)(text, rnd).encode("utf-8", "surrogateescape")
    return data
