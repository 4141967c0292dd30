#!/usr/bin/env python3
"""A notebook is checked at the speed of the same code in a .py file.

    python benchmarks/notebook_speed.py                  # a ~300-line training script, 30 cells
    python benchmarks/notebook_speed.py FILE.py --cells 30 --repeat 20

The script's top-level statements are dealt into CELLS code cells (with a markdown cell
between every two and `%matplotlib inline` in the first, as real notebooks have them), the
notebook is written as Jupyter writes it, and the engine checks both texts in this process
(best of REPEAT rounds in turns, all rules): printed are lines/s for each and their ratio.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCES = [HERE.parent / "examples" / "buggy" / name for name in ("models/vgg.py", "models/resnet.py", "data.py", "train_vgg.py")]


def default_script() -> str:
    """The example project's model, data and training code as one script (its own
    imports kept once each), padded to ~300 lines with more of the same."""
    parts = []
    for path in DEFAULT_SOURCES:
        text = path.read_text()
        parts.append("\n".join(line for line in text.splitlines() if not line.startswith(("from models", "from data"))))
    script = "\n\n".join(parts) + "\n"
    copies, n = [script], 1
    while sum(c.count("\n") for c in copies) < 340:
        n += 1
        copies.append(script.replace("def main(", f"def main_{n}(").replace("class ", f"class V{n}"))
    return "".join(copies)


def to_notebook(script: str, cells: int) -> str:
    tree = ast.parse(script)
    lines = script.splitlines(keepends=True)
    starts = [node.lineno - 1 - len(getattr(node, "decorator_list", [])) for node in tree.body] + [len(lines)]
    chunks = [lines[a:b] for a, b in zip(starts, starts[1:])]
    chunks[0] = lines[: starts[1]]
    per_cell = max(1, len(chunks) // cells)
    groups = [chunks[i:i + per_cell] for i in range(0, len(chunks), per_cell)]
    while len(groups) > cells:
        groups[-2].extend(groups.pop())
    document_cells = []
    for n, group in enumerate(groups):
        source = "".join(line for chunk in group for line in chunk).strip("\n")
        if n == 0:
            source = "%matplotlib inline\n" + source
        if n % 2:
            document_cells.append({"cell_type": "markdown", "id": f"m{n}", "metadata": {}, "source": [f"## Step {n}"]})
        document_cells.append({"cell_type": "code", "execution_count": n + 1, "id": f"c{n}", "metadata": {},
                               "outputs": [], "source": source.splitlines(keepends=True)})
    document = {"cells": document_cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def best(repeat: int, *fns) -> list[float]:
    """The best time of each function over `repeat` rounds, the functions taking turns in
    each round, so a change in the machine's load falls on both."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for own, fn in zip(times, fns):
            start = time.perf_counter()
            fn()
            own.append(time.perf_counter() - start)
    return [min(own) for own in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", nargs="?", help="a Python training script (default: the example project's code)")
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    from trainlint.config import Config
    from trainlint.engine import Engine
    from trainlint.notebook import read_notebook

    script = Path(args.script).read_text() if args.script else default_script()
    raw = to_notebook(script, args.cells)
    notebook = read_notebook(raw)
    module = notebook.text  # the same code, magics neutralized, as a .py file would hold it
    rows = module.count("\n")
    engine = Engine(Config(select=["ALL"]))
    engine.check_source(module, "train.py")  # imports and first-use costs out of the timing
    as_py, as_notebook = best(args.repeat, lambda: engine.check_source(module, "train.py"),
                              lambda: engine.check_source(raw, "train.ipynb"))
    findings = len(engine.check_source(raw, "train.ipynb").findings), len(engine.check_source(module, "train.py").findings)
    code_cells = len(notebook.cells)
    print(f"{rows} lines; notebook of {code_cells} code cells ({len(json.loads(raw)['cells'])} cells), findings {findings[0]} (py {findings[1]})")
    print(f"  .py      {as_py * 1000:7.1f} ms  {rows / as_py:8.0f} lines/s")
    print(f"  .ipynb   {as_notebook * 1000:7.1f} ms  {rows / as_notebook:8.0f} lines/s")
    print(f"  notebook / py time: {as_notebook / as_py:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
