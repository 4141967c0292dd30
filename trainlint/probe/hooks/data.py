"""DataLoader: where each is built, and the statistics of its first batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from trainlint.probe.schema import Loader

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe


def install(probe) -> None:
    """Wrap DataLoader.__init__ and __iter__."""
    from torch.utils.data import DataLoader

    loader_iter = DataLoader.__iter__
    loader_init = DataLoader.__init__

    def patched_loader_init(loader, *args, **kwargs):
        loader_init(loader, *args, **kwargs)
        try:
            site = probe._site(skip_self=loader)
            if site is not None:
                probe.loader_sites[loader] = site
        except Exception:
            pass

    DataLoader.__init__ = patched_loader_init

    def patched_iter(loader):
        inner = loader_iter(loader)
        if probe.done:
            return inner
        return _LoaderIter(probe, loader, inner)

    DataLoader.__iter__ = patched_iter


class _LoaderIter:
    """Wraps a DataLoader iterator: statistics of the first batches, then out of the way."""

    def __init__(self, probe: Probe, loader, inner) -> None:
        self._probe = probe
        self._inner = inner
        self._seen = 0
        record = probe._loader_ids.get(loader)
        if record is None:
            sampler = getattr(loader, "sampler", None)
            record = Loader(
                site=probe.loader_sites.get(loader) or probe._site(),
                sampler=type(sampler).__name__ if sampler is not None else None,
                batch_size=getattr(loader, "batch_size", None),
                dataset=type(getattr(loader, "dataset", None)).__name__,
            )
            if len(probe.loaders) < 10:
                probe.loaders.append(record)
            probe._loader_ids[loader] = record
        self._record = record

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._inner)
        probe = self._probe
        if len(self._record.batches) < probe.max_batches and not probe.done:
            try:
                probe._on_batch(self._record, batch)
            except Exception:
                pass
        return batch

    def __len__(self):
        return len(self._inner)

    def __getattr__(self, name):
        if name in ("_inner", "_probe", "_record", "_seen"):  # during copy/unpickle
            raise AttributeError(name)
        return getattr(self._inner, name)


def split_batch(batch):
    """(inputs, labels) of a batch: tuples/lists (x, y, ...), dicts with usual keys, or a tensor."""
    if isinstance(batch, torch.Tensor):
        return (batch if batch.is_floating_point() else None), None
    if isinstance(batch, dict):
        x = next((batch[k] for k in ("pixel_values", "input", "inputs", "x", "image", "images", "features")
                  if isinstance(batch.get(k), torch.Tensor)), None)
        if x is None:
            x = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.is_floating_point()), None)
        y = next((batch[k] for k in ("labels", "label", "target", "targets", "y")
                  if isinstance(batch.get(k), torch.Tensor)), None)
    elif isinstance(batch, (list, tuple)) and batch:
        x = batch[0] if isinstance(batch[0], torch.Tensor) else None
        y = batch[1] if len(batch) > 1 and isinstance(batch[1], torch.Tensor) else None
    else:
        return None, None
    if x is not None and not x.is_floating_point():
        x = x if x.dtype == torch.uint8 else None  # raw image bytes count; token ids do not
    if y is not None and (y.is_floating_point() or y.is_complex() or y.dim() != 1):
        y = None
    return x, y
