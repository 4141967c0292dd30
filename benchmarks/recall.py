#!/usr/bin/env python3
"""Recall of trainlint on real training bugs, and its false alarms on clean scripts.

    python benchmarks/bugs/fetch.py /tmp/bugsnap     # once: repository files, from local mirrors
    python benchmarks/recall.py /tmp/bugsnap         # the report
    python benchmarks/recall.py /tmp/bugsnap --json  # the same, machine-readable

Every entry of benchmarks/bugs/manifest.tsv is checked with the trainlint installed beside
this Python (`python -I -m trainlint check --select ALL --output-format json --no-cache`),
run from outside the checkout. Each repository snapshot is checked as its own project with
only the manifest's files of it named, as `trainlint check train.py` would be; each repro
is copied alone into a scratch project, so repros cannot see each other's classes.

A defect counts as found when a finding of one of its expected codes lies within its
listed line(s) +/-3 (TOLERANCE). Recall is given per rule group (the code's first digit:
TL1 data ... TL6 init) and overall; codes the rule catalog only reserves (TL105-TL107)
are expected-but-not-yet-implemented: they count in the overall figure and are also left
out of a second one. A clean script's error or warning findings are false alarms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "bugs"))
from manifest import MANIFEST, Entry, load  # noqa: E402

TOLERANCE = 3
GROUPS = {"1": "TL1 data", "2": "TL2 model", "3": "TL3 loss", "4": "TL4 optimization", "5": "TL5 eval", "6": "TL6 init"}
RESERVED = frozenset({"TL105", "TL106", "TL107"})  # codes RULES.md reserves for rules not written yet
ALARM_SEVERITIES = frozenset({"error", "warning"})


@dataclass
class Finding:
    code: str
    severity: str
    row: int
    message: str


@dataclass
class Result:
    entry: Entry
    checked: Path
    findings: list[Finding] = field(default_factory=list)
    failure: str = ""  # trainlint did not run to the end on this file

    @property
    def group(self) -> str:
        return GROUPS[self.entry.expected[0][2]]

    @property
    def found(self) -> bool:
        return any(hit(self.entry, f) for f in self.findings)

    @property
    def not_implemented(self) -> bool:
        return all(code in RESERVED for code in self.entry.expected)

    def near(self) -> list[Finding]:
        """Findings of any code around the defect's lines: what trainlint said instead."""
        return [f for f in self.findings if any(abs(f.row - line) <= TOLERANCE for line in self.entry.lines)]

    def alarms(self) -> list[Finding]:
        return [f for f in self.findings if f.severity in ALARM_SEVERITIES]


def hit(entry: Entry, finding: Finding) -> bool:
    """A finding of an expected code within TOLERANCE lines of one of the defect's lines."""
    return finding.code in entry.expected and any(abs(finding.row - line) <= TOLERANCE for line in entry.lines)


# running trainlint ---------------------------------------------------------------------
def stage_repros(entries: list[Entry], scratch: Path) -> dict[str, Path]:
    """Copy each repro into a project of its own; its path there, by entry id.

    A repro that is a folder's file (repro/<name>/train.py) brings its whole folder, for
    the defects that span a model file and a training script."""
    staged = {}
    for entry in entries:
        if entry.kind != "repro":
            continue
        source = HERE / "bugs" / entry.file
        project = scratch / entry.id
        if source.parent.name == "repro":
            project.mkdir(parents=True)
            shutil.copy2(source, project / source.name)
            staged[entry.id] = project / source.name
        else:
            shutil.copytree(source.parent, project)
            staged[entry.id] = project / source.name
        (project / ".git").mkdir()  # a checkout's root, as fetch.py marks the snapshots
    return staged


