"""DataLoader: where each is built, and the statistics of its first batches (the DataRecorder's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.utils.weak import WeakIdKeyDictionary

from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import Batch, Loader

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

MAX_LOADERS = 10  # loaders described in the report


class DataRecorder:
    """The DataLoaders the script iterated, with the statistics of their first `max_batches` batches."""

    def __init__(self, probe: Probe, max_batches: int) -> None:
        self.probe = probe
        self.max_batches = max_batches
        self.loaders: list[Loader] = []
        self._records = WeakIdKeyDictionary()  # loader -> its Loader record
        self.sites = WeakIdKeyDictionary()  # loader -> where the script built it

    def on_init(self, loader) -> None:
        site = self.probe.site(skip_self=loader)
        if site is not None:
            self.sites[loader] = site

    def record_for(self, loader) -> Loader:
        record = self._records.get(loader)
        if record is None:
            sampler = getattr(loader, "sampler", None)
            record = Loader(
                site=self.sites.get(loader) or self.probe.site(),
                sampler=type(sampler).__name__ if sampler is not None else None,
                batch_size=getattr(loader, "batch_size", None),
                dataset=type(getattr(loader, "dataset", None)).__name__,
            )
            if len(self.loaders) < MAX_LOADERS:
                self.loaders.append(record)
            self._records[loader] = record
        return record

    def wants(self, record: Loader) -> bool:
        return len(record.batches) < self.max_batches and not self.probe.done

    def on_batch(self, record: Loader, batch) -> None:
        x, y = split_batch(batch)
        stats = Batch()
        if x is not None:
            xf = x.detach().float()
            if xf.numel() > 1:
                stats.mean, stats.std = _num(float(xf.mean())), _num(float(xf.std()))
                stats.min, stats.max = _num(float(xf.min())), _num(float(xf.max()))
                stats.dtype, stats.shape = str(x.dtype).replace("torch.", ""), list(x.shape)
        if y is not None:
            yy = y.detach().flatten().to("cpu")
            if yy.numel() and int(yy.min()) >= 0 and int(yy.max()) < 100000:
                counts = torch.bincount(yy.long())
                stats.labels = {str(i): int(c) for i, c in enumerate(counts.tolist()) if c}
        stats.backward_before = self.probe.grads.backward_calls
        record.batches.append(stats)

    def fields(self) -> dict:
        return {"loaders": self.loaders}


def install(probe: Probe) -> None:
    """Wrap DataLoader.__init__ and __iter__."""
    from torch.utils.data import DataLoader

    recorder = probe.data
    loader_iter = DataLoader.__iter__
    loader_init = DataLoader.__init__

    def patched_loader_init(loader, *args, **kwargs):
        loader_init(loader, *args, **kwargs)
        try:
            recorder.on_init(loader)
        except Exception:
            pass

    DataLoader.__init__ = patched_loader_init

    def patched_iter(loader):
        inner = loader_iter(loader)
        if probe.done:
            return inner
        return _LoaderIter(recorder, loader, inner)

    DataLoader.__iter__ = patched_iter


class _LoaderIter:
    """Wraps a DataLoader iterator: statistics of the first batches, then out of the way."""

    def __init__(self, recorder: DataRecorder, loader, inner) -> None:
        self._recorder = recorder
        self._inner = inner
        self._seen = 0
        self._record = recorder.record_for(loader)

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._inner)
        if self._recorder.wants(self._record):
            try:
                self._recorder.on_batch(self._record, batch)
            except Exception:
                pass
        return batch

    def __len__(self):
        return len(self._inner)

    def __getattr__(self, name):
        if name in ("_inner", "_recorder", "_record", "_seen"):  # during copy/unpickle
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
