"""Mixed precision: GradScaler.scale, so that a backward on a scaled loss is measured unscaled."""

from __future__ import annotations

import torch


def install(probe) -> None:
    """Wrap GradScaler.scale (torch >= 2.3)."""
    # mixed precision: backward() runs on the loss times the scaler's scale (65536 at
    # first), and the scaler skips the steps whose scaled gradients overflow
    try:
        from torch.amp.grad_scaler import GradScaler
    except ImportError:  # torch < 2.3
        GradScaler = None
    if GradScaler is not None:
        original_scale = GradScaler.scale

        def scale(scaler, outputs):
            result = original_scale(scaler, outputs)
            if isinstance(result, torch.Tensor) and result is not outputs and scaler._scale is not None:
                probe._scaled = (result, outputs, scaler._scale)
            return result

        GradScaler.scale = scale
