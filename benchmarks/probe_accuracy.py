"""How often the probe is right: benchmarks/probe_cases/, each script probed N times.

    python benchmarks/probe_accuracy.py [--runs 3] [--steps 20] [--jobs 2] [--json out.json] [NAME ...]

Each case script starts with a line `# probe-expect: {"runtime": [...], "verdicts": {...}}`:
the runtime findings it must produce and the verdicts its static findings must get.
Healthy scripts expect nothing: any runtime finding or confirmed static finding on them
is a false finding. Printed (markdown, kept in docs/probe.md):

- findings right / false / missed: expected runtime codes reported, unexpected runtime
  codes or confirmed static codes, expected runtime codes not reported (first run);
- verdicts right / wrong: each expected (static code, verdict) holds for every static
  finding of that code (a missing static finding is wrong);
- identical: every run gave the same findings, messages, verdicts and numbers;
- wall: the median wall time of a run, child start and static analysis included.

Needs torch. The cases train on the CPU (the AMP pair on a GPU when there is one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "probe_cases"
MARK = "# probe-expect:"
#: Acceptance (issue 14): no false finding on a healthy script, >= 90% right, all runs identical, <= 60 s each.
MIN_RIGHT = 0.9
MAX_WALL_S = 60.0


@dataclass
class Case:
    name: str
    path: Path
    runtime: set[str]
    verdicts: dict[str, str]

    @property
    def healthy(self) -> bool:
        return not self.runtime and not self.verdicts


@dataclass
class Outcome:
    case: Case
    right: set[str] = field(default_factory=set)
    false: set[str] = field(default_factory=set)
    missed: set[str] = field(default_factory=set)
    verdicts_right: int = 0
    verdicts_wrong: list[str] = field(default_factory=list)
    identical: bool = True
    walls: list[float] = field(default_factory=list)
    stopped: str = ""


#: Optional packages a case may need (it is skipped, and said so, where one is missing).
OPTIONAL = ("lightning",)


def missing_package(text: str) -> str | None:
    import importlib.util

    return next((name for name in OPTIONAL if f"import {name}" in text and importlib.util.find_spec(name) is None),
                None)


def load_cases(names: list[str], skipped: list[str] | None = None) -> list[Case]:
    cases = []
    for path in sorted(CASES.glob("*.py")):
        if names and path.stem not in names:
            continue
        text = path.read_text(encoding="utf-8")
        missing = missing_package(text)
        if missing is not None:
            if skipped is not None:
                skipped.append(f"{path.stem} ({missing} is not installed)")
            continue
        first = text.splitlines()[0]
        if not first.startswith(MARK):
            raise SystemExit(f"{path}: the first line must be `{MARK} {{...}}`")
        expect = json.loads(first[len(MARK):])
        cases.append(Case(path.stem, path, set(expect.get("runtime", [])), dict(expect.get("verdicts", {}))))
    return cases


def signature(result) -> list[tuple]:
    """Everything a user reads from one probe, to compare runs."""
    return sorted((f.code, f.path, f.location.row, f.message, str(f.details.get("verdict")),
                   str(f.details.get("verdict_message")), json.dumps(f.details.get("measurement"), sort_keys=True,
                                                                     default=str))
                  for f in result.findings)


def judge(case: Case, results: list) -> Outcome:
    first = results[0]
    out = Outcome(case, walls=[r.wall_s for r in results], stopped=first.report.stopped if first.report else "no report")
    got = {f.code for f in first.runtime}
    confirmed = {f.code for f in first.static if f.details.get("verdict") == "confirmed"}
    expected_confirmed = {code for code, verdict in case.verdicts.items() if verdict == "confirmed"}
    out.right = got & case.runtime
    out.missed = case.runtime - got
    out.false = (got - case.runtime) | (confirmed - expected_confirmed)
    for code, verdict in sorted(case.verdicts.items()):
        given = {f.details.get("verdict") for f in first.static if f.code == code}
        if given == {verdict}:
            out.verdicts_right += 1
        else:
            out.verdicts_wrong.append(f"{code}: {', '.join(sorted(map(str, given))) or 'no static finding'}")
    out.identical = all(signature(r) == signature(first) for r in results[1:])
    return out


def probe_case(case: Case, runs: int, steps: int) -> Outcome:
    from trainlint.probe.runner import run_probe

    results = [run_probe(case.path, [], steps=steps, timeout=120) for _ in range(runs)]
    return judge(case, results)


def table(outcomes: list[Outcome], runs: int) -> str:
    lines = ["| case | expected | findings right / false / missed | verdicts right / wrong | identical "
             f"over {runs} runs | wall (s) |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        c = o.case
        expected = ", ".join(sorted(c.runtime) + [f"{k} {v}" for k, v in sorted(c.verdicts.items())]) or "nothing"
        found = f"{len(o.right)} / {len(o.false)} / {len(o.missed)}"
        if o.false or o.missed:
            found += " (" + "; ".join(filter(None, [
                "false " + ", ".join(sorted(o.false)) if o.false else "",
                "missed " + ", ".join(sorted(o.missed)) if o.missed else ""])) + ")"
        verdicts = f"{o.verdicts_right} / {len(o.verdicts_wrong)}"
        if o.verdicts_wrong:
            verdicts += " (" + "; ".join(o.verdicts_wrong) + ")"
        lines.append(f"| {c.name} | {expected} | {found} | {verdicts} | {'yes' if o.identical else 'NO'} | "
                     f"{statistics.median(o.walls):.1f} |")
    return "\n".join(lines)


def totals(outcomes: list[Outcome]) -> dict:
    expected = sum(len(o.case.runtime) + len(o.case.verdicts) for o in outcomes)
    right = sum(len(o.right) + o.verdicts_right for o in outcomes)
    return {
        "cases": len(outcomes),
        "healthy": sum(o.case.healthy for o in outcomes),
        "false_on_healthy": sum(len(o.false) for o in outcomes if o.case.healthy),
        "false": sum(len(o.false) for o in outcomes),
        "missed": sum(len(o.missed) for o in outcomes),
        "verdicts_wrong": sum(len(o.verdicts_wrong) for o in outcomes),
        "expected": expected,
        "right": right,
        "right_share": right / expected if expected else 1.0,
        "identical": sum(o.identical for o in outcomes),
        "max_wall_s": max((max(o.walls) for o in outcomes), default=0.0),
        "total_wall_s": sum(sum(o.walls) for o in outcomes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these cases (file stems)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2, help="cases probed at once (each is a child process)")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    options = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # small models: threads only contend between cases
    skipped: list[str] = []
    cases = load_cases(options.names, skipped)
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        outcomes = list(pool.map(lambda c: probe_case(c, options.runs, options.steps), cases))
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"probe accuracy: {len(cases)} cases, {options.runs} runs each, {options.steps} steps, "
          f"torch {torch.__version__}, {device}, {options.jobs} at once\n")
    print(table(outcomes, options.runs))
    if skipped:
        print(f"\nskipped: {', '.join(skipped)}")
    t = totals(outcomes)
    print(f"\n{t['right']} of {t['expected']} expected findings and verdicts right ({t['right_share']:.0%}); "
          f"{t['false']} false finding(s), {t['false_on_healthy']} on the {t['healthy']} healthy scripts; "
          f"{t['missed']} missed; {t['verdicts_wrong']} wrong verdict(s); identical over {options.runs} runs: "
          f"{t['identical']} of {t['cases']}; slowest run {t['max_wall_s']:.1f} s, all runs {t['total_wall_s']:.0f} s")
    if options.json:
        options.json.write_text(json.dumps({"totals": t, "cases": [
            {"name": o.case.name, "right": sorted(o.right), "false": sorted(o.false), "missed": sorted(o.missed),
             "verdicts_right": o.verdicts_right, "verdicts_wrong": o.verdicts_wrong, "identical": o.identical,
             "walls": o.walls, "stopped": o.stopped} for o in outcomes]}, indent=2))
    ok = (t["false_on_healthy"] == 0 and t["right_share"] >= MIN_RIGHT and t["identical"] == t["cases"]
          and t["max_wall_s"] <= MAX_WALL_S)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
