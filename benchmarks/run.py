#!/usr/bin/env python3
"""trainlint against TorchFix and Fixit, on the same files in one run.

    python benchmarks/run.py                      # real training code + part of torch + one file
    python benchmarks/run.py --paths ~/src/myproj # your own code as the "real" corpus
    python benchmarks/run.py --torch-all          # all of site-packages/torch (TorchFix: ~30 min)

Each competitor is installed into its own virtual environment under the cache folder
(pip, from the configured package registry): TorchFix (`--select ALL`, which pins
libcst < 1.6) and Fixit (its built-in rules). trainlint is the one installed beside this
Python. Every tool gets the same folder: the chosen .py files copied into a scratch
directory, so discovery differences cannot change the work.

Printed per corpus: files, lines, wall time, lines/s, peak RSS (the largest single
process of the tool's process tree), and the ratios to trainlint cold/warm. Timings vary
with the machine and its load: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS_ROOTS = [Path("/work/corpus")]  # where this project's machines keep real code
REAL_PROJECTS = ("pytorch+examples", "karpathy+nanoGPT", "karpathy+minGPT")
# Part of torch by default: TorchFix checks ~500-1000 lines/s, all of torch (1.2M lines) takes it half an hour.
TORCH_PARTS = ("nn", "optim", "utils/data", "distributions", "ao/quantization")
SMALL_FILE_LINES = 330

COMPETITORS = {
    "torchfix": {"packages": ["torchfix"], "command": lambda venv, path: [str(venv / "bin" / "torchfix"), "--select", "ALL", str(path)]},
    "fixit": {"packages": ["fixit"], "command": lambda venv, path: [str(venv / "bin" / "fixit"), "lint", str(path)]},
}


@dataclass
class Timing:
    tool: str
    wall: float
    peak_rss_mib: float
    rc: int
    cpu: float = 0.0  # user + system seconds of the whole process tree: what the run costs without the machine's load


def run_timed(command: list[str], cwd: Path, env: dict | None = None) -> Timing:
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss of a waited child covers it and its waited descendants (the pool workers): the largest one.
    return Timing(Path(command[0]).name, wall, usage.ru_maxrss / 1024, proc.returncode,
                  usage.ru_utime + usage.ru_stime)


def ensure_venv(name: str, cache: Path) -> Path:
    venv = cache / name
    marker = venv / ".installed"
    if marker.exists():
        return venv
    print(f"installing {name} into {venv} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *COMPETITORS[name]["packages"]], check=True)
    marker.write_text("ok\n")
    return venv


def torch_sources(parts: tuple[str, ...] | None) -> list[Path]:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        print("torch is not installed beside this Python: skipping the torch corpus", file=sys.stderr)
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    folders = [root] if parts is None else [root / p for p in parts]
    return [(p, root) for folder in folders for p in sorted(folder.rglob("*.py"))]


def real_sources(paths: list[str]) -> list[tuple[Path, Path]]:
    found = []
    if paths:
        roots = [Path(p) for p in paths]
    else:
        roots = [base / name for base in CORPUS_ROOTS for name in REAL_PROJECTS if (base / name).is_dir()]
    for root in roots:
        if root.is_file():
            found.append((root, root.parent))
            continue
        for p in sorted(root.rglob("*.py")):
            if not any(part.startswith(".") or part in ("venv", "build", "site-packages") for part in p.relative_to(root).parts):
                found.append((p, root.parent))
    return found


def stage(files: list[tuple[Path, Path]], into: Path) -> tuple[int, int]:
    """Copy the files into a scratch folder; returns (files, lines)."""
    lines = 0
    for path, base in files:
        target = into / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        target.write_bytes(data)
        lines += data.count(b"\n")
    return len(files), lines


def small_file(real: list[tuple[Path, Path]]) -> Path | None:
    """The real file closest to 330 lines (nanoGPT's model.py when present)."""
    best = None
    for path, _ in real:
        n = path.read_bytes().count(b"\n")
        if best is None or abs(n - SMALL_FILE_LINES) < abs(best[0] - SMALL_FILE_LINES):
            best = (n, path)
    return best[1] if best else None


def trainlint_command(path: Path, cache: bool) -> list[str]:
    """A folder: the statistics of every finding; one file: what the pre-commit hook runs."""
    exe = Path(sys.executable).parent / "trainlint"
    how = ["--no-show-source"] if path.is_file() else ["--statistics", "--exit-zero"]
    return [str(exe), "check", *how, *([] if cache else ["--no-cache"]), str(path)]


def measure_corpus(folder: Path, venvs: dict[str, Path], repeat: int) -> dict:
    results = {}
    shutil.rmtree(folder / ".trainlint_cache", ignore_errors=True)
    results["trainlint cold"] = best_of(repeat, lambda: run_timed(trainlint_command(folder, cache=False), folder))
    run_timed(trainlint_command(folder, cache=True), folder)  # fill the cache
    results["trainlint warm"] = best_of(repeat, lambda: run_timed(trainlint_command(folder, cache=True), folder))
    shutil.rmtree(folder / ".trainlint_cache", ignore_errors=True)
    for name, venv in venvs.items():
        results[name] = run_timed(COMPETITORS[name]["command"](venv, folder), folder)  # once: minutes each
    return results


def best_of(n: int, fn) -> Timing:
    timings = [fn() for _ in range(n)]
    return min(timings, key=lambda t: t.wall)


def report(label: str, files: int, lines: int, results: dict) -> list[str]:
    out = [f"\n### {label}: {files} files, {lines:,} lines\n",
           "| tool | wall s | CPU s | lines/s | peak RSS MiB | trainlint cold is | trainlint warm is |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    cold = results["trainlint cold"].wall
    warm = results["trainlint warm"].wall
    for tool, t in results.items():
        ratio_cold = f"{t.wall / cold:.1f}x faster" if not tool.startswith("trainlint") else ""
        ratio_warm = f"{t.wall / warm:.0f}x faster" if not tool.startswith("trainlint") else ""
        rc = "" if t.rc in (0, 1) else f" (exit {t.rc})"
        out.append(f"| {tool}{rc} | {t.wall:.2f} | {t.cpu:.2f} | {lines / t.wall:,.0f} | {t.peak_rss_mib:.0f} | {ratio_cold} | {ratio_warm} |")
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = ", load average %.1f" % os.getloadavg()[0]
    except OSError:
        load = ""
    return f"{cpu}, {cores} cores, Python {platform.python_version()}, {platform.system()}{load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", nargs="*", default=[], help="real training code to use instead of the default corpus")
    parser.add_argument("--torch-all", action="store_true", help="all of site-packages/torch, not only " + ", ".join(TORCH_PARTS))
    parser.add_argument("--tools", default="torchfix,fixit", help="competitors to run (comma-separated; '' for none)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of trainlint per measure (the best is kept)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "trainlint-bench"), help="where the venvs live")
    parser.add_argument("--corpora", default="real,torch,one", help="which to measure: real, torch, one (the single file)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    venvs = {name: ensure_venv(name, cache) for name in filter(None, args.tools.split(","))}

    real = real_sources(args.paths)
    wanted = set(args.corpora.split(","))
    corpora = [("real training code", real)] if "real" in wanted else []
    if "torch" in wanted:
        corpora.append(("torch sources" + ("" if args.torch_all else f" ({', '.join(TORCH_PARTS)})"),
                        torch_sources(None if args.torch_all else TORCH_PARTS)))
    one = small_file(real) if "one" in wanted else None
    lines_out = [f"Machine: {machine()}", f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    figures = {}
    with tempfile.TemporaryDirectory(prefix="trainlint-bench-") as scratch:
        for label, files in corpora + ([("one file", [(one, one.parent)])] if one else []):
            if not files:
                continue
            folder = Path(scratch) / label.split(" ")[0].replace("/", "_")
            folder.mkdir()
            count, lines = stage(files, folder)
            target = folder if label != "one file" else folder / one.name
            if label == "one file":
                label = f"one file ({one.name}, {lines} lines; wall time from the shell, imports included)"
            print(f"measuring {label} ...", flush=True)
            if label.startswith("one file"):
                results = measure_one(target, venvs, args.repeat)
            else:
                results = measure_corpus(target, venvs, args.repeat)
            lines_out += report(label, count, lines, results)
            figures[label] = {"files": count, "lines": lines,
                              **{k: {"wall": v.wall, "cpu": v.cpu, "rss_mib": v.peak_rss_mib, "rc": v.rc} for k, v in results.items()}}
    text = "\n".join(lines_out)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "figures": figures}, indent=2))
    return 0


def measure_one(path: Path, venvs: dict[str, Path], repeat: int) -> dict:
    folder = path.parent
    results = {}
    shutil.rmtree(folder / ".trainlint_cache", ignore_errors=True)
    results["trainlint cold"] = best_of(repeat, lambda: run_timed(trainlint_command(path, cache=False), folder))
    run_timed(trainlint_command(path, cache=True), folder)
    results["trainlint warm"] = best_of(repeat, lambda: run_timed(trainlint_command(path, cache=True), folder))
    for name, venv in venvs.items():
        results[name] = best_of(repeat, lambda: run_timed(COMPETITORS[name]["command"](venv, path), folder))
    return results


if __name__ == "__main__":
    sys.exit(main())
