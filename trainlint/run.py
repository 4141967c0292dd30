"""What checking many files gives: each file's item (where it is, its name, its bytes) and result.

project.py makes a run and fix.py fixes one; both read these types, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.finding import FileResult, Finding
from trainlint.index import ProjectIndex

if TYPE_CHECKING:
    from trainlint.cache import Entry
    from trainlint.engine import Engine


@dataclass(slots=True)
class FileItem:
    """One file of a run, as read: what a fix or noqa pass needs to check it again and rewrite it."""

    path: Path
    shown: str  # the path as findings show it
    data: bytes | OSError  # the file's bytes, or why they could not be read
    module_name: str
    package: str
    test_code: bool  # the file belongs to a test suite (trainlint.layout): an input of its facts
    digest: bytes | None = None  # of `data`: with the names, what the cache knows the file by
    entry: "Entry | None" = None  # the cache's record of the file (made by the run when it had none)


@dataclass
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    #: How many files were parsed (the rest came from the cache or stopped at the text gate).
    parsed: int = 0
    cached: int = 0
    #: Fixes: per changed (or refused) file, what fixing gave (trainlint.fix.FixOutcome, not
    #: imported: fix.py imports this module); diagnostics for refused fixes.
    fixes: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    index: ProjectIndex = field(default_factory=ProjectIndex, repr=False)
    engine: "Engine | None" = field(default=None, repr=False)
    #: Per file, in the order of `files`: what was read.
    items: list[FileItem] = field(default_factory=list, repr=False)

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.files for f in r.findings), key=Finding.sort_key)

    def sources(self) -> dict[str, str]:
        return {r.path: r.source for r in self.files if r.source is not None}
