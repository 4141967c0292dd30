"""The Rule base class: what a rule module declares, and how it reports.

A rule is one class: code, name, severity, a one-line summary, its documentation in
the docstring (ruff's sections), bad and good examples that are run as tests, and a
`check` over the file's facts. Rules never see files, config files or output formats.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from trainlint.finding import Applicability, Edit, Location, Severity
from trainlint.importer import Importer, Reference  # noqa: F401 - the rules' way to write a name in a fix

if TYPE_CHECKING:
    from trainlint.facts import FileFacts
    from trainlint.noqa import NoqaComment


@dataclass(frozen=True)
class Example:
    """A snippet for the docs and the test suite.

    For a bad example, `lines` are the 1-based lines (of the dedented code) where the
    rule must report, and nowhere else. `files` holds other files of the same
    project (path -> code), for checks that read a model class from another file.
    `fixed` is the code after applying the rule's fix, when it has one.
    """

    code: str
    lines: tuple[int, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    fixed: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    filename: str = "train.py"
    note: str = ""

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")

    @property
    def fixed_source(self) -> str | None:
        return None if self.fixed is None else textwrap.dedent(self.fixed).lstrip("\n")

    @property
    def project_files(self) -> dict[str, str]:
        return {path: textwrap.dedent(code).lstrip("\n") for path, code in self.files.items()}


def Bad(code: str, *lines: int, **kwargs: Any) -> Example:  # noqa: N802 - reads like Fixit's Invalid
    return Example(code=code, lines=tuple(lines), **kwargs)


def Good(code: str, **kwargs: Any) -> Example:  # noqa: N802 - reads like Fixit's Valid
    return Example(code=code, **kwargs)


@dataclass(frozen=True)
class Replacement:
    """Replace one CST node by another; the engine turns it into a text edit."""

    old: cst.CSTNode
    new: cst.CSTNode | str


@dataclass(frozen=True)
class FixProposal:
    message: str
    replacements: tuple[Replacement, ...]
    applicability: Applicability = Applicability.SAFE
    #: Text edits, for what is not a node (a comment's text).
    edits: tuple[Edit, ...] = ()
    #: (spelling, qualified name) of each name the fix writes (trainlint.importer.Reference.names):
    #: the fixer checks that each means that object in the fixed text.
    names: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Report:
    """A rule's finding before the engine has located it in the text."""

    code: str
    node: cst.CSTNode | None
    message: str
    fix: FixProposal | None = None
    # Report on the first line of `node` only (e.g. a long call), not its whole range.
    first_line_only: bool = False
    #: Where the finding is, for a report about text that is no node (node is None).
    span: tuple[Location, Location] | None = None


@dataclass(frozen=True)
class SuppressionFacts:
    """What the engine knows of a file's `# noqa` comments once every other rule has run:
    which findings each one suppressed, which codes ran on the file, which codes exist."""

    source: str
    comments: tuple["NoqaComment", ...]
    ran: frozenset[str]
    known: frozenset[str]
    #: codes of the runtime probe's findings: it reads the same comments
    runtime: frozenset[str] = frozenset()


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    #: Seed documents that name the problem, as in RULES.md (e.g. "000 §2.4").
    seeds: ClassVar[tuple[str, ...]] = ()
    #: Rules that give advice (most `info` rules) are off unless selected.
    default_enabled: ClassVar[bool] = True
    #: An advice rule that is off by default but still runs unselected, reporting only where the
    #: file shows a symptom the advice explains; `self.selected` tells it whether the config chose it.
    runs_on_symptoms: ClassVar[bool] = False
    #: The fix's applicability when the rule can fix, None when it cannot.
    fix_applicability: ClassVar[Applicability | None] = None
    #: Settings a user may override in [tool.trainlint.rules.CODE]: kebab-name -> default.
    options: ClassVar[dict[str, Any]] = {}
    bad: ClassVar[list[Example]] = []
    good: ClassVar[list[Example]] = []
    #: Rules reported by the engine itself (TL000, TL001) have no check of their own.
    engine_reported: ClassVar[bool] = False
    #: Rules about the suppression comments themselves: the engine calls check_suppressions()
    #: after every other rule's findings were filtered through the file's `# noqa` comments.
    reads_suppressions: ClassVar[bool] = False
    #: Runtime findings (TL9xx) are measured by `trainlint probe`, never by the static engine:
    #: they have no `check` and no static examples; their docs name the probe fixture that shows them.
    runtime: ClassVar[bool] = False
    #: A runtime rule's place in the verdicts on static findings (trainlint.probe.analyze):
    #: the static codes whose verdict is this rule's evidence (its `measure`, or its
    #: `evidence_for(m, finding)` where the finding's lines matter) ...
    confirms: ClassVar[tuple[str, ...]] = ()
    evidence_for: ClassVar[Callable[..., Any] | None] = None
    #: ... the static codes whose verdict also reads its `band(m)`: a list of
    #: trainlint.probe.evidence.Band, the static finding being the prior (weaker evidence confirms it) ...
    banded: ClassVar[tuple[str, ...]] = ()
    band: ClassVar[Callable[..., Any] | None] = None
    #: ... and static code -> the cause it names: the rule's finding names the static findings
    #: of these codes as its likely cause, and confirms them when their own evidence does not.
    explains: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings: dict[str, Any] = {**self.options, **(settings or {})}
        self.selected = True

    def check(self, facts: "FileFacts") -> Iterator[Report]:
        return iter(())

    def check_suppressions(self, facts: SuppressionFacts) -> Iterator[Report]:
        """For rules with reads_suppressions: reports with a `span` (and text-edit fixes)."""
        return iter(())

    def report(
        self,
        node: cst.CSTNode,
        message: str | None = None,
        *,
        fix: FixProposal | None = None,
        first_line_only: bool = False,
    ) -> Report:
        return Report(self.code, node, message or self.summary, fix, first_line_only)

    def fix(self, message: str, *replacements: Replacement, applicability: Applicability | None = None,
            names: tuple[tuple[str, str], ...] = ()) -> FixProposal:
        return FixProposal(message, tuple(replacements), applicability or self.fix_applicability or Applicability.SAFE,
                           names=names)

    @classmethod
    def doc(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def default_state(cls) -> str:
        """How the rule runs without configuration: "on", "off", or "symptoms" (see runs_on_symptoms)."""
        return "on" if cls.default_enabled else ("symptoms" if cls.runs_on_symptoms else "off")

    @classmethod
    def fixable(cls) -> bool:
        return cls.fix_applicability is not None
