"""Loss functions: the first calls of F.cross_entropy, nll_loss and binary_cross_entropy(_with_logits)
(the loss modules call them), for the checks of their inputs; the LossRecorder holds them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import LossCall

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

MAX_LOSS_FN_CALLS = 3  # calls recorded per function


class LossRecorder:
    """The first calls of each functional loss: its input's range, whether its rows are
    probabilities, the number of classes and the loss value."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.calls: list[LossCall] = []
        self._counts: dict[str, int] = {}

    def wants(self, name: str) -> bool:
        """Whether this call of loss function `name` is one to record (and count it)."""
        if self._counts.get(name, 0) < MAX_LOSS_FN_CALLS and torch.is_grad_enabled() and not self.probe.done:
            self._counts[name] = self._counts.get(name, 0) + 1
            return True
        return False

    def on_call(self, name: str, input, target, out) -> None:
        try:
            x = input.detach().float()
            entry = LossCall(fn=name, site=self.probe.site(), shape=list(x.shape),
                             iteration=self.probe.grads.backward_calls + 1)
            entry.loss = _num(float(out.detach().float().mean())) if out.numel() else None
            entry.min = _num(float(x.min())) if x.numel() else None
            entry.max = _num(float(x.max())) if x.numel() else None
            if x.dim() >= 2 and x.shape[1] > 1:
                entry.classes = int(x.shape[1])
                sums = x.sum(dim=1)
                entry.row_sum_mean = _num(float(sums.mean()))
                entry.row_sum_dev = _num(float((sums - 1).abs().max()))
                entry.exp_row_sum_dev = _num(float((x.exp().sum(dim=1) - 1).abs().max()))
            if isinstance(target, torch.Tensor):
                entry.target_dtype = str(target.dtype).replace("torch.", "")
            self.calls.append(entry)
        except Exception:
            pass

    def fields(self) -> dict:
        return {"loss_fns": self.calls}


def install(probe: Probe) -> None:
    """Wrap the functional losses."""
    # loss functions (nn.CrossEntropyLoss.forward calls F.cross_entropy through the module)
    import torch.nn.functional as F

    recorder = probe.loss_fns
    for name in ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        original = getattr(F, name)

        def make_loss(name, original):
            def loss_fn(input, target, *args, **kwargs):
                out = original(input, target, *args, **kwargs)
                if recorder.wants(name):
                    seen = out
                    if kwargs.get("reduction") == "sum":  # the checks read the loss per sample
                        with torch.no_grad():
                            seen = original(input, target, *args, **{**kwargs, "reduction": "none"})
                    recorder.on_call(name, input, target, seen)
                return out

            loss_fn.__wrapped__ = original
            return loss_fn

        setattr(F, name, make_loss(name, original))
