"""The contract between the two processes: the report the probed child writes (one JSON file
per rank) and the parent reads back. Both sides import this module; it is pure Python.

Every record in the report is a dataclass here: the child builds them (a misspelled or
missing field fails there, not as a silent `None` in the parent) and writes
`Report.to_json()`; the parent reads it with `Report.from_json`, which turns every nested
JSON object back into its record, takes the fields it knows and ignores others (a report
of a newer version), and keeps a field's default where the JSON lacks it or has null for
a list. NaN and Inf numbers travel as strings ("nan", "inf"; trainlint.probe.numbers reads
them back). The JSON is the same as the dicts the child wrote before these records: a
field marked `optional()` is left out while it is None (as the key was).
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, Union

#: Bumped when a field changes meaning.
VERSION = 1

Number = float | str  # a float, or "nan" / "inf" / "-inf"

R = TypeVar("R", bound="Record")


def optional() -> Any:
    """A field written only when it was measured (absent from the JSON while None)."""
    return field(default=None, metadata={"optional": True})


def key(name: str, default: Any = None) -> Any:
    """A field whose JSON key is not a Python name (`class`)."""
    return field(default=default, metadata={"key": name})


class Record:
    """A dataclass of the report: to JSON and back, nested records included."""

    _hints: ClassVar[dict[type, dict[str, Any]]] = {}

    def to_json(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.metadata.get("key", f.name)] = _encode(value)
        return out

    @classmethod
    def from_json(cls: type[R], data: dict[str, Any]) -> R:
        hints = Record._hints.get(cls)
        if hints is None:
            hints = Record._hints[cls] = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            name = f.metadata.get("key", f.name)
            if name not in data:
                continue
            value = data[name]
            if value is None and not _default_is_none(f):
                continue  # a null where a list or a number is expected (an older report): the default
            values[f.name] = _decode(hints[f.name], value)
        return cls(**values)


def _default_is_none(f) -> bool:
    return f.default is None or (f.default is MISSING and f.default_factory is MISSING)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(hint: Any, value: Any) -> Any:
    """`value` (JSON) as the type `hint` says: records from objects, recursively."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is not type(None) and _fits(arg, value):
                return _decode(arg, value)
        return value
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_decode(item, v) for v in value] if isinstance(value, list) else value
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _decode(item, v) for k, v in value.items()} if isinstance(value, dict) else value
    if isinstance(hint, type) and issubclass(hint, Record) and isinstance(value, dict):
        return hint.from_json(value)
    return value


def _fits(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type) and issubclass(origin, Record):
        return isinstance(value, dict)
    if origin is float:
        return isinstance(value, (int, float))
    return isinstance(origin, type) and isinstance(value, origin)


# ---------------------------------------------------------------------- where in the code


@dataclass
class Site(Record):
    """A line of the user's code (a module built, an optimizer built, a backward() call)."""

    file: str = ""
    line: int = 0


# ---------------------------------------------------------------------- how the script stopped


@dataclass
class RaisingModule(Record):
    """The innermost module on an exception's traceback that the user's code built."""

    type: str = ""
    args: str | None = None  # its extra_repr(), cut at 80 characters
    site: Site | None = None
    device: str | None = None  # of its parameters
    dtype: str | None = None


@dataclass
class ScriptException(Record):
    """The script's own exception: what and where."""

    type: str = ""
    message: str = ""
    site: Site | None = None  # the innermost frame in the user's code
    module: RaisingModule | None = None
    traceback: str = ""


# ---------------------------------------------------------------------- optimizers and schedulers


@dataclass
class ParamGroup(Record):
    params: int = 0
    lr: float | None = None


@dataclass
class OptimizerRecord(Record):
    """An optimizer built by the script (the first 20)."""

    type: str = ""
    site: Site | None = None
    created_after_step: int = 0
    groups: list[ParamGroup] = field(default_factory=list)


