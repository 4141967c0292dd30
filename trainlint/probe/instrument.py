"""What the probe measures, inside the probed process (imports torch).

The Probe coordinates: it holds the run's settings, one recorder per torch surface and
writes their measurements as one Report. Each recorder lives in the hook module that
fills it (trainlint/probe/hooks/): the patches are installed globally, without editing the
user's script.

- optimizers: the optimizers and schedulers built; the step pre/post hooks count steps and
  read each param group's learning rate (a hand-written ``p -= lr * p.grad`` loop fires no
  step hook: then backward calls count).
- autograd: around each backward, which parameters it reached (read from their ``.grad``),
  each layer's own gradient norm (what this backward added), zero rows, NaN/Inf, the loss.
- modules: the global forward pre-hook and hook: layer order, non-finite outputs,
  dead/saturated units of activations; evaluation: the trained model's evaluation passes.
- amp, losses, data, files, clipping: GradScaler, the functional losses' inputs, DataLoader
  batches (input mean/std/min/max, the label histogram), redirected checkpoint writes.

The probe stops the script after N optimizer steps from inside the step hook: the
report is written first, then the process ends with ``os._exit`` (a bare ``except:`` in
the script cannot swallow that).
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import traceback

import torch

from trainlint.probe.hooks.amp import AmpRecorder
from trainlint.probe.hooks.autograd import GradientRecorder
from trainlint.probe.hooks.data import DataRecorder
from trainlint.probe.hooks.evaluation import EvaluationRecorder
from trainlint.probe.hooks.files import FileRecorder
from trainlint.probe.hooks.losses import LossRecorder
from trainlint.probe.hooks.modules import ModuleRecorder
from trainlint.probe.hooks.optimizers import OptimizerRecorder
from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import Progress, Report, Site

MAX_EVENTS = 60
MAX_INTERNAL_ERRORS = 3


class Probe:
    def __init__(self, *, steps: int | None, report_path: str | None, project_root: str, script: str,
                 checkpoint_dir: str | None = None, max_batches: int = 8, progress_fd: int | None = None,
                 rank: int = 0, world_size: int = 1, through_eval: bool = False) -> None:
        self.max_steps = steps
        self.report_path = report_path
        self.project_root = os.path.realpath(project_root)
        self.script = os.path.realpath(script)
        self.progress = os.fdopen(progress_fd, "w", buffering=1) if progress_fd is not None else None
        self.rank = rank
        self.world_size = world_size
        self.started = time.perf_counter()
        self.lock = threading.RLock()
        self.done = False
        self._installed = False
        self.events: list[str] = []  # zero_grad, backward, clip, step: the order the loop calls them
        self.internal_errors: list[str] = []
        self.last_device = None  # of the last loss backward() saw, else of the last module output

        # what is measured, one recorder per torch surface (trainlint/probe/hooks/)
        self.optim = OptimizerRecorder(self)
        self.grads = GradientRecorder(self)
        self.modules = ModuleRecorder(self)
        self.evaluation = EvaluationRecorder(self, through_eval)
        self.amp = AmpRecorder()
        self.loss_fns = LossRecorder(self)
        self.data = DataRecorder(self, max_batches)
        self.files = FileRecorder(checkpoint_dir, self.project_root)

        self._user_files: dict[str, bool] = {}
        self._lib_prefixes = tuple({os.path.realpath(p) + os.sep for p in (
            sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(torch.__file__),
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))})

    # ------------------------------------------------------------------ sites
    def is_user_file(self, filename: str) -> bool:
        known = self._user_files.get(filename)
        if known is None:
            if not filename or filename.startswith("<"):
                known = False
            else:
                real = os.path.realpath(filename)
                known = not (real.startswith(self._lib_prefixes) or "site-packages" in real or "dist-packages" in real)
            self._user_files[filename] = known
        return known

    def site(self, skip_self: object = None) -> Site | None:
        """The innermost line of the user's code on the stack (not an `__init__` of `skip_self`)."""
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if skip_self is not None and code.co_name == "__init__" and frame.f_locals.get("self") is skip_self:
                frame = frame.f_back
                continue
            if self.is_user_file(code.co_filename):
                return Site(os.path.realpath(code.co_filename), frame.f_lineno)
            frame = frame.f_back
        return None

    # ------------------------------------------------------------------ install
    def install(self) -> None:
        """Patch torch (trainlint/probe/hooks/, one module per surface), once."""
        if self._installed:
            return
        self._installed = True
        from trainlint.probe import hooks

        hooks.install(self)

    # ------------------------------------------------------------------ what every surface reports
    def event(self, name: str) -> None:
        if len(self.events) < MAX_EVENTS and not self.done:
            self.events.append(name)

    def internal_error(self, exc: BaseException) -> None:
        if len(self.internal_errors) < MAX_INTERNAL_ERRORS:
            self.internal_errors.append("".join(traceback.format_exception_only(type(exc), exc)).strip())

    def send_progress(self) -> None:
        if self.progress is None or self.rank != 0:
            return
        try:
            losses = self.grads.losses
            line = Progress(steps=self.optim.steps, backward=self.grads.backward_calls,
                            loss=_num(losses[-1]) if losses else None)
            self.progress.write(json.dumps(line.to_json()) + "\n")
        except Exception:
            pass

    def stop_if_done(self, progress: int) -> None:
        """Stop once `progress` (optimizer steps, or backward calls without an optimizer) reaches
        --steps and, with --through-eval, the evaluation and the steps after it were seen."""
        if self.max_steps is not None and progress >= self.max_steps and self.evaluation.seen():
            self.stop("steps")

    # ------------------------------------------------------------------ reporting
    def project_files(self) -> list[str]:
        files = set()
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not path or not path.endswith(".py"):
                continue
            real = os.path.realpath(path)
            if real.startswith(self.project_root + os.sep) and self.is_user_file(real):
                files.add(real)
        files.add(self.script)
        return sorted(files)

    def _device(self) -> str:
        """Where training ran: the optimizer's parameters; once the script has returned or raised
        (the optimizer freed), the last loss backward() saw, else the last forward."""
        params = self.optim.params()
        where = (params[0].device if params else None) or self.last_device or torch.device("cpu")
        device = str(where)
        if where.type == "cuda":
            device += f" ({torch.cuda.get_device_name(where)})"
        return device

    def report(self, stopped: str, **extra) -> Report:
        with self.lock:
            return Report(
                rank=self.rank,
                world_size=self.world_size,
                script=self.script,
                stopped=stopped,
                torch=torch.__version__,
                device=self._device(),
                cuda_available=torch.cuda.is_available(),
                wall_s=time.perf_counter() - self.started,
                max_steps=self.max_steps,
                events=self.events,
                project_files=self.project_files(),
                internal_errors=self.internal_errors,
                **self.optim.fields(),
                **self.grads.fields(),
                **self.modules.fields(),
                **self.evaluation.fields(),
                **self.amp.fields(),
                **self.loss_fns.fields(),
                **self.data.fields(),
                **self.files.fields(),
                **extra,
            )

    def write_report(self, stopped: str, **extra) -> None:
        if self.report_path is None:
            return
        for _ in range(3):  # the timer thread may race the script's thread
            try:
                text = json.dumps(self.report(stopped, **extra).to_json(), default=str)
                break
            except (RuntimeError, TypeError):  # a race with the script's thread, or a field the schema lacks
                time.sleep(0.01)
        else:
            text = json.dumps(Report(rank=self.rank, stopped=stopped, script=self.script,
                                     internal_errors=["could not serialize the measurements"]).to_json())
        tmp = self.report_path + ".tmp"
        with io.FileIO(tmp, "w") as fh:
            fh.write(text.encode("utf-8"))
        os.replace(tmp, self.report_path)

    def stop(self, reason: str, **extra) -> None:
        """Write the report and end the process now (a bare `except:` cannot swallow it)."""
        with self.lock:
            if self.done:
                return
            self.done = True
            try:
                self.write_report(reason, **extra)
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:
                    pass
                os._exit(0)
