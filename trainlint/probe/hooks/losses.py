"""Loss functions: the first calls of F.cross_entropy, nll_loss and binary_cross_entropy(_with_logits)
(the loss modules call them), for the checks of their inputs."""

from __future__ import annotations

import torch

MAX_LOSS_FN_CALLS = 3  # calls recorded per function


def install(probe) -> None:
    """Wrap the functional losses."""
    # loss functions (nn.CrossEntropyLoss.forward calls F.cross_entropy through the module)
    import torch.nn.functional as F

    for name in ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        original = getattr(F, name)

        def make_loss(name, original):
            def loss_fn(input, target, *args, **kwargs):
                out = original(input, target, *args, **kwargs)
                if probe._loss_fn_calls.get(name, 0) < MAX_LOSS_FN_CALLS and torch.is_grad_enabled() \
                        and not probe.done:
                    probe._loss_fn_calls[name] = probe._loss_fn_calls.get(name, 0) + 1
                    seen = out
                    if kwargs.get("reduction") == "sum":  # the checks read the loss per sample
                        with torch.no_grad():
                            seen = original(input, target, *args, **{**kwargs, "reduction": "none"})
                    probe._on_loss_fn(name, input, target, seen)
                return out

            loss_fn.__wrapped__ = original
            return loss_fn

        setattr(F, name, make_loss(name, original))