@dataclass
class SchedulerRecord(Record):
    """An LR scheduler: how often its step() ran (calls) in the optimizer steps since it was built (steps)."""

    type: str = ""
    site: Site | None = None
    created_after_step: int = 0
    calls: int = 0
    steps: int = 0


@dataclass
class DoubleStep(Record):
    """An optimizer stepped again, with gradients, and no backward() since its last step."""

    optimizer: str = ""
    backward: int = 0  # the backward() call whose gradients it stepped on twice
    step: int = 0


# ---------------------------------------------------------------------- gradients and the model


@dataclass
class Layer(Record):
    """A layer's own gradient norm per backward, and (weight layers) the share of its rows without gradient."""

    name: str = ""
    module: str | None = None  # the module's type
    site: Site | None = None
    norms: list[Number] = field(default_factory=list)
    zero_rows: list[Number] | None = None


@dataclass
class CarriedGradients(Record):
    """A backward() that started with gradients of an earlier one still in .grad."""

    iteration: int = 0
    params: int = 0  # parameters holding a non-zero gradient
    of: int = 0  # of the optimizers' parameters


@dataclass
class NonFiniteLoss(Record):
    iteration: int = 0
    value: Number = "nan"


@dataclass
class NonFiniteGrad(Record):
    iteration: int = 0
    layers: list[str] = field(default_factory=list)  # the first five
    count: int = 0


@dataclass
class NonFiniteActivation(Record):
    """The first module whose output was non-finite."""

    iteration: int = 0
    module: str = "?"  # its name in the model
    type: str = ""
    site: Site | None = None
    inputs_finite: bool | None = None  # None: no floating-point input was seen


@dataclass
class Activation(Record):
    """A ReLU's share of dead units, or a sigmoid/tanh's saturated share, per backward."""

    name: str = ""
    kind: str = ""  # "relu", "sigmoid", "tanh"
    type: str = ""
    site: Site | None = None
    values: list[Number] = field(default_factory=list)


@dataclass
class NotOptimized(Record):
    """A parameter that received gradients but is in no optimizer."""

    name: str = ""
    shape: list[int] = field(default_factory=list)
    numel: int = 0
    module: str | None = None
    module_args: str | None = None
    site: Site | None = None
    iterations: int = 0


@dataclass
class WithoutGrad(Record):
    """An optimized parameter that no backward() reached."""

    name: str = ""
    shape: list[int] = field(default_factory=list)
    numel: int = 0


@dataclass
class StoredGraph(Record):
    """A module attribute holding a tensor with an autograd graph after backward()."""

    cls: str = key("class", "")
    attr: str = ""
    shape: list[int] = field(default_factory=list)
    bytes: int = 0


@dataclass
class TrainedClass(Record):
    """A user's module class that ran forward in a training step."""

    file: str = ""
    name: str = ""  # qualified


# ---------------------------------------------------------------------- evaluation


@dataclass
class EvalPass(Record):
    """Forward passes of the trained model on data it is not trained on, after one optimizer step."""

    after_step: int = 0
    module: str = ""
    forwards: int = 0
    in_train_mode: int = 0
    mode_layers: list[str] = field(default_factory=list)  # its layer types that train/eval mode changes


@dataclass
class AfterEval(Record):
    """A training forward pass after an evaluation, and the mode it ran in."""

    after_step: int = 0
    training: bool = True


# ---------------------------------------------------------------------- data and losses


@dataclass
class Batch(Record):
    """The statistics of one batch of a DataLoader: its inputs' (when it has floating-point or
    uint8 inputs) and its labels' histogram (when it has class labels)."""

    mean: Number | None = optional()
    std: Number | None = optional()
    min: Number | None = optional()
    max: Number | None = optional()
    dtype: str | None = optional()
    shape: list[int] | None = optional()
    labels: dict[str, int] | None = optional()  # class -> count
    backward_before: int = 0  # backward() calls before this batch was fetched

    @property
    def has_inputs(self) -> bool:
        return self.mean is not None


