"""The contract between the two processes: the report the probed child writes (one JSON file
per rank) and the parent reads back. Both sides import this module; it is pure Python.

The child builds a `Report` (a misspelled or missing field fails there, not as a silent
`None` in the parent) and writes `to_json()`; the parent reads it with `Report.from_json`,
which takes the fields it knows and ignores others (a report of a newer version). NaN and
Inf numbers travel as strings ("nan", "inf"; trainlint.probe.numbers reads them back).
The records inside the lists (layers, loaders, loss calls, evaluation passes, ...) are
JSON objects whose keys docs/probe.md describes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Bumped when a field changes meaning.
VERSION = 1

Number = float | str  # a float, or "nan" / "inf" / "-inf"


@dataclass
class Report:
    """What one rank of the probed script measured, and how it stopped."""

    # the run
    rank: int = 0
    world_size: int = 1
    script: str = ""
    stopped: str = "no-report"  # "steps", "timeout", "exit", "exception"
    exit_code: int | None = None  # the script's, when it exited
    exception: dict | None = None  # {type, message, site, module, traceback} when it raised
    torch: str | None = None
    device: str | None = None
    cuda_available: bool = False
    wall_s: float | None = None
    step_s: float | None = None
    max_steps: int | None = None
    through_eval: bool = False
    # steps
    optimizer_steps: int = 0
    backward_calls: int = 0
    optimizers: list[dict] = field(default_factory=list)  # {type, site, created_after_step, groups}
    optimizers_after_first_step: int = 0
    backward_site: dict | None = None
    lrs: list[list[float | None]] = field(default_factory=list)  # per step, per param group
    schedulers: list[dict] = field(default_factory=list)
    scheduler_warnings: list[str] = field(default_factory=list)
    double_steps: list[dict] = field(default_factory=list)
    steps_without_grad: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # loss and gradients, per backward (each backward's own gradient)
    losses: list[Number] = field(default_factory=list)
    grad_norms: list[Number] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)  # {name, module, site, norms, zero_rows}, forward order
    ratios: list[float] = field(default_factory=list)  # first / last weight layer's gradient norm
    ratio_layers: list[str] = field(default_factory=list)
    grad_carried_over: list[dict] = field(default_factory=list)
    accumulated_grads_read: bool = False
    grad_copy_limit_bytes: int = 0
    scaled: bool = False
    scaler_overflows: list[int] = field(default_factory=list)
    nonfinite_loss: dict | None = None
    nonfinite_grad: dict | None = None
    nonfinite_activation: dict | None = None
    # the model
    activations: list[dict] = field(default_factory=list)  # {name, kind, type, site, values}
    not_optimized: list[dict] = field(default_factory=list)
    without_grad: list[dict] = field(default_factory=list)
    constant_weights: list[str] = field(default_factory=list)
    huge_weights: list[str] = field(default_factory=list)
    stored_graphs: list[dict] = field(default_factory=list)
    trained_classes: list[dict] = field(default_factory=list)
    # evaluation
    eval_passes: list[dict] = field(default_factory=list)
    after_eval: list[dict] = field(default_factory=list)
    # data and losses
    loaders: list[dict] = field(default_factory=list)
    loss_fns: list[dict] = field(default_factory=list)
    # files
    redirected: list[dict] = field(default_factory=list)
    project_files: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Report":
        known = {f.name for f in fields(cls)}
        # a null where a list is expected (an older report) keeps the default
        return cls(**{k: v for k, v in data.items() if k in known and (v is not None or k in _NULLABLE)})


_NULLABLE = frozenset({"exit_code", "exception", "torch", "device", "wall_s", "step_s", "max_steps", "backward_site",
                       "nonfinite_loss", "nonfinite_grad", "nonfinite_activation"})
