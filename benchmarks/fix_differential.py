#!/usr/bin/env python3
"""Every fix, safe and unsafe, applied to a copy of each corpus file that has one, judged by
tests/differential.py: the fixed file compiles, the names the fixes wrote mean what they
meant, nothing outside the fixed nodes changes (syntax trees compared), and a second
`--fix` changes nothing. Counts go to docs/fixes.md.

    python benchmarks/fix_differential.py                 # every project under /work/corpus
    python benchmarks/fix_differential.py --corpus DIR    # the projects (folders) under DIR

Each project is checked as `trainlint check --select ALL` checks it (its project index
included); the files are read, fixed in memory and never written back.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from differential import differential  # noqa: E402

from trainlint.config import Config  # noqa: E402
from trainlint.project import check_paths  # noqa: E402
from trainlint.source import FileProblem, decode_source  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    projects = sorted(p for p in args.corpus.iterdir() if p.is_dir())
    if not projects:
        sys.exit(f"no projects under {args.corpus}")
    totals: Counter = Counter()
    applied_by_code: Counter = Counter()
    broken: list[str] = []
    refused: list[str] = []
    print("| project | files | files with a fix | fixes applied | refused by the fixer | broken |")
    print("|---|---|---|---|---|---|")
    start = time.monotonic()
    for project in projects:
        config = Config(select=("ALL",), root=project.resolve())
        run = check_paths([project], config, jobs=args.jobs, cache=False)
        files = with_fix = applied = 0
        project_refused: list[str] = []
        project_broken: list[str] = []
        for n, item in enumerate(run.items):
            files += 1
            if not isinstance(item.data, bytes) or not any(f.fix is not None for f in run.files[n].findings):
                continue
            try:
                text = decode_source(item.data)
            except FileProblem:
                continue
            with_fix += 1
            result = differential(run.engine, text, item.shown, index=run.index, module_name=item.module_name,
                                  package=item.package)
            applied += sum(result.applied.values())
            applied_by_code.update(result.applied)
            project_refused += result.refused
            project_broken += result.broken
        totals.update(files=files, with_fix=with_fix, applied=applied, refused=len(project_refused),
                      broken=len(project_broken))
        refused += project_refused
        broken += project_broken
        print(f"| {project.name} | {files} | {with_fix} | {applied} | {len(project_refused)} | {len(project_broken)} |",
              flush=True)
    print(f"| **all {len(projects)}** | {totals['files']} | {totals['with_fix']} | {totals['applied']} | "
          f"{totals['refused']} | {totals['broken']} |")
    print()
    print("fixes applied per rule: " + ", ".join(f"{code} {n}" for code, n in sorted(applied_by_code.items())))
    print(f"({time.monotonic() - start:.0f} s)")
    for line in refused:
        print(f"refused: {line}")
    for line in broken:
        print(f"BROKEN: {line}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
