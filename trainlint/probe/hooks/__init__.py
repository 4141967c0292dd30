"""The probe's patches, one module per torch surface. Each module's `install(probe)` wraps
its part of torch and reports to the Probe (trainlint/probe/instrument.py), which holds
what is measured. Imported only in the probed child (they import torch)."""

from __future__ import annotations

from trainlint.probe.hooks import amp, autograd, clipping, data, files, losses, modules, optimizers

#: In the order they are installed.
SURFACES = (optimizers, autograd, modules, clipping, amp, losses, data, files)


def install(probe) -> None:
    for surface in SURFACES:
        surface.install(probe)
