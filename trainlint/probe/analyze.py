"""Measurements -> runtime findings (TL9xx) and verdicts on static findings.

Pure Python over the child's typed report: no torch here, so this runs (and is tested)
anywhere. Each runtime rule (rules/runtime/) owns the function that reads its evidence
from the measurements (`measure`), and says which static codes that evidence confirms
(`confirms`), which read its number on a band (`banded`, `band`) and which it names as
its cause (`explains`); this module runs them. The evidence for the static codes no
runtime rule confirms is trainlint.probe.static_evidence's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.finding import Finding, Location
from trainlint.probe.catalog import runtime_rules
from trainlint.probe.evidence import CONFIRMED, INCONCLUSIVE, NOT_CONFIRMED, NOT_OBSERVABLE, Band, Evidence
from trainlint.probe.measurements import Measurements
from trainlint.probe.schema import Site
from trainlint.probe.static_evidence import EVIDENCE
from trainlint.project import display_path
from trainlint.source import compile_ast

if TYPE_CHECKING:
    from trainlint.config import Config
    from trainlint.rule import Rule

__all__ = ["CONFIRMED", "INCONCLUSIVE", "NOT_CONFIRMED", "NOT_OBSERVABLE", "STATIC_EVIDENCE", "Band", "Evidence",
           "Measurements", "display_path", "explain_causes", "runtime_findings", "static_evidence", "verdict_for"]

#: The order of the verdicts, weakest first: the strongest of a finding's bands decides.
_VERDICT_ORDER = (NOT_OBSERVABLE, NOT_CONFIRMED, INCONCLUSIVE, CONFIRMED)


def _confirming_rule(code: str) -> type["Rule"] | None:
    """The runtime rule whose evidence confirms static code `code` (its `confirms`)."""
    return next((rule for rule in runtime_rules().values() if code in rule.confirms), None)


def static_evidence(code: str) -> Callable[[Measurements, Finding], Evidence] | None:
    """How static code `code` is confirmed: a runtime rule's evidence (that rule's `confirms`,
    read by its `evidence_for` when it has one), else the verdicts' own (static_evidence.EVIDENCE)."""
    rule = _confirming_rule(code)
    if rule is None:
        return EVIDENCE.get(code)
    if rule.evidence_for is not None:
        return rule.evidence_for
    return lambda m, finding: m.measure(rule.code)


class _StaticEvidence(Mapping):
    """Static code -> the function that reads its evidence, for every code the probe can
    confirm: the runtime rules' `confirms` and static_evidence.EVIDENCE (read on first use:
    it imports the rules)."""

    def _table(self) -> dict[str, Callable[[Measurements, Finding], Evidence]]:
        codes = set(EVIDENCE) | {code for rule in runtime_rules().values() for code in rule.confirms}
        return {code: static_evidence(code) for code in sorted(codes)}

    def __getitem__(self, code: str):
        return self._table()[code]

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


STATIC_EVIDENCE: Mapping[str, Callable[[Measurements, Finding], Evidence]] = _StaticEvidence()


def banded_verdict(code: str, m: Measurements) -> tuple[str, str] | None:
    """(verdict, why) from the bands of the runtime rules that read static code `code` on a
    band (their `banded`), the strongest band deciding; None without a band."""
    bands = [band for rule in runtime_rules().values() if code in rule.banded for band in rule.band(m)]
    if not bands:
        return None
    verdict = max((b.verdict() for b in bands), key=_VERDICT_ORDER.index)
    return verdict, "; ".join(b.describe() for b in bands)


def _explained_by(code: str, m: Measurements) -> tuple[str, Evidence] | None:
    """A present runtime finding whose cause static code `code` is (the rule's `explains`)."""
    for rule in runtime_rules().values():
        if code in rule.explains:
            evidence = m.measure(rule.code)
            if evidence.observable and evidence.present:
                return rule.code, evidence
    return None


def _location(site: Site | None, fallback: str) -> tuple[str, Location, Location]:
    path = site.file if site else fallback
    row = site.line if site else 1
    end_col = 1
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        if 1 <= row <= len(lines):
            line = lines[row - 1]
            start_col = len(line) - len(line.lstrip()) + 1
            return display_path(path), Location(row, start_col), Location(row, len(line.rstrip()) + 1)
    except OSError:
        pass
    return display_path(path), Location(row, 1), Location(row, end_col)


def _suppressed(path: str, code: str, row: int) -> bool:
    """`# noqa: TL905` on the finding's line (or `# trainlint: noqa` in the file), as for static findings."""
    from trainlint.noqa import Suppressions

    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    suppressions = Suppressions(text)
    return suppressions.whole_file or suppressions.suppresses(code, row)


