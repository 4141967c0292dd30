"""`# noqa`, `# noqa: TL202,TL203` and the file-level `# trainlint: noqa`."""

from __future__ import annotations

import io
import re
import tokenize

from trainlint.finding import Edit, Location

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"^\s*#\s*trainlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


class Suppressions:
    """The suppression comments of one file, read from its text (no parse needed)."""

    def __init__(self, source: str) -> None:
        self.whole_file = bool(_FILE_NOQA.search(source)) if "trainlint" in source else False
        # row -> None for a bare noqa (everything), or the set of codes
        self.by_row: dict[int, frozenset[str] | None] = {}
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

    def suppresses(self, code: str, row: int) -> bool:
        if row not in self.by_row:
            return False
        codes = self.by_row[row]
        return codes is None or code in codes


def add_noqa_edit(source: str, row: int, code: str) -> Edit | None:
    """The edit that makes `# noqa` on line `row` (1-based) also suppress `code`.

    Extends an existing `# noqa: A` to `# noqa: A, CODE`, else appends `  # noqa: CODE`.
    None when nothing is needed (a bare `# noqa`, or the code is already listed) or when
    a comment cannot go on that line: it ends in a backslash, or in a string that goes on
    to the next line.
    """
    lines = source.split("\n")
    if not 1 <= row <= len(lines):
        return None
    line = lines[row - 1].rstrip("\r")
    match = _NOQA.search(line) if "#" in line else None
    if match is not None:
        listed = match.group("codes")
        if listed is None or code.upper() in {c.upper() for c in re.split(r"[\s,]+", listed) if c}:
            return None
        at = Location(row, match.end("codes") + 1)
        return Edit(f", {code}", at, at)
    body = line.rstrip()
    if body.endswith("\\") or not _comment_fits(body):
        return None
    at = Location(row, len(body) + 1)
    return Edit(f"  # noqa: {code}" if body else f"# noqa: {code}", at, Location(row, len(line) + 1))


def _comment_fits(line: str) -> bool:
    """Whether a comment appended to this line is read as a comment, not as string text."""
    marker = "# noqa: TL000"
    try:
        for token in tokenize.generate_tokens(io.StringIO(f"{line}  {marker}\n").readline):
            if token.type == tokenize.COMMENT:
                return token.string.endswith(marker)
    except (tokenize.TokenError, SyntaxError):
        return False
    return False
