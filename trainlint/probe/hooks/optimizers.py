"""torch.optim: every optimizer built (Optimizer.__init__), its steps (the global step
pre/post hooks: Optimizer.step is overridden by every subclass), zero_grad() on optimizers
and modules, the LR schedulers built and torch's warning that lr_scheduler.step() ran
before optimizer.step(). What they measure is the OptimizerRecorder's."""

from __future__ import annotations

import time
import warnings
import weakref
from typing import TYPE_CHECKING

import torch

from trainlint.probe.schema import DoubleStep, OptimizerRecord, ParamGroup, SchedulerRecord

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

MAX_OPTIMIZERS = 20  # optimizers described in the report
MAX_SCHEDULERS = 10


class OptimizerRecorder:
    """The optimizers and schedulers the script built, and what each optimizer step saw."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.refs: list[weakref.ref] = []
        self.records: list[OptimizerRecord] = []
        self.steps = 0
        self.step_times: list[float] = []
        self.lrs: list[list[float | None]] = []  # per step of the first optimizer, per param group
        self.built_after_first_step = 0
        self.schedulers: list[SchedulerRecord] = []  # type, step() calls and optimizer steps seen, per scheduler
        self._scheduler_refs: list[weakref.ref] = []
        self.scheduler_warnings: list[str] = []
        self.double_steps: list[DoubleStep] = []  # an optimizer stepped again with no backward() since its last step
        self.steps_without_grad: list[int] = []
        self.constant_weights: list[str] = []
        self.huge_weights: list[str] = []
        self._weights_checked = False
        self.stepped_since_backward = False
        self.zeroed: set[int] = set()  # ids of the parameters zero_grad() cleared since the last backward

    # ------------------------------------------------------------------ what the others read
    def live(self) -> list:
        return [o for o in (r() for r in self.refs) if o is not None]

    def params(self) -> list:
        """Every parameter of every live optimizer, in param-group order."""
        return [p for o in self.live() for g in o.param_groups for p in g["params"]]

    def optimized_ids(self) -> set[int]:
        return {id(p) for p in self.params()}

    def take_zeroed(self) -> set[int]:
        """The parameters zero_grad() cleared since the last backward (and forget them)."""
        zeroed, self.zeroed = self.zeroed, set()
        return zeroed

    # ------------------------------------------------------------------ handlers
    def on_optimizer(self, opt) -> None:
        opt._trainlint_seen = True
        with self.probe.lock:
            self.refs.append(weakref.ref(opt))
            if self.steps > 0:
                self.built_after_first_step += 1
            if len(self.records) < MAX_OPTIMIZERS:
                self.records.append(OptimizerRecord(
                    type=type(opt).__name__,
                    site=self.probe.site(),
                    created_after_step=self.steps,
                    groups=[ParamGroup(params=len(g["params"]), lr=_lr(g)) for g in opt.param_groups],
                ))

    def on_scheduler(self, scheduler) -> None:
        with self.probe.lock:
            if len(self.schedulers) < MAX_SCHEDULERS and not self.probe.done:
                self.schedulers.append(SchedulerRecord(type=type(scheduler).__name__, site=self.probe.site(),
                                                       created_after_step=self.steps))
                self._scheduler_refs.append(weakref.ref(scheduler))

    def on_zero_grad(self, params) -> None:
        """These parameters' gradients are cleared (None or zeros) until the next backward:
        what it leaves in .grad is its own, no copy of the old gradient is needed."""
        if not self.probe.done:
            self.zeroed.update(id(p) for p in params)

    def step_pre(self, opt, args, kwargs) -> None:
        probe = self.probe
        if probe.done:
            return
        probe.event("step")
        backward_calls = probe.grads.backward_calls
        if getattr(opt, "_trainlint_stepped_at", None) == backward_calls > 0 and len(self.double_steps) < 10 \
                and any(p.grad is not None for g in opt.param_groups for p in g["params"]):
            # stepped again on the gradients of the same backward()
            self.double_steps.append(DoubleStep(optimizer=type(opt).__name__, backward=backward_calls,
                                                step=self.steps + 1))
        opt._trainlint_stepped_at = backward_calls
        live = self.live()
        if live and opt is live[0]:
            self.lrs.append([_lr(g) for g in opt.param_groups])
        if self.steps < 5:
            params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            if params and backward_calls > 0:
                grads = [p.grad for p in params if p.grad is not None]
                if not grads or not any(bool(g.any()) for g in grads):
                    self.steps_without_grad.append(self.steps + 1)
        if not self._weights_checked and backward_calls > 0:
            self._weights_checked = True
            self._check_weights(opt)

    def step_post(self, opt, args, kwargs) -> None:
        if self.probe.done:
            return
        self.steps += 1
        self._count_scheduler_steps()
        self.stepped_since_backward = True
        self.step_times.append(time.perf_counter())
        self.probe.send_progress()
        self.probe.stop_if_done(self.steps)

    def _count_scheduler_steps(self) -> None:
        for entry, ref in zip(self.schedulers, self._scheduler_refs):
            scheduler = ref()
            if scheduler is not None:
                entry.calls = max(int(getattr(scheduler, "_step_count", 1)) - 1, 0)
                entry.steps = self.steps - entry.created_after_step

    def _check_weights(self, opt) -> None:
        names = self.probe.modules.name_map()
        for group in opt.param_groups:
            for p in group["params"]:
                if p.dim() < 2 or p.numel() < 2:
                    continue
                data = p.detach()
                name = names.get(p) or f"<{tuple(p.shape)}>"
                if not bool(torch.isfinite(data).all()) or float(data.abs().max()) > 1e6:
                    self.huge_weights.append(name)
                elif float(data.float().std()) == 0.0:
                    self.constant_weights.append(name)

    def on_scheduler_warning(self, text: str) -> None:
        if "lr_scheduler.step()" in text and len(self.scheduler_warnings) < 5:
            self.scheduler_warnings.append(text.split("\n")[0][:300])

    # ------------------------------------------------------------------ the report
    def fields(self) -> dict:
        """This recorder's fields of the Report."""
        times = self.step_times
        return {
            "optimizer_steps": self.steps,
            "optimizers": self.records,
            "optimizers_after_first_step": self.built_after_first_step,
            "step_s": (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None,
            "lrs": self.lrs,
            "schedulers": self.schedulers,
            "scheduler_warnings": self.scheduler_warnings,
            "double_steps": self.double_steps,
            "steps_without_grad": self.steps_without_grad,
            "constant_weights": self.constant_weights,
            "huge_weights": self.huge_weights,
        }


def _lr(group: dict) -> float | None:
    lr = group.get("lr")
    try:
        return float(lr)
    except (TypeError, ValueError):
        return None


def install(probe: Probe) -> None:
    """Wrap Optimizer.__init__ and zero_grad, register the step hooks, wrap LRScheduler.__init__ and warnings.showwarning."""
    import torch.optim.optimizer as optim_mod

    recorder = probe.optim
    original_init = torch.optim.Optimizer.__init__

    def optimizer_init(opt, *args, **kwargs):
        original_init(opt, *args, **kwargs)
        if not getattr(opt, "_trainlint_seen", False):
            recorder.on_optimizer(opt)

    torch.optim.Optimizer.__init__ = optimizer_init
    optim_mod.register_optimizer_step_pre_hook(recorder.step_pre)
    optim_mod.register_optimizer_step_post_hook(recorder.step_post)

    original_zero_grad = torch.optim.Optimizer.zero_grad

    def optimizer_zero_grad(opt, *args, **kwargs):
        probe.event("zero_grad")
        recorder.on_zero_grad(p for g in opt.param_groups for p in g["params"])
        return original_zero_grad(opt, *args, **kwargs)

    torch.optim.Optimizer.zero_grad = optimizer_zero_grad
    module_zero_grad = torch.nn.Module.zero_grad

    def model_zero_grad(module, *args, **kwargs):
        probe.event("zero_grad")
        recorder.on_zero_grad(module.parameters())
        return module_zero_grad(module, *args, **kwargs)

    torch.nn.Module.zero_grad = model_zero_grad

    # LR schedulers: how often step() runs per optimizer step (LRScheduler counts its calls)
    from torch.optim import lr_scheduler

    base = getattr(lr_scheduler, "LRScheduler", None) or getattr(lr_scheduler, "_LRScheduler", None)
    if base is not None:
        scheduler_init = base.__init__

        def patched_scheduler_init(scheduler, *args, **kwargs):
            scheduler_init(scheduler, *args, **kwargs)
            recorder.on_scheduler(scheduler)

        base.__init__ = patched_scheduler_init

    # scheduler warnings (lr_scheduler.step() before optimizer.step())
    original_showwarning = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        recorder.on_scheduler_warning(str(message))
        return original_showwarning(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
