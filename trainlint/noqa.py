"""`# noqa`, `# noqa: TL202,TL203` and the file-level `# trainlint: noqa`."""

from __future__ import annotations

import re

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
