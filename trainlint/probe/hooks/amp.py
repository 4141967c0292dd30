"""Mixed precision: GradScaler.scale, so that a backward on a scaled loss is measured
unscaled; the AmpRecorder holds the scaled loss and the steps whose gradients overflowed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe


class AmpRecorder:
    """backward() runs on the loss times the scaler's scale (65536 at first), and the scaler
    skips the steps whose scaled gradients overflow."""

    def __init__(self) -> None:
        self._pending: tuple | None = None  # the loss scale() returned last, the loss it scaled, the scale
        self.overflows: list[int] = []  # iterations whose scaled gradients overflowed
        self.scaled = False  # a backward() ran on a GradScaler-scaled loss

    def on_scale(self, result, outputs, scale) -> None:
        self._pending = (result, outputs, scale)

    def unscale(self, loss) -> tuple[float | None, object]:
        """(the scale, the loss as the script computed it) when `loss` is the one GradScaler
        scaled last, else (None, loss)."""
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is loss:
            self.scaled = True
            return float(pending[2]), pending[1]
        return None, loss

    def fields(self) -> dict:
        return {"scaled": self.scaled, "scaler_overflows": self.overflows}


def install(probe: Probe) -> None:
    """Wrap GradScaler.scale (torch >= 2.3)."""
    try:
        from torch.amp.grad_scaler import GradScaler
    except ImportError:  # torch < 2.3
        GradScaler = None
    if GradScaler is not None:
        original_scale = GradScaler.scale

        def scale(scaler, outputs):
            result = original_scale(scaler, outputs)
            if isinstance(result, torch.Tensor) and result is not outputs and scaler._scale is not None:
                probe.amp.on_scale(result, outputs, scaler._scale)
            return result

        GradScaler.scale = scale
