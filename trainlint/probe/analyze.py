"""Measurements -> runtime findings (TL9xx) and verdicts on static findings.

Pure Python over the child's JSON report: no torch here, so this runs (and is tested)
anywhere. Each runtime rule (rules/runtime/) owns the function that reads its evidence
from the measurements; this module runs them, and maps each static code to the evidence
that confirms it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.finding import Finding, Location
from trainlint.probe.catalog import runtime_rules
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import finite as _finite
from trainlint.probe.numbers import fmt
from trainlint.project import display_path

if TYPE_CHECKING:
    from trainlint.config import Config

__all__ = ["CONFIRMED", "INCONCLUSIVE", "NOT_CONFIRMED", "NOT_OBSERVABLE", "STATIC_EVIDENCE", "Evidence",
           "Measurements", "display_path", "explain_stall", "runtime_findings", "verdict_for"]

CONFIRMED, NOT_CONFIRMED, NOT_OBSERVABLE = "confirmed", "not confirmed", "not observable"
#: The measurement lies between a static finding's confirm band and the healthy range.
INCONCLUSIVE = "inconclusive"


#: Static findings that explain a stalled training (TL912): it names them, and confirms them.
STALL_CAUSES = {
    "TL302": "softmax before cross-entropy",
    "TL408": "a learning rate far out of range",
    "TL201": "a saturated sigmoid stack",
    "TL102": "unnormalized inputs",
    "TL306": "a non-negative activation on the logits",
}

def _runtime(code: str) -> Callable[[Measurements, Finding], Evidence]:
    """The evidence of runtime rule `code` (computed once per probe)."""
    return lambda m, finding: m.measure(code)


def _built_here(m: Measurements, finding: Finding) -> Evidence:
    """TL905's evidence, for the parameters built at the finding's lines (else in its file)."""
    return runtime_rules()["TL905"].measure(m, os.path.abspath(finding.path),
                                            (finding.location.row, finding.end_location.row))


#: static code -> the evidence that confirms it. A code not listed is "not observable".
STATIC_EVIDENCE: dict[str, Callable[[Measurements, Finding], Evidence]] = {
    "TL101": _runtime("TL910"),
    "TL102": _runtime("TL909"),
    "TL103": lambda m, f: m.batch_size(),
    "TL201": _runtime("TL903"),
    "TL202": _built_here,
    "TL203": lambda m, f: m.stored_graph(os.path.abspath(f.path), f.location.row),
    "TL204": _runtime("TL903"),
    "TL207": _built_here,
    "TL208": _runtime("TL906"),
    "TL301": lambda m, f: m.bce_multiclass(),
    "TL302": lambda m, f: m.softmax_into_ce(),
    "TL304": lambda m, f: m.nll_input(),
    "TL306": lambda m, f: m.nonneg_logits(),
    "TL401": lambda m, f: m.grad_carried(),
    "TL402": lambda m, f: m.step_without_grad(),
    "TL403": _runtime("TL902"),
    "TL406": lambda m, f: m.scheduler_order(),
    "TL409": lambda m, f: m.scheduler_granularity(),
    "TL408": lambda m, f: m.lr_effect(),
    "TL411": lambda m, f: m.optimizer_rebuilt(),
    "TL414": lambda m, f: m.double_step(),
    "TL501": lambda m, f: m.eval_mode(),
    "TL502": lambda m, f: m.train_mode_restored(),
    "TL601": lambda m, f: m.constant_weights(),
    "TL602": lambda m, f: m.huge_weights(),
}


@dataclass(frozen=True)
class Band:
    """How a static finding reads one measured number: past `confirm` the prediction holds,
    on the healthy side of `healthy` it does not, in between the probe cannot tell."""

    what: str
    value: float
    confirm: float
    healthy: float

    @property
    def higher_is_worse(self) -> bool:
        return self.confirm > self.healthy

    def verdict(self) -> str:
        v = self.value if self.higher_is_worse else -self.value
        confirm, healthy = (self.confirm, self.healthy) if self.higher_is_worse else (-self.confirm, -self.healthy)
        if not _finite(v):
            return NOT_OBSERVABLE
        return CONFIRMED if v >= confirm else NOT_CONFIRMED if v < healthy else INCONCLUSIVE

    def describe(self) -> str:
        side, other = (">=", "<") if self.higher_is_worse else ("<", ">=")
        return (f"{self.what} {fmt(self.value)}: confirmed {side} {fmt(self.confirm)}, "
                f"not confirmed {other} {fmt(self.healthy)}")


def _vanishing_band(m: Measurements) -> list[Band]:
    ratio = m.measure("TL903").numbers.get("ratio")
    return [] if ratio is None else [Band("first/last gradient ratio", ratio, m.t.vanishing_confirm,
                                          m.t.vanishing_healthy)]


def _loss_growth_band(m: Measurements) -> list[Band]:
    growth = m.measure("TL907").numbers.get("growth")
    return [] if growth is None else [Band("loss growth", growth, m.t.loss_growth_confirm, m.t.loss_growth_healthy)]


def _inputs_band(m: Measurements) -> list[Band]:
    numbers = m.measure("TL909").numbers
    if "mean" not in numbers:
        return []
    return [Band("input |mean|", abs(numbers["mean"]), m.t.input_mean_confirm, m.t.input_mean_healthy),
            Band("input std", numbers["std"], m.t.input_std_confirm, m.t.input_std_healthy)]


#: Static codes whose prediction is read on a continuous measurement, with a band each:
#: the static finding is the prior, so weaker evidence than the runtime rule needs confirms it.
STATIC_BANDS = {
    "TL201": _vanishing_band,
    "TL204": _vanishing_band,
    "TL408": _loss_growth_band,
    "TL102": _inputs_band,
}

_VERDICT_ORDER = (NOT_OBSERVABLE, NOT_CONFIRMED, INCONCLUSIVE, CONFIRMED)


def banded_verdict(code: str, m: Measurements) -> tuple[str, str] | None:
    """(verdict, why) from the code's bands, the strongest band deciding; None without a band."""
    reader = STATIC_BANDS.get(code)
    bands = reader(m) if reader else []
    if not bands:
        return None
    verdict = max((b.verdict() for b in bands), key=_VERDICT_ORDER.index)
    return verdict, "; ".join(b.describe() for b in bands)


