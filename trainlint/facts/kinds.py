"""The closed sets of words the facts use: loop event kinds, data roles, layer kinds,
scheduler kinds.

String enums, so a member is equal to its word (`EventKind.STEP == "step"`), prints as
it (messages and the docs say "step", not "EventKind.STEP"), and a typo is an
AttributeError rather than a silently false comparison.
"""

from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    """enum.StrEnum of Python 3.11, for 3.10."""

    def __str__(self) -> str:
        return str(self.value)


class EventKind(_StrEnum):
    """What an event of a training loop does (see LoopEvents)."""

    FORWARD = "forward"  # a model called on data
    LOSS = "loss"  # a loss computed
    BACKWARD = "backward"
    CLIP = "clip"  # gradients clipped
    UNSCALE = "unscale"  # a GradScaler's unscale_()
    STEP = "step"  # an optimizer step
    ZERO_GRAD = "zero_grad"
    SCHED_STEP = "scheduler_step"
    TRAIN = "train"  # model.train()
    EVAL = "eval"  # model.eval(), model.train(False)
    ACCUMULATE = "accumulate"  # `total += loss`, `losses.append(loss)`
    BIND = "bind"  # a name assigned
    OPTIMIZER_BUILT = "optimizer_built"
    MODEL_BUILT = "model_built"
    LR_UPDATE = "lr_update"  # param_groups[...]["lr"] = ..., or a helper that sets the LR
    #: a training function of another module given the optimizer (`tnt.train(model, optimizer=opt)`):
    #: the optimizer's steps run in there
    TRAINS_ELSEWHERE = "trains_elsewhere"


class DataRole(_StrEnum):
    """What a dataset, transform pipeline or DataLoader serves."""

    TRAIN = "train"
    EVAL = "eval"


class ElementKind(_StrEnum):
    """What one element of a layer stack or a forward path is."""

    WEIGHT = "weight"  # torch's Conv/Linear
    BLOCK = "block"  # any other module with parameters (a project block, an LSTM, attention)
    SQUASH = "squash"  # sigmoid, tanh and their hard variants
    NORM = "norm"
    OTHER = "other"


class SchedulerKind(_StrEnum):
    """The unit a learning-rate scheduler's period counts."""

    EPOCH = "epoch"  # StepLR, CosineAnnealingLR, ...: stepped once per epoch
    BATCH = "batch"  # OneCycleLR, CyclicLR: stepped once per batch
    PLATEAU = "plateau"  # ReduceLROnPlateau: stepped with a metric
    OTHER = "other"


__all__ = ["DataRole", "ElementKind", "EventKind", "SchedulerKind"]
