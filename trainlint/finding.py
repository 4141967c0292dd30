"""What a check reports: a Finding, with its location and an optional fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True, order=True)
class Location:
    """1-based row, 1-based column (in characters), as ruff reports them."""

    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between two locations (end exclusive) with `content`."""

    content: str
    location: Location
    end_location: Location
    cell: int | None = None  # in a notebook: the cell (1-based over all cells) the locations are in

    def to_json(self) -> dict:
        out = {
            "content": self.content,
            "location": {"row": self.location.row, "column": self.location.column},
            "end_location": {"row": self.end_location.row, "column": self.end_location.column},
        }
        if self.cell is not None:
            out["cell"] = self.cell
        return out


@dataclass(frozen=True)
class Fix:
    message: str
    applicability: Applicability
    edits: tuple[Edit, ...]
    #: (spelling, qualified name) of each name the fix writes, checked in the fixed text.
    names: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        return {
            "applicability": self.applicability.value,
            "message": self.message,
            "edits": [e.to_json() for e in self.edits],
        }


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    path: str
    location: Location
    end_location: Location
    fix: Fix | None = None
    #: In a notebook: the cell (1-based over all cells, as Jupyter and ruff number them) that
    #: `location` and `end_location` are in; None in a .py file.
    cell: int | None = None
    # Extra, rule-specific numbers a face may show (e.g. the probe's verdicts).
    details: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def url(self) -> str:
        return docs_url(self.code, self.name)

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.location.row, self.location.column, self.code)

    @property
    def place(self) -> str:
        """Where it is, as the text output writes it: `path:row:col` or `path:cell 6:row:col`."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.location.row}:{self.location.column}"

    def to_json(self) -> dict:
        out = {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "filename": self.path,
            "location": {"row": self.location.row, "column": self.location.column},
            "end_location": {"row": self.end_location.row, "column": self.end_location.column},
            "fix": self.fix.to_json() if self.fix else None,
            "url": self.url,
        }
        if self.cell is not None:
            out["cell"] = self.cell
        return out


DOCS_BASE_URL = "https://github.com/trainlint/trainlint/blob/main/docs/rules.md"


def docs_url(code: str, name: str) -> str:
    """The rule's section in docs/rules.md (GitHub's anchor for `## TL202 module-created-in-forward`)."""
    return f"{DOCS_BASE_URL}#{code.lower()}-{name}"


@dataclass
class FileResult:
    """One file's findings (and its classes for the project index, when asked)."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    summaries: list = field(default_factory=list)  # of trainlint.index.ClassSummary
    source: str | None = None
    #: The file did not parse and was read without these rows (1-based): the statements
    #: trainlint.recover took out. None: nothing of it was read (no recovery).
    unread: frozenset[int] | None = frozenset()
    calls: tuple = ()  # of trainlint.index.CallSite, when asked (Engine.check_source(with_calls=True))
