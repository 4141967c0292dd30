"""The probe's patches, one module per torch surface. Each module holds the recorder of
what its surface measures (the Probe, trainlint/probe/instrument.py, makes one of each
and writes them into the report) and its `install(probe)` wraps its part of torch to fill
it. Imported only in the probed child (they import torch)."""

from __future__ import annotations

from trainlint.probe.hooks import amp, autograd, clipping, data, evaluation, files, losses, modules, optimizers

#: In the order they are installed.
SURFACES = (optimizers, autograd, modules, evaluation, clipping, amp, losses, data, files)


def install(probe) -> None:
    for surface in SURFACES:
        surface.install(probe)
