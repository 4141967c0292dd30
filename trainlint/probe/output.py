"""The probe's faces: text (with a rich progress display while it runs), JSON, the gradient-flow plot."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from trainlint.probe.analyze import CONFIRMED, INCONCLUSIVE, NOT_CONFIRMED, NOT_OBSERVABLE, display_path
from trainlint.probe.numbers import fmt
from trainlint.probe.runner import ProbeResult
from trainlint.probe.schema import Progress, Report, ScriptException

_VERDICT_STYLE = {CONFIRMED: "bold red", INCONCLUSIVE: "yellow", NOT_CONFIRMED: "green", NOT_OBSERVABLE: "dim"}


def stopped_text(result: ProbeResult) -> str:
    r = result.report
    if r is None:
        return result.problem or "no report"
    steps, backward = r.optimizer_steps, r.backward_calls
    done = f"{steps} optimizer step{'s' if steps != 1 else ''} ({backward} backward call{'s' if backward != 1 else ''})"
    stopped = r.stopped
    if stopped == "steps":
        how = f"stopped after {done}" if steps else f"stopped after {backward} backward calls (no torch.optim optimizer)"
    elif stopped == "timeout":
        how = f"stopped at the time limit after {done}"
    elif stopped == "exception":
        exc = r.exception or ScriptException()
        site = exc.site
        where = f" at {display_path(site.file)}:{site.line}" if site else ""
        message = exc.message.strip().splitlines()
        message = message[0][:200] if message else ""
        how = f"the script raised {exc.type if r.exception else None}: {message}{where} after {done}"
    else:
        how = f"the script exited (code {r.exit_code}) after {done}"
    if result.problem:
        how += f"; {result.problem}"
    return how


def write_text(result: ProbeResult, out: TextIO, *, color: bool | None = None) -> None:
    from rich.console import Console
    from rich.text import Text

    from trainlint.report.text import write_text as write_findings

    console = Console(file=out, force_terminal=color, no_color=color is False, highlight=False, soft_wrap=True,
                      emoji=False, markup=False)
    r = result.report or Report()
    device = r.device or "?"
    world = r.world_size or 1
    ranks = f", {world} ranks (rank 0 reports)" if world > 1 else ""
    console.print(Text(f"trainlint probe {display_path(result.script)}: {stopped_text(result)}, on {device}{ranks}, "
                       f"{result.wall_s:.1f} s", style="bold"))
    exc = r.exception or ScriptException()
    if exc.traceback:
        console.print(Text("the script's traceback (last frames):", style="dim"))
        for line in exc.traceback.rstrip().splitlines()[-12:]:
            console.print(Text("  " + line, style="dim"))
    elif result.report is None or (r.backward_calls == 0):
        if result.output_tail.strip():
            console.print(Text("last lines of the script's output:", style="dim"))
            for line in result.output_tail.splitlines()[-15:]:
                console.print(Text("  " + line, style="dim"))
        if result.report is not None and not r.backward_calls:
            console.print(Text("backward() was never called: nothing to measure on gradients.", style="yellow"))
    console.print()
    sources = {}
    for f in result.runtime:
        try:
            sources[f.path] = Path(f.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    if result.runtime:
        import io

        buffer = io.StringIO()
        write_findings(result.runtime, sources, buffer, show_source=True, color=color)
        text = buffer.getvalue().rstrip("\n")
        out.write(text.rsplit("\n", 1)[0] + "\n")  # the check summary line; the probe prints its own
    if result.static:
        console.print(Text("Static findings of the script and the project files it ran:", style="bold"))
        for f in result.static:
            verdict = f.details["verdict"]
            line = Text(f"  {f.place}: ")
            line.append(f"{f.code} {f.name}", style="bold")
            line.append(" — ")
            line.append(verdict, style=_VERDICT_STYLE[verdict])
            line.append(f": {f.details['verdict_message']}")
            console.print(line)
        console.print()
    measured = _measured_line(result)
    if measured:
        console.print(Text("Measured: " + measured, style="dim"))
    for error in r.internal_errors or []:
        # the measurements above may be incomplete: say so instead of staying quiet
        console.print(Text(f"trainlint's probe failed on a measurement (a trainlint bug, please report it): {error}",
                           style="yellow"))
    redirected = r.redirected or []
    if redirected:
        names = ", ".join(sorted({os.path.basename(x.path) for x in redirected}))
        console.print(Text(f"{len(redirected)} checkpoint or TensorBoard write(s) redirected to a temporary folder, "
                           f"removed afterwards: {names}", style="dim"))
    confirmed = sum(1 for f in result.static if f.details["verdict"] == CONFIRMED)
    if result.failed:
        parts = []
        if result.runtime:
            parts.append(f"{len(result.runtime)} runtime problem{'s' if len(result.runtime) != 1 else ''}")
        if confirmed:
            parts.append(f"{confirmed} static finding{'s' if confirmed != 1 else ''} confirmed")
        console.print(Text("Found " + ", ".join(parts) + ".", style="bold"))
    elif result.not_measured:
        console.print(Text(f"Nothing measured: {result.not_measured} (exit code 2).", style="bold yellow"))
    else:
        console.print(Text("No runtime problem measured; no static finding confirmed.", style="bold green"))


def _measured_line(result: ProbeResult) -> str:
    r = result.report or Report()
    parts = []
    losses = r.losses or []
    if losses:
        parts.append(f"loss {fmt(losses[0])} → {fmt(losses[-1])} (iteration 1 → {len(losses)})")
    norms = r.grad_norms or []
    if norms:
        parts.append(f"gradient norm {fmt(norms[0])} → {fmt(norms[-1])}")
        if r.accumulated_grads_read:
            limit = (r.grad_copy_limit_bytes or 0) / 2**30
            parts.append(f"gradients accumulate in .grad and were too large to copy (> {fmt(limit)} GiB): "
                         "the norms are their sums, not each backward's own")
        elif r.grad_carried_over:
            # TL401's symptom: .grad holds the sum of every earlier backward's gradient
            parts.append("gradients accumulate in .grad (never cleared): the norms are each backward's own gradient")
    overflows = r.scaler_overflows or []
    if overflows:
        parts.append(f"GradScaler skipped {len(overflows)} overflowing step{'s' if len(overflows) != 1 else ''} "
                     "(loss and gradients shown unscaled)")
    elif r.scaled:
        parts.append("loss and gradients shown unscaled")
    ratios = r.ratios or []
    if ratios:
        import statistics

        parts.append(f"first/last layer gradient ratio {fmt(statistics.median(ratios))}")
    lrs = r.lrs or []
    if lrs and lrs[-1]:
        parts.append("lr " + ", ".join(fmt(x) for x in lrs[-1]))
    if r.step_s:
        parts.append(f"{r.step_s * 1000:.1f} ms/step")
    return "; ".join(parts)


def write_json(result: ProbeResult, out: TextIO) -> None:
    json.dump(result.to_json(), out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


def write_plot(result: ProbeResult, path: Path) -> Path | None:
    """Mean and max gradient norm per layer (over the probed iterations), log scale: the gradient flow."""
    layers = [x for x in (result.report or Report()).layers if x.norms]
    if not layers:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import math

    import matplotlib.pyplot as plt

    def finite(values):
        out = []
        for v in values:
            v = float(v)
            if not (math.isnan(v) or math.isinf(v)):
                out.append(v)
        return out or [0.0]

    names = [x.name for x in layers]
    means = [sum(finite(x.norms)) / len(finite(x.norms)) for x in layers]
    maxes = [max(finite(x.norms)) for x in layers]
    width = max(6.0, min(24.0, 0.35 * len(names) + 3))
    fig, ax = plt.subplots(figsize=(width, 4.5))
    positions = range(len(names))
    ax.bar(positions, maxes, color="c", alpha=0.5, label="max over iterations")
    ax.bar(positions, means, color="b", alpha=0.6, label="mean over iterations")
    ax.set_yscale("log")
    ax.set_xticks(list(positions))
    ax.set_xticklabels(names, rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("gradient norm per layer")
    r = result.report or Report()
    ax.set_title(f"gradient flow: {os.path.basename(result.script)}, {r.backward_calls} iterations "
                 "(input → output)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_cli(script: Path, args: list[str], *, steps: int = 20, timeout: float = 300.0, output_format: str = "text",
            plot: Path | None = None, nproc_per_node: int | None = None, thresholds: list[str] | None = None,
            config: Path | None = None, static: bool = True, through_eval: bool = False) -> int:
    """`trainlint probe`: 0 nothing found, 1 a runtime finding or a confirmed static finding, 2 a usage error
    or nothing measured (the script raised, exited or timed out before its first training step)."""
    from trainlint.config import ConfigError, load_config
    from trainlint.probe.runner import ProbeUnavailable, run_probe, torch_available
    from trainlint.probe.thresholds import load_thresholds, parse_assignments

    if not torch_available():
        print("trainlint: error: the probe needs PyTorch in this environment: pip install 'trainlint[probe]'",
              file=sys.stderr)
        return 2
    if not script.is_file():
        print(f"trainlint: error: {script}: no such file", file=sys.stderr)
        return 2
    try:
        settings = load_config(config, start=script.resolve().parent)
        limits = load_thresholds(settings, parse_assignments(thresholds))
    except (ConfigError, ValueError) as exc:
        print(f"trainlint: error: {exc}", file=sys.stderr)
        return 2
    progress = _Progress(steps, script) if sys.stderr.isatty() else None
    try:
        result = run_probe(script, args, steps=steps, timeout=timeout, nproc_per_node=nproc_per_node,
                           thresholds=limits, static=static, config=settings, through_eval=through_eval,
                           on_progress=progress.update if progress else None)
    except ProbeUnavailable as exc:
        print(f"trainlint: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress:
            progress.close()
    if output_format == "json":
        write_json(result, sys.stdout)
    else:
        write_text(result, sys.stdout)
    if plot is not None:
        written = write_plot(result, plot)
        print(f"gradient-flow plot: {written}" if written else "no gradient was measured: no plot written",
              file=sys.stderr)
    return result.exit_code


class _Progress:
    """A rich progress bar on stderr: optimizer steps out of --steps, with the last loss."""

    def __init__(self, steps: int, script: Path) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("probing {task.fields[script]}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} steps"), TextColumn("{task.fields[loss]}"),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task("probe", total=steps, script=script.name, loss="starting (importing torch)")
        self.progress.start()

    def update(self, event: Progress) -> None:
        loss = event.loss
        self.progress.update(self.task, completed=event.steps,
                             loss=f"loss {fmt(loss)}" if loss is not None else "", refresh=True)

    def close(self) -> None:
        self.progress.stop()