def _location(site: dict | None, fallback: str) -> tuple[str, Location, Location]:
    path = site["file"] if site else fallback
    row = site["line"] if site else 1
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
        site_file = evidence.site["file"] if evidence.site else script
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
        _TREES[path] = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    return _TREES[path]


def untrained_class(finding: Finding, m: Measurements) -> str | None:
    """The class holding a model finding when no instance of it ran forward in a training step."""
    if finding.code not in MODEL_CODES or not m.backward:
        return None
    name = enclosing_class(os.path.abspath(finding.path), finding.location.row)
    if name is None:
        return None
    trained = {(os.path.realpath(c["file"]), c["name"]) for c in m.r.trained_classes}
    return None if (os.path.realpath(os.path.abspath(finding.path)), name) in trained else name


def verdict_for(finding: Finding, m: Measurements) -> Finding:
    """The static finding with details: verdict, the verdict's message and the numbers."""
    read = STATIC_EVIDENCE.get(finding.code)
    idle = untrained_class(finding, m)
    if read is None:
        verdict, text, numbers = NOT_OBSERVABLE, "the probe measures no runtime symptom for this rule", {}
    elif idle is not None:
        verdict, text, numbers = NOT_OBSERVABLE, f"no {idle} ran forward in the probed training steps", {}
    else:
        evidence = read(m, finding)
        if finding.code in STALL_CAUSES and not (evidence.observable and evidence.present):
            stalled = m.measure("TL912")
            if stalled.present:  # the symptom it predicts, measured as TL912
                evidence = Evidence(True, True, "training stalled (TL912): " + stalled.message, stalled.numbers)
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


def explain_stall(runtime: list[Finding], static: list[Finding]) -> list[Finding]:
    """The runtime findings with TL912's message naming the static findings that explain the stall."""
    causes = [f for f in static if f.code in STALL_CAUSES]
    if not causes:
        return runtime
    out = []
    for f in runtime:
        if f.code == "TL912":
            by_code: dict[str, list[Finding]] = {}
            for c in causes:  # a sigmoid stack is one finding per layer: named once
                by_code.setdefault(c.code, []).append(c)
            named = "; ".join(
                f"{STALL_CAUSES[code]} ({code} {found[0].name} at {os.path.basename(found[0].path)}:"
                f"{found[0].location.row}{f' and {len(found) - 1} more' if len(found) > 1 else ''})"
                for code, found in by_code.items())
            details = {**f.details, "causes": [{"code": c.code, "path": c.path, "line": c.location.row}
                                               for c in causes]}
            f = Finding(f.code, f.name, f.severity, f"{f.message}; likely cause: {named}", f.path, f.location,
                        f.end_location, f.fix, details=details)
        out.append(f)
    return out