def run_trainlint(python: str, files: list[Path]) -> tuple[dict[str, list[Finding]], str]:
    """Findings per resolved filename for one project's files, and an error text if it failed."""
    command = [python, "-I", "-m", "trainlint", "check", "--select", "ALL", "--output-format", "json",
               "--no-cache", "--exit-zero", *map(str, files)]
    cwd = files[0].parent  # trainlint names files relative to its working folder
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {}, (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for item in report:
        by_file[str((cwd / item["filename"]).resolve())].append(
            Finding(item["code"], item["severity"], item["location"]["row"], item["message"]))
    return by_file, ""


def check(entries: list[Entry], snapshots: Path, python: str, jobs: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="trainlint-recall-") as scratch:
        staged = stage_repros(entries, Path(scratch))
        results, projects = [], defaultdict(list)
        for entry in entries:
            path = staged[entry.id] if entry.kind == "repro" else snapshots / entry.snapshot / entry.path
            result = Result(entry, path.resolve())
            results.append(result)
            if not path.is_file():
                result.failure = f"missing file {path} (run benchmarks/bugs/fetch.py {snapshots})"
                continue
            project = Path(scratch) / entry.id if entry.kind == "repro" else snapshots / entry.snapshot
            projects[project].append(result)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes = pool.map(lambda group: (group, run_trainlint(python, sorted({r.checked for r in group}))),
                                projects.values())
            for group, (by_file, error) in outcomes:
                for result in group:
                    result.findings = sorted(by_file.get(str(result.checked), []), key=lambda f: (f.row, f.code))
                    result.failure = error
    return results


# the report ----------------------------------------------------------------------------
def summarize(results: list[Result]) -> dict:
    defects = [r for r in results if r.entry.kind != "clean"]
    clean = [r for r in results if r.entry.kind == "clean"]
    groups = {}
    for name in GROUPS.values():
        members = [r for r in defects if r.group == name]
        groups[name] = _ratio(sum(r.found for r in members), len(members))
    implemented = [r for r in defects if not r.not_implemented]
    return {
        "defects": len(defects),
        "sources": len({r.entry.url for r in defects}),
        "repo": sum(r.entry.kind == "repo" for r in defects),
        "repro": sum(r.entry.kind == "repro" for r in defects),
        "clean_scripts": len(clean),
        "tolerance": TOLERANCE,
        "recall": _ratio(sum(r.found for r in defects), len(defects)),
        "recall_implemented_rules": _ratio(sum(r.found for r in implemented), len(implemented)),
        "groups": groups,
        "misses": [_miss(r) for r in defects if not r.found],
        "false_alarms": [
            {"id": r.entry.id, "file": r.entry.file, "findings": [_finding(f) for f in r.alarms()]}
            for r in clean if r.alarms()
        ],
        "failures": [{"id": r.entry.id, "error": r.failure} for r in results if r.failure],
    }


def _ratio(found: int, total: int) -> dict:
    return {"found": found, "total": total, "percent": round(100 * found / total, 1) if total else None}


def _finding(f: Finding) -> dict:
    return {"code": f.code, "severity": f.severity, "line": f.row, "message": f.message}


def _miss(r: Result) -> dict:
    return {
        "id": r.entry.id, "kind": r.entry.kind, "file": r.entry.file,
        "lines": list(r.entry.lines), "expected": list(r.entry.expected),
        "not_implemented": r.not_implemented,
        "near": [_finding(f) for f in r.near()],
        "elsewhere": sorted({f.code for f in r.findings} - {f.code for f in r.near()}),
    }


def print_report(summary: dict, out=sys.stdout) -> None:
    def pct(ratio: dict) -> str:
        return f"{ratio['found']}/{ratio['total']}" + (f" ({ratio['percent']}%)" if ratio["total"] else "")

    print(f"{summary['defects']} defects from {summary['sources']} sources "
          f"({summary['repo']} in repositories, {summary['repro']} reproductions); "
          f"{summary['clean_scripts']} clean scripts; a hit is an expected code within +/-{summary['tolerance']} lines", file=out)
    print(f"\nrecall: {pct(summary['recall'])}   on implemented rules: {pct(summary['recall_implemented_rules'])}", file=out)
    for name, ratio in summary["groups"].items():
        print(f"  {name:<18} {pct(ratio)}", file=out)
    print(f"\nmisses ({len(summary['misses'])}):", file=out)
    for miss in summary["misses"]:
        said = "; ".join(f"{f['code']}@{f['line']}" for f in miss["near"]) or "nothing near"
        if miss["elsewhere"]:
            said += " (elsewhere: " + ", ".join(miss["elsewhere"]) + ")"
        flag = " [rule not implemented]" if miss["not_implemented"] else ""
        print(f"  {miss['id']}: {'|'.join(miss['expected'])} at {','.join(map(str, miss['lines']))}{flag}\n"
              f"      {miss['file']}\n      trainlint: {said}", file=out)
    print(f"\nfalse alarms on clean scripts ({sum(len(a['findings']) for a in summary['false_alarms'])}):", file=out)
    for alarm in summary["false_alarms"]:
        for f in alarm["findings"]:
            print(f"  {alarm['id']}:{f['line']} {f['code']} [{f['severity']}] {f['message']}", file=out)
    for failure in summary["failures"]:
        print(f"\nnot checked: {failure['id']}: {failure['error']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="the folder benchmarks/bugs/fetch.py wrote the repository files into")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--python", default=sys.executable, help="the Python whose trainlint is measured")
    parser.add_argument("--jobs", type=int, default=2, help="trainlint processes at once")
    args = parser.parse_args(argv)
    summary = summarize(check(load(args.manifest), args.dir.resolve(), args.python, max(1, args.jobs)))
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print_report(summary)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