@dataclass
class Loader(Record):
    """A DataLoader that was iterated, with its first batches."""

    site: Site | None = None
    sampler: str | None = None
    batch_size: int | None = None
    dataset: str = ""
    batches: list[Batch] = field(default_factory=list)


@dataclass
class LossCall(Record):
    """A call of a functional loss (the loss modules call them) and its input."""

    fn: str = ""
    site: Site | None = None
    shape: list[int] = field(default_factory=list)
    iteration: int = 0
    loss: Number | None = None
    min: Number | None = None
    max: Number | None = None
    # of a (N, C, ...) input with C > 1
    classes: int | None = optional()
    row_sum_mean: Number | None = optional()
    row_sum_dev: Number | None = optional()  # max |row sum - 1|
    exp_row_sum_dev: Number | None = optional()  # max |sum of exp(row) - 1|
    target_dtype: str | None = optional()


# ---------------------------------------------------------------------- files


@dataclass
class Redirect(Record):
    """A write the probe sent to its temporary folder."""

    path: str = ""
    to: str = ""
    kind: str | None = optional()  # "tensorboard" for a SummaryWriter's run


# ---------------------------------------------------------------------- the report


@dataclass
class Report(Record):
    """What one rank of the probed script measured, and how it stopped."""

    # the run
    rank: int = 0
    world_size: int = 1
    script: str = ""
    stopped: str = "no-report"  # "steps", "timeout", "exit", "exception"
    exit_code: int | None = None  # the script's, when it exited
    exception: ScriptException | None = None  # when it raised
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
    optimizers: list[OptimizerRecord] = field(default_factory=list)
    optimizers_after_first_step: int = 0
    backward_site: Site | None = None
    lrs: list[list[float | None]] = field(default_factory=list)  # per step, per param group
    schedulers: list[SchedulerRecord] = field(default_factory=list)
    scheduler_warnings: list[str] = field(default_factory=list)
    double_steps: list[DoubleStep] = field(default_factory=list)
    steps_without_grad: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # loss and gradients, per backward (each backward's own gradient)
    losses: list[Number] = field(default_factory=list)
    grad_norms: list[Number] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)  # in forward order
    ratios: list[float] = field(default_factory=list)  # first / last weight layer's gradient norm
    ratio_layers: list[str] = field(default_factory=list)
    grad_carried_over: list[CarriedGradients] = field(default_factory=list)
    accumulated_grads_read: bool = False
    grad_copy_limit_bytes: int = 0
    scaled: bool = False
    scaler_overflows: list[int] = field(default_factory=list)
    nonfinite_loss: NonFiniteLoss | None = None
    nonfinite_grad: NonFiniteGrad | None = None
    nonfinite_activation: NonFiniteActivation | None = None
    # the model
    activations: list[Activation] = field(default_factory=list)
    not_optimized: list[NotOptimized] = field(default_factory=list)
    without_grad: list[WithoutGrad] = field(default_factory=list)
    constant_weights: list[str] = field(default_factory=list)
    huge_weights: list[str] = field(default_factory=list)
    stored_graphs: list[StoredGraph] = field(default_factory=list)
    trained_classes: list[TrainedClass] = field(default_factory=list)
    # evaluation
    eval_passes: list[EvalPass] = field(default_factory=list)
    after_eval: list[AfterEval] = field(default_factory=list)
    # data and losses
    loaders: list[Loader] = field(default_factory=list)
    loss_fns: list[LossCall] = field(default_factory=list)
    # files
    redirected: list[Redirect] = field(default_factory=list)
    project_files: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    version: int = VERSION


@dataclass
class Progress(Record):
    """One line of the progress pipe (child -> parent, rank 0), after each step or backward()."""

    steps: int = 0
    backward: int = 0
    loss: Number | None = None
