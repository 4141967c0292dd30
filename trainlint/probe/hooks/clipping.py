"""Gradient clipping: clip_grad_norm_, clip_grad_value_ (and the old clip_grad_norm) are
recorded as events of the probe's timeline (no recorder of their own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe


def install(probe: Probe) -> None:
    """Wrap the clipping functions where torch.nn.utils exposes them."""
    import torch.nn.utils as nn_utils
    import torch.nn.utils.clip_grad as clip_mod

    for name in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"):
        original = getattr(clip_mod, name, None)
        if original is None:
            continue

        def make(original):
            def clip(*args, **kwargs):
                probe.event("clip")
                return original(*args, **kwargs)

            return clip

        wrapped = make(original)
        setattr(clip_mod, name, wrapped)
        if getattr(nn_utils, name, None) is original:
            setattr(nn_utils, name, wrapped)
