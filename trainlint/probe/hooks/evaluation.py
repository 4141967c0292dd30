"""Evaluation: a global module forward hook that watches the trained model (the modules the
first training iterations called): its forward passes under no_grad, or with gradients
on when no gradient reaches their output, are evaluation passes, and the training passes
after the first one show whether train mode came back. The EvaluationRecorder holds them."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import torch

from trainlint.probe.schema import AfterEval, EvalPass

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

AFTER_EVAL_STEPS = 3  # training steps watched after the first evaluation (is train mode back?)
MAX_PASSES = 10
MAX_AFTER = 20
MAX_WATCHED = 200


class EvaluationRecorder:
    """The trained model's evaluation passes and its mode in the training passes after them."""

    def __init__(self, probe: Probe, through_eval: bool) -> None:
        self.probe = probe
        # run on past `steps` to the first evaluation pass and a few training steps after it
        self.through_eval = through_eval
        self.trained_roots = weakref.WeakSet()
        self.passes: list[EvalPass] = []
        self.after: list[AfterEval] = []
        self._watched: list[dict] = []  # forward passes of the trained model with gradients on, not yet judged

    def _progress(self) -> int:
        """Optimizer steps so far (backward calls when there is no optimizer)."""
        return self.probe.optim.steps or self.probe.grads.backward_calls

    def seen(self) -> bool:
        """With through_eval: an evaluation pass ran, then AFTER_EVAL_STEPS more training steps."""
        if not self.through_eval:
            return True
        if not self.passes:
            return False
        return self._progress() >= self.passes[0].after_step + AFTER_EVAL_STEPS

    def forward_hook(self, module, inputs, output) -> None:
        if self.probe.done or module not in self.trained_roots:
            return
        if not torch.is_grad_enabled():
            self._on_eval_forward(module, module.training, self._progress())
        elif isinstance(output, torch.Tensor) and output.requires_grad:
            self._watch_output(module, output)
        elif self.passes and len(self.after) < MAX_AFTER:  # no tensor to watch: every such forward trains
            self.after.append(AfterEval(after_step=self.probe.optim.steps, training=module.training))

    def add_roots(self, modules) -> None:
        for m in modules:
            self.trained_roots.add(m)

    def _watch_output(self, module, output) -> None:
        """A forward pass of the trained model with gradients on: training if its output gets a
        gradient, an evaluation (without no_grad) if two backward() calls pass without one
        (a GAN's generator output gets its gradient one backward later, never two)."""
        forward = {"training": module.training, "progress": self._progress(),
                   "backward": self.probe.grads.backward_calls, "trained": False, "module": weakref.ref(module)}

        def on_gradient(grad):
            if not forward["trained"]:
                forward["trained"] = True
                if self.passes and len(self.after) < MAX_AFTER and not self.probe.done:
                    self.after.append(AfterEval(after_step=forward["progress"], training=forward["training"]))
            return None

        try:
            output.register_hook(on_gradient)
        except RuntimeError:  # a tensor that takes no hook: not judged
            return
        if len(self._watched) < MAX_WATCHED:
            self._watched.append(forward)

    def resolve_watched(self) -> None:
        """The watched forward passes that two backward() calls passed without a gradient: evaluations."""
        backward_calls = self.probe.grads.backward_calls
        still = []
        for forward in self._watched:
            if forward["trained"]:
                continue
            if backward_calls >= forward["backward"] + 2:
                root = forward["module"]()
                if root is not None:
                    self._on_eval_forward(root, forward["training"], forward["progress"])
            else:
                still.append(forward)
        self._watched = still

    def _on_eval_forward(self, module, training: bool, progress: int) -> None:
        """The trained model ran forward on data it is not trained on (under no_grad, or its output
        never got a gradient): an evaluation pass (one record per pass)."""
        if not self.passes or self.passes[-1].after_step != progress:
            if len(self.passes) >= MAX_PASSES:
                return
            self.passes.append(EvalPass(after_step=progress, module=type(module).__name__,
                                        mode_layers=_mode_layers(module)))
        record = self.passes[-1]
        record.forwards += 1
        record.in_train_mode += bool(training)

    def fields(self) -> dict:
        return {"through_eval": self.through_eval, "eval_passes": self.passes, "after_eval": self.after}


def _mode_layers(module) -> list[str]:
    """The layer types in `module` whose output depends on train/eval mode."""
    kinds = tuple(k for k in (getattr(torch.nn.modules.dropout, "_DropoutNd", None),
                              getattr(torch.nn.modules.batchnorm, "_BatchNorm", None),
                              getattr(torch.nn.modules.instancenorm, "_InstanceNorm", None)) if k is not None)
    return sorted({type(m).__name__ for m in module.modules() if isinstance(m, kinds)})[:5]


def install(probe: Probe) -> None:
    """Register the global forward hook that watches the trained model."""
    torch.nn.modules.module.register_module_forward_hook(probe.evaluation.forward_hook)
