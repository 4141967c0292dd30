"""torch.optim: every optimizer built (Optimizer.__init__), its steps (the global step
pre/post hooks: Optimizer.step is overridden by every subclass), zero_grad() on optimizers
and modules, the LR schedulers built and torch's warning that lr_scheduler.step() ran
before optimizer.step()."""

from __future__ import annotations

import warnings

import torch


def install(probe) -> None:
    """Wrap Optimizer.__init__ and zero_grad, register the step hooks, wrap LRScheduler.__init__ and warnings.showwarning."""
    import torch.optim.optimizer as optim_mod

    original_init = torch.optim.Optimizer.__init__

    def optimizer_init(opt, *args, **kwargs):
        original_init(opt, *args, **kwargs)
        if not getattr(opt, "_trainlint_seen", False):
            probe._on_optimizer(opt)

    torch.optim.Optimizer.__init__ = optimizer_init
    optim_mod.register_optimizer_step_pre_hook(probe._step_pre)
    optim_mod.register_optimizer_step_post_hook(probe._step_post)

    original_zero_grad = torch.optim.Optimizer.zero_grad

    def optimizer_zero_grad(opt, *args, **kwargs):
        probe._event("zero_grad")
        probe._on_zero_grad(p for g in opt.param_groups for p in g["params"])
        return original_zero_grad(opt, *args, **kwargs)

    torch.optim.Optimizer.zero_grad = optimizer_zero_grad
    module_zero_grad = torch.nn.Module.zero_grad

    def model_zero_grad(module, *args, **kwargs):
        probe._event("zero_grad")
        probe._on_zero_grad(module.parameters())
        return module_zero_grad(module, *args, **kwargs)

    torch.nn.Module.zero_grad = model_zero_grad

    # LR schedulers: how often step() runs per optimizer step (LRScheduler counts its calls)
    from torch.optim import lr_scheduler

    base = getattr(lr_scheduler, "LRScheduler", None) or getattr(lr_scheduler, "_LRScheduler", None)
    if base is not None:
        scheduler_init = base.__init__

        def patched_scheduler_init(scheduler, *args, **kwargs):
            scheduler_init(scheduler, *args, **kwargs)
            probe._on_scheduler(scheduler)

        base.__init__ = patched_scheduler_init

    # scheduler warnings (lr_scheduler.step() before optimizer.step())
    original_showwarning = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if "lr_scheduler.step()" in text and len(probe.scheduler_warnings) < 5:
            probe.scheduler_warnings.append(text.split("\n")[0][:300])
        return original_showwarning(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
