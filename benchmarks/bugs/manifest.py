"""The real-bug benchmark's manifest (manifest.tsv beside this file), read in one place.

One tab-separated line per entry, after a header line:

    id  kind  url  file  lines  expected  thread

kind    `repo`  a defect in a public repository's file, at the commit before its fix
        `repro` a defect known only from a post: a reproduction of its shape under repro/
        `clean` a well-known training script that should get no error or warning
url     the thread (issue, pull request, forum question) that names the defect
file    `owner/repo@commit:path` for repo and clean entries (a full commit hash);
        the path under benchmarks/bugs/ for a repro (`repro/name.py`)
lines   the defect's line(s), `42` or `42,57`; `-` for clean scripts
expected the rule code(s) that should report it, `TL302` or `TL401|TL402`; `-` for clean
thread  one line on what the thread says
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "manifest.tsv"
COLUMNS = ("id", "kind", "url", "file", "lines", "expected", "thread")
KINDS = ("repo", "repro", "clean")
_REPO_FILE = re.compile(r"^(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)@(?P<commit>[0-9a-f]{40}):(?P<path>.+)$")
_CODE = re.compile(r"^TL\d{3}$")


class ManifestError(ValueError):
    """A line of the manifest that does not follow the format above."""


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str
    url: str
    file: str
    lines: tuple[int, ...]
    expected: tuple[str, ...]
    thread: str

    @property
    def repo(self) -> str:
        """`owner/name` of a repo or clean entry."""
        return f"{self._ref['owner']}/{self._ref['name']}"

    @property
    def commit(self) -> str:
        return self._ref["commit"]

    @property
    def path(self) -> str:
        """The file's path inside its repository (repo/clean) or under benchmarks/bugs (repro)."""
        return self._ref["path"] if self.kind != "repro" else self.file

    @property
    def snapshot(self) -> str:
        """Folder name of the repository snapshot this entry's file is fetched into."""
        return f"{self._ref['owner']}+{self._ref['name']}@{self.commit[:12]}"

    @property
    def _ref(self) -> dict[str, str]:
        match = _REPO_FILE.match(self.file)
        if match is None:  # parse() already refused such a line for repo/clean entries
            raise ManifestError(f"{self.id}: not a repository file: {self.file}")
        return match.groupdict()


def parse(text: str) -> list[Entry]:
    """Every entry of a manifest's text; ManifestError names the first bad line."""
    rows = text.splitlines()
    if not rows or tuple(rows[0].split("\t")) != COLUMNS:
        raise ManifestError("line 1: the header must be " + "\\t".join(COLUMNS))
    entries, seen = [], set()
    for number, row in enumerate(rows[1:], start=2):
        if not row.strip():
            continue
        cells = row.split("\t")
        if len(cells) != len(COLUMNS):
            raise ManifestError(f"line {number}: {len(cells)} columns, expected {len(COLUMNS)}")
        entry = _entry(number, dict(zip(COLUMNS, cells)))
        if entry.id in seen:
            raise ManifestError(f"line {number}: id {entry.id} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def load(path: Path = MANIFEST) -> list[Entry]:
    return parse(path.read_text(encoding="utf-8"))


def _entry(number: int, cell: dict[str, str]) -> Entry:
    kind = cell["kind"]
    if kind not in KINDS:
        raise ManifestError(f"line {number}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind in ("repo", "clean") and not _REPO_FILE.match(cell["file"]):
        raise ManifestError(f"line {number}: {cell['file']!r} is not owner/repo@<40-hex commit>:path")
    if kind == "repro" and not cell["file"].startswith("repro/"):
        raise ManifestError(f"line {number}: a repro's file lives under repro/, got {cell['file']!r}")
    if kind == "clean":
        if cell["lines"] != "-" or cell["expected"] != "-":
            raise ManifestError(f"line {number}: a clean script has `-` for lines and expected")
        lines, expected = (), ()
    else:
        try:
            lines = tuple(int(n) for n in cell["lines"].split(","))
        except ValueError:
            raise ManifestError(f"line {number}: lines {cell['lines']!r} are not numbers like 42 or 42,57") from None
        expected = tuple(cell["expected"].split("|"))
        if not all(_CODE.match(code) for code in expected):
            raise ManifestError(f"line {number}: expected {cell['expected']!r} is not codes like TL302|TL303")
    return Entry(cell["id"], kind, cell["url"], cell["file"], lines, expected, cell["thread"])
