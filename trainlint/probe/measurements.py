"""The measurements of one probe, as the analysis reads them: the child's report (typed:
trainlint.probe.schema) with the numbers several rules derive from it, and (from
trainlint.probe.evidence) the Evidence and Bands they return.

Pure Python (no torch). The runtime rules (rules/runtime/) import it: each owns the
function that turns these measurements into its evidence (`measure`), and
`Measurements.measure(code)` runs it once per probe. What confirms or refutes a static
finding is the verdicts' (trainlint.probe.static_evidence), not here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from trainlint.probe.evidence import Band, Evidence
from trainlint.probe.numbers import as_float, finite, median
from trainlint.probe.thresholds import Thresholds

if TYPE_CHECKING:
    # `check` imports the runtime rules (for the catalog) and with them this module; the
    # report's 22 record classes are built only when a probe is analysed (10 ms)
    from trainlint.probe.schema import Batch, Loader, LossCall, Report, Site

__all__ = ["Band", "Evidence", "Measurements", "same_file", "shape", "where"]


class Measurements:
    """The rank-0 report with the derived numbers every check and verdict reads."""

    def __init__(self, report: Report | dict, thresholds: Thresholds) -> None:
        if isinstance(report, dict):  # the JSON as the child wrote it
            from trainlint.probe.schema import Report

            report = Report.from_json(report)
        self.r = report
        self.t = thresholds
        self.backward = report.backward_calls
        self.steps = report.optimizer_steps
        self.has_optimizer = bool(report.optimizers)
        self.losses = [as_float(x) for x in report.losses]
        self.grad_norms = [as_float(x) for x in report.grad_norms]
        self._evidence: dict[str, Evidence] = {}
        self.train_loaders = [ld for ld in report.loaders if self.is_training(ld)]

    def measure(self, code: str) -> Evidence:
        """The evidence of runtime rule `code` (rules/runtime/), computed once."""
        if code not in self._evidence:
            from trainlint.probe.catalog import runtime_rules

            self._evidence[code] = runtime_rules()[code].measure(self)
        return self._evidence[code]

    def is_training(self, loader: Loader) -> bool:
        """A loader whose batches were trained on: backward calls happened between its fetches."""
        marks = [b.backward_before for b in loader.batches]
        if len(marks) >= 2:
            return marks[-1] > marks[0]
        loaders = self.r.loaders
        return len(marks) == 1 and len(loaders) == 1 and self.backward > marks[0]

    @property
    def optimizer_site(self) -> Site | None:
        opts = self.r.optimizers
        return opts[0].site if opts else None

    @property
    def backward_site(self) -> Site | None:
        return self.r.backward_site or self.optimizer_site

    def loss_falls(self) -> bool:
        """Whether the loss went down over the probed iterations (medians of the first and last three)."""
        losses = self.losses
        if len(losses) < 2 or not all(finite(x) for x in losses):
            return False
        k = 3 if len(losses) >= 6 else 1
        return median(losses[-k:]) < median(losses[:k])

    def loss_calls(self, fn: str) -> list[LossCall]:
        return [e for e in self.r.loss_fns if e.fn == fn]

    def probabilities(self, entry: LossCall) -> bool:
        """The loss function's input rows are probabilities: in [0, 1], each summing to 1."""
        return (entry.min is not None and as_float(entry.min) >= 0 and as_float(entry.max) <= 1
                and entry.row_sum_dev is not None and as_float(entry.row_sum_dev) < 1e-3)

    def loader_summary(self) -> tuple[list[Batch], Site | None]:
        """The training loaders' batches with input statistics, and where the first loader was built."""
        batches = [b for ld in self.train_loaders for b in ld.batches if b.has_inputs]
        return batches, (self.train_loaders[0].site if self.train_loaders else None)


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a == b


def shape(dims) -> str:
    """[32×16×1×1]"""
    return "[" + "×".join(str(s) for s in dims) + "]"


def where(site: Site | None) -> str:
    return f"{os.path.basename(site.file)}:{site.line}" if site else "?"
