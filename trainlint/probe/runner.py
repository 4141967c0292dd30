"""The parent side: start the probed child, watch it, always clean up, read its report.

Never imports torch: `import trainlint.probe` works without it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.finding import Finding
from trainlint.notebook import is_notebook
from trainlint.probe.analyze import Measurements, explain_causes, runtime_findings, verdict_for
from trainlint.probe.schema import Progress, Report
from trainlint.probe.thresholds import Thresholds, load_thresholds

if TYPE_CHECKING:
    from trainlint.config import Config

INSTALL_HINT = "the probe needs PyTorch: pip install 'trainlint[probe]'"

#: Environment switches that keep logging services from writing or uploading during the probe.
QUIET_ENV = {
    "WANDB_MODE": "disabled",
    "WANDB_DISABLED": "true",
    "WANDB_SILENT": "true",
    "NEPTUNE_MODE": "debug",
    "COMET_AUTO_LOG_DISABLE": "1",
    "CLEARML_OFFLINE_MODE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",
    "PYTHONUNBUFFERED": "1",
    "TRAINLINT_PROBE": "1",
}
GRACE_S = 10.0


class ProbeUnavailable(Exception):
    """torch is not installed in this interpreter."""


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


@dataclass
class ProbeResult:
    script: str
    args: list[str]
    report: Report | None
    ranks: list[Report]
    runtime: list[Finding] = field(default_factory=list)
    static: list[Finding] = field(default_factory=list)
    wall_s: float = 0.0
    returncode: int | None = None
    output_tail: str = ""
    problem: str | None = None  # why there is no (complete) measurement
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def findings(self) -> list[Finding]:
        return self.runtime + self.static

    @property
    def failed(self) -> bool:
        """Exit code 1: a runtime finding or a confirmed static finding."""
        return bool(self.runtime) or any(f.details.get("verdict") == "confirmed" for f in self.static)

    @property
    def not_measured(self) -> str | None:
        """Why the probe measured nothing (no training step ran), or None when it did."""
        r = self.report
        if r is None:
            return self.problem or "the probe wrote no report"
        if r.backward_calls:
            return None
        stopped = r.stopped
        if stopped == "exception":
            what = r.exception.type if r.exception else "an exception"
            return f"the script raised {what} before its first training step"
        if stopped == "exit":
            return f"the script exited (code {r.exit_code}) before its first training step"
        if stopped == "timeout":
            return "the time limit ran out before the script's first training step"
        return "no training step (backward()) ran"

    @property
    def exit_code(self) -> int:
        """0: nothing found; 1: a runtime finding or a confirmed static finding; 2: nothing measured."""
        if self.failed:
            return 1
        return 2 if self.not_measured else 0

    def summary(self) -> dict:
        r = self.report or Report()
        verdicts: dict[str, int] = {}
        for f in self.static:
            verdicts[f.details["verdict"]] = verdicts.get(f.details["verdict"], 0) + 1
        return {
            "script": self.script,
            "args": self.args,
            "stopped": r.stopped,
            "problem": self.problem,
            "measured": self.not_measured is None,
            "not_measured": self.not_measured,
            "probe_exit_code": self.exit_code,
            "exit_code": r.exit_code,
            "exception": r.exception.to_json() if r.exception else None,
            "device": r.device,
            "cuda_available": r.cuda_available,
            "torch": r.torch,
            "world_size": r.world_size,
            "ranks": [{"rank": x.rank, "stopped": x.stopped, "optimizer_steps": x.optimizer_steps,
                       "backward_calls": x.backward_calls} for x in self.ranks],
            "max_steps": r.max_steps,
            "optimizer_steps": r.optimizer_steps,
            "backward_calls": r.backward_calls,
            "wall_s": round(self.wall_s, 3),
            "child_wall_s": r.wall_s,
            "step_s": r.step_s,
            "losses": r.losses,
            "grad_norms": r.grad_norms,
            "scaler_overflows": r.scaler_overflows,
            "eval_passes": [x.to_json() for x in r.eval_passes],
            "learning_rates": r.lrs[:1] + r.lrs[-1:] if r.lrs else [],
            "layers": [{"name": x.name, "module": x.module, "norms": x.norms} for x in r.layers],
            "loaders": [{"sampler": ld.sampler, "batch_size": ld.batch_size,
                         "batches": [b.to_json() for b in ld.batches]} for ld in r.loaders],
            "redirected_writes": [x.path for x in r.redirected],
            "runtime_findings": len(self.runtime),
            "verdicts": verdicts,
            "thresholds": self.thresholds.to_json(),
            "internal_errors": r.internal_errors,
            "output_tail": self.output_tail if (self.problem or r.stopped == "exception") else "",
        }

    def to_json(self) -> dict:
        findings = []
        for f in self.findings:
            item = f.to_json()
            item.update({"kind": f.details.get("kind"), "verdict": f.details.get("verdict"),
                         "verdict_message": f.details.get("verdict_message"),
                         "measurement": f.details.get("measurement", {})})
            findings.append(item)
        return {"findings": findings, "summary": self.summary()}


def _child_command(script: Path, args: Sequence[str], *, steps: int, timeout: float, report_dir: str,
                   checkpoint_dir: str, project_root: Path, max_batches: int, nproc_per_node: int | None,
                   through_eval: bool = False) -> list[str]:
    child = ["--steps", str(steps), "--timeout", str(timeout), "--report-dir", report_dir,
             "--checkpoint-dir", checkpoint_dir, "--project-root", str(project_root), "--max-batches", str(max_batches),
             *(["--through-eval"] if through_eval else []), "--", str(script), *args]
    if nproc_per_node:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc_per_node),
                "-m", "trainlint.probe._child", *child]
    return [sys.executable, "-m", "trainlint.probe._child", *child]


def project_root_for(script: Path) -> Path:
    """The folder whose files the script may overwrite: the config root or git root above it, else its folder."""
    from trainlint.config import find_config_file

    config = find_config_file(script.parent)
    if config is not None:
        return config.parent.resolve()
    for directory in (script.parent.resolve(), *script.parent.resolve().parents):
        if (directory / ".git").exists():
            return directory
    return script.parent.resolve()


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGTERM:
            time.sleep(0.3)


def run_probe(
    script: str | Path,
    args: Sequence[str] = (),
    *,
    steps: int = 20,
    timeout: float = 300.0,
    nproc_per_node: int | None = None,
    thresholds: Thresholds | None = None,
    static: bool = True,
    config_path: Path | None = None,
    config: "Config | None" = None,
    on_progress: Callable[[Progress], None] | None = None,
    cwd: str | Path | None = None,
    through_eval: bool = False,
) -> ProbeResult:
    """Run SCRIPT with ARGS for `steps` optimizer steps (or `timeout` seconds) under instrumentation;
    with `through_eval`, on to the first evaluation pass and a few training steps after it.

    Returns the runtime findings and the verdicts on the static findings of the script and
    the project files it imported. `config` (else the file at `config_path`, else the one
    found above the script) selects the runtime findings, sets their severity and, unless
    `thresholds` is given, their thresholds, as it does for static rules. The language
    server calls this through `python -m trainlint probe FILE --output-format json` in a
    subprocess.
    """
    if not torch_available():
        raise ProbeUnavailable(INSTALL_HINT)
    from trainlint.config import load_config

    script = notebook = Path(script)
    # module names are relative to the script's folder (its sys.path[0]) unless a config file sets the root
    config = config if config is not None else load_config(config_path, start=script.resolve().parent)
    thresholds = thresholds or load_thresholds(config)
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="trainlint-probe-")
    report_dir = os.path.join(tmp, "report")
    checkpoint_dir = os.path.join(tmp, "checkpoints")
    os.makedirs(report_dir)
    os.makedirs(checkpoint_dir)
    log_path = os.path.join(tmp, "output.log")
    if is_notebook(str(notebook)):  # its code cells run in order as one script, in the notebook's folder
        try:
            script = _notebook_script(notebook)
        except ProbeUnavailable:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        cwd = cwd if cwd is not None else notebook.resolve().parent
    root = project_root_for(script.resolve())
    command = _child_command(script.resolve(), list(args), steps=steps, timeout=timeout, report_dir=report_dir,
                             checkpoint_dir=checkpoint_dir, project_root=root, max_batches=thresholds.max_batches,
                             nproc_per_node=nproc_per_node, through_eval=through_eval)
    env = {**os.environ, **QUIET_ENV}
    # set and dict orders of the script fixed too (the child seeds its random generators itself)
    env.setdefault("PYTHONHASHSEED", "0")
    read_fd, write_fd = os.pipe()
    env["TRAINLINT_PROBE_PROGRESS_FD"] = str(write_fd)
    returncode = None
    problem = None
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env=env, cwd=cwd, start_new_session=True, pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = -1
        reader = threading.Thread(target=_read_progress, args=(read_fd, on_progress), daemon=True)
        reader.start()
        try:
            # the child stops itself at `timeout`; the grace covers writing the report
            returncode = process.wait(timeout=timeout + GRACE_S)
        except subprocess.TimeoutExpired:
            problem = f"the script did not stop within {timeout:g} s (+{GRACE_S:g} s grace) and was killed"
        finally:
            _kill_group(process.pid)  # DataLoader workers, torchrun ranks: the whole group
            if returncode is None:
                try:
                    returncode = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        reader.join(timeout=2)
        ranks = _read_reports(report_dir)
        tail = _tail(log_path)
        report = next((r for r in ranks if r.rank == 0), ranks[0] if ranks else None)
        if report is None and problem is None:
            problem = (f"the script ended (exit code {returncode}) before the probe could write a report"
                       " (os._exit, a crash in native code, or killed)")
        result = ProbeResult(str(notebook), list(args), report, ranks, wall_s=0.0, returncode=returncode,
                             output_tail=tail, problem=problem, thresholds=thresholds)
        if report is not None:
            m = Measurements(report, thresholds)
            result.runtime = runtime_findings(m, str(script.resolve()), config)
            if notebook != script:
                result.runtime = _in_cells(result.runtime, notebook, script)
            if static:
                files = [Path(p) for p in report.project_files if os.path.isfile(p)]
                files = [notebook.resolve()] + [f for f in files if f != script.resolve()]
                found = static_findings(files, config)
                if notebook != script:  # judged where the script ran them, reported in their cells
                    result.static = _judged_in_cells(found, m, notebook, script)
                else:
                    result.static = [verdict_for(f, m) for f in found]
                result.runtime = explain_causes(result.runtime, result.static)
        elif static:
            result.static = []
        result.wall_s = time.perf_counter() - started
        return result
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        shutil.rmtree(tmp, ignore_errors=True)
        if notebook != script:
            script.unlink(missing_ok=True)


def _notebook_script(notebook: Path) -> Path:
    """The notebook's code cells as one script beside it (its folder is the script's
    sys.path[0], as the kernel's): IPython magics and shell escapes are no-ops there, cells
    in another language left out (trainlint.notebook)."""
    from trainlint.notebook import read_notebook
    from trainlint.source import FileProblem

    try:
        text = read_notebook(notebook.read_bytes()).text
    except (OSError, FileProblem) as exc:
        raise ProbeUnavailable(f"{notebook}: cannot read the notebook: {getattr(exc, 'message', exc)}") from None
    script = notebook.resolve().parent / f".{notebook.stem}.trainlint-probe.py"
    script.write_text(text, encoding="utf-8")
    return script


def _in_cells(findings: list[Finding], notebook: Path, script: Path) -> list[Finding]:
    """Runtime findings located in the script made of the notebook, located in its cells."""
    from dataclasses import replace

    from trainlint.notebook import findings_in_cells, read_notebook
    from trainlint.probe.analyze import display_path

    cells = read_notebook(notebook.read_bytes())
    shown, there = display_path(str(notebook)), display_path(str(script))
    return [findings_in_cells(cells, [replace(f, path=shown)])[0] if f.path == there else f for f in findings]


def _judged_in_cells(findings: list[Finding], m: Measurements, notebook: Path, script: Path) -> list[Finding]:
    """Verdicts on the static findings of a notebook: each judged at its row of the script
    that ran (where the probe measured), then given back its cell."""
    from dataclasses import replace

    from trainlint.notebook import findings_in_cells, findings_in_module, read_notebook

    cells = read_notebook(notebook.read_bytes())
    judged = []
    for f in findings:
        if f.cell is None:
            judged.append(verdict_for(f, m))
            continue
        for in_script in findings_in_module(cells, [replace(f, path=str(script.resolve()))]):
            judged.extend(findings_in_cells(cells, [replace(verdict_for(in_script, m), path=f.path)]))
    return judged


def static_findings(files: list[Path], config: "Config") -> list[Finding]:
    """The engine's findings on the script and the project files it imported (TL0xx excluded)."""
    from trainlint.project import check_paths

    run = check_paths(files, config)
    return [f for f in run.findings if not f.code.startswith("TL0")]


def _read_progress(fd: int, callback: Callable[[Progress], None] | None) -> None:
    with os.fdopen(fd, "r", errors="replace") as stream:
        for line in stream:
            if callback is None:
                continue
            try:
                callback(Progress.from_json(json.loads(line)))
            except Exception:
                pass


def _read_reports(report_dir: str) -> list[Report]:
    reports = []
    for name in sorted(os.listdir(report_dir)):
        if name.startswith("rank") and name.endswith(".json"):
            try:
                with open(os.path.join(report_dir, name), encoding="utf-8") as fh:
                    reports.append(Report.from_json(json.load(fh)))
            except (OSError, ValueError, TypeError):
                continue
    reports.sort(key=lambda r: r.rank)
    return reports


def _tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 20000))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