def runtime_findings(m: Measurements, script: str, config: "Config | None" = None) -> list[Finding]:
    """The runtime findings the config selects for the file each points at (select, ignore,
    per-file-ignores), with the config's severity overrides and the files' `# noqa`."""
    from trainlint.config import Config

    config = config or Config()
    rules = runtime_rules()
    selected = config.selected_codes()
    findings = []
    for code in rules:
        if code not in selected:
            continue
        evidence = m.measure(code)
        if not (evidence.observable and evidence.present):
            continue
        site_file = evidence.site.file if evidence.site else script
        if code not in config.codes_for(site_file):
            continue
        rule = rules[code]
        path, start, end = _location(evidence.site, script)
        if _suppressed(path, code, start.row):
            continue
        severity = config.severity.get(code, rule.severity)
        findings.append(Finding(code, rule.name, severity, evidence.message, path, start, end, details={
            "kind": "runtime", "verdict": None, "measurement": evidence.numbers}))
    return findings


#: Static codes about a model class: their evidence counts only if that class was trained.
MODEL_CODES = frozenset({"TL201", "TL202", "TL203", "TL204", "TL207", "TL208"})


def enclosing_class(path: str, row: int) -> str | None:
    """The qualified name of the innermost class whose body holds line `row` of `path`, if any."""
    import ast

    try:
        tree = _parse_cached(os.path.realpath(path))
    except (OSError, SyntaxError, ValueError):
        return None
    found = None

    def visit(node, prefix: str) -> None:
        nonlocal found
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                if child.lineno <= row <= (child.end_lineno or child.lineno):
                    found = name
                    visit(child, name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.lineno <= row <= (child.end_lineno or child.lineno):
                    visit(child, f"{prefix}{child.name}.<locals>.")

    visit(tree, "")
    return found


_TREES: dict[str, object] = {}


def _parse_cached(path: str):
    import ast

    if path not in _TREES:
        _TREES[path] = compile_ast(Path(path).read_text(encoding="utf-8", errors="replace"), path, "exec", ast.PyCF_ONLY_AST)
    return _TREES[path]


def untrained_class(finding: Finding, m: Measurements) -> str | None:
    """The class holding a model finding when no instance of it ran forward in a training step."""
    if finding.code not in MODEL_CODES or not m.backward:
        return None
    name = enclosing_class(os.path.abspath(finding.path), finding.location.row)
    if name is None:
        return None
    trained = {(os.path.realpath(c.file), c.name) for c in m.r.trained_classes}
    return None if (os.path.realpath(os.path.abspath(finding.path)), name) in trained else name


def verdict_for(finding: Finding, m: Measurements) -> Finding:
    """The static finding with details: verdict, the verdict's message and the numbers."""
    read = static_evidence(finding.code)
    idle = untrained_class(finding, m)
    if read is None:
        verdict, text, numbers = NOT_OBSERVABLE, "the probe measures no runtime symptom for this rule", {}
    elif idle is not None:
        verdict, text, numbers = NOT_OBSERVABLE, f"no {idle} ran forward in the probed training steps", {}
    else:
        evidence = read(m, finding)
        if not (evidence.observable and evidence.present):
            explained = _explained_by(finding.code, m)
            if explained is not None:  # the symptom it predicts, measured by a runtime rule it explains
                code, found = explained
                name = runtime_rules()[code].name.replace("-", " ")
                evidence = Evidence(True, True, f"{name} ({code}): {found.message}", found.numbers)
        if not evidence.observable:
            verdict, text, numbers = NOT_OBSERVABLE, evidence.message, evidence.numbers
        else:
            verdict = CONFIRMED if evidence.present else NOT_CONFIRMED
            text, numbers = evidence.message, evidence.numbers
            banded = banded_verdict(finding.code, m)
            if banded is not None and banded[0] != NOT_OBSERVABLE:
                verdict = CONFIRMED if evidence.present else banded[0]
                text = f"{text} — for this finding, {banded[1]}"
                numbers = {**numbers, "band": banded[1]}
    details = {"kind": "static", "verdict": verdict, "verdict_message": text, "measurement": numbers}
    return replace(finding, details=details)  # in a notebook, its cell too


def explain_causes(runtime: list[Finding], static: list[Finding]) -> list[Finding]:
    """The runtime findings with the message of each rule that `explains` static codes naming
    the static findings of those codes (TL912: the likely cause of the stall)."""
    rules = runtime_rules()
    out = []
    for f in runtime:
        explains = rules[f.code].explains
        causes = [c for c in static if c.code in explains]
        if causes:
            by_code: dict[str, list[Finding]] = {}
            for c in causes:  # a sigmoid stack is one finding per layer: named once
                by_code.setdefault(c.code, []).append(c)
            named = "; ".join(
                f"{explains[code]} ({code} {found[0].name} at {os.path.basename(found[0].path)}:"
                f"{found[0].location.row}{f' and {len(found) - 1} more' if len(found) > 1 else ''})"
                for code, found in by_code.items())
            details = {**f.details, "causes": [{"code": c.code, "path": c.path, "line": c.location.row}
                                               for c in causes]}
            f = Finding(f.code, f.name, f.severity, f"{f.message}; likely cause: {named}", f.path, f.location,
                        f.end_location, f.fix, details=details)
        out.append(f)
    return out
