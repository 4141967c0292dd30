"""`# noqa`, `# noqa: TL202,TL203` and the file-level `# trainlint: noqa`."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from trainlint.finding import Edit, Finding, Location

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FILE_NOQA = re.compile(r"^\s*#\s*trainlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


class Suppressions:
    """The suppression comments of one file, read from its text (no parse needed)."""

    def __init__(self, source: str) -> None:
        self.whole_file = bool(_FILE_NOQA.search(source)) if "trainlint" in source else False
        # row -> None for a bare noqa (everything), or the set of codes
        self.by_row: dict[int, frozenset[str] | None] = {}
        self._matches: dict[int, re.Match] = {}
        #: row -> the codes its comment hid from the findings given to filter()
        self.used: dict[int, set[str]] = {}
        self.source = source
        if "noqa" not in source and "NOQA" not in source:
            return
        for row, line in enumerate(source.splitlines(), start=1):
            if "#" not in line:
                continue
            match = _NOQA.search(line)
            if match is None:
                continue
            codes = match.group("codes")
            self.by_row[row] = None if codes is None else frozenset(c.upper() for c in re.split(r"[\s,]+", codes) if c)
            self._matches[row] = match

    def suppresses(self, code: str, row: int) -> bool:
        if row not in self.by_row:
            return False
        codes = self.by_row[row]
        return codes is None or code in codes

    def filter(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings no comment suppresses; remembers which comment hid which code."""
        kept = []
        for f in findings:
            if self.suppresses(f.code, f.location.row):
                self.used.setdefault(f.location.row, set()).add(f.code)
            else:
                kept.append(f)
        return kept

    def comments(self) -> list["NoqaComment"]:
        """Every `# noqa` of the file with what it hid (after filter()), for rules about the
        comments themselves; a match inside a string is marked, since it is not a comment."""
        if not self._matches:
            return []
        real = _comment_starts(self.source)
        out = []
        for row, match in self._matches.items():
            codes = match.group("codes")
            out.append(NoqaComment(
                row=row,
                start=match.start() + 1,
                end=match.end() + 1,
                codes=None if codes is None else tuple(c for c in re.split(r"[\s,]+", codes) if c),
                codes_start=match.start("codes") + 1 if codes is not None else None,
                suppressed=frozenset(self.used.get(row, ())),
                is_comment=any(col <= match.start() for col in real.get(row, ())),
            ))
        return out


@dataclass(frozen=True)
class NoqaComment:
    """One `# noqa` directive: its row, its span (1-based columns, end exclusive), the codes
    it names as written (None: a bare noqa), and the codes whose findings it suppressed."""

    row: int
    start: int
    end: int
    codes: tuple[str, ...] | None
    codes_start: int | None
    suppressed: frozenset[str]
    is_comment: bool


def _comment_starts(source: str) -> dict[int, list[int]]:
    """row -> the 0-based columns where comment tokens start (an unfinished file: as far as it goes)."""
    starts: dict[int, list[int]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                starts.setdefault(token.start[0], []).append(token.start[1])
    except (tokenize.TokenError, SyntaxError):
        pass
    return starts


def add_noqa_edit(source: str, row: int, code: str) -> Edit | None:
    """The edit that suppresses `code` on `row` with a `# noqa: CODE` comment; None when the row
    already suppresses it, or when a comment there would change the code (the line ends inside
    a string or with a backslash continuation)."""
    lines = _LINES.findall(source)  # rows as LibCST counts them: \r\n, \r or \n
    if not 1 <= row <= len(lines):
        return None
    line = lines[row - 1]
    body = line.rstrip("\r\n")
    match = _NOQA.search(body) if "#" in body else None
    if match is not None:
        codes = match.group("codes")
        if codes is None or code.upper() in {c.upper() for c in re.split(r"[\s,]+", codes)}:
            return None
        at = Location(row, match.end("codes") + 1)
        return Edit(f", {code}", at, at)
    if body.endswith("\\") or _ends_inside_token(source, row):
        return None
    stripped = body.rstrip()
    comment = f"  # noqa: {code}" if stripped else f"# noqa: {code}"
    return Edit(comment, Location(row, len(stripped) + 1), Location(row, len(body) + 1))


def _ends_inside_token(source: str, row: int) -> bool:
    """Whether the end of `row` lies inside a token (a triple-quoted string, an f-string)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.start[0] > row:
                return False
            if token.start[0] <= row < token.end[0] and token.type not in (tokenize.NL, tokenize.NEWLINE):
                return True
    except tokenize.TokenError as exc:  # unfinished source: only an open string is a problem
        return "string" in str(exc)
    except SyntaxError:
        return True
    return False
