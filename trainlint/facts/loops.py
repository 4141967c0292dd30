"""Training and evaluation loops, as ordered events of one iteration: the types.

`facts.loops` (a `LoopFacts`, built by loop_builder.py) is built the first time a rule
asks. What it offers:

- `flows`: one `LoopEvents` per function (and one for the module body) that runs a loop,
  directly or through a helper of the same file. A flow is the function's events in
  execution order; calls to helpers of the same file (`train_one_epoch(...)`,
  `self.evaluate()`) are followed and their events inlined, with the helper's
  parameters renamed to the caller's arguments (`optimizer.step()` inside
  `train(model, opt)` has target `opt`). `flow.inlined` is True when the function is
  also inlined into a caller: rules that need the caller's context (was `model.eval()`
  called before?) read the caller's flow and skip this one.
- `root_flows`: the flows that are not inlined anywhere (entry points).
- `LoopEvents.loops`: the `Loop`s of the flow, outer before inner; `loop.events` are the
  events of one iteration (nested loops included), `loop.parent` the enclosing loop,
  `loop.is_training` (a backward or an optimizer step inside), `loop.training_loops`.
- `Event`: `kind` (an `EventKind`), `node` (the call or statement to report
  on), `target` (dotted name the event acts on: the optimizer of a step, the scheduler,
  the model of a toggle or forward, the name bound or accumulated), `value` (the loss
  expression of a backward, the value of a bind or accumulation), `loops` (enclosing
  `Loop`s, outermost first), `guards` (enclosing `if`/`except` blocks), `no_grad`
  (inside `torch.no_grad()`/`inference_mode()`/`set_grad_enabled`), `via` (helper
  calls followed to reach it).
- `LoopEvents.value_of(name, before)`: the expression last bound to `name` before an event
  (simple data flow: `out = model(x); probs = F.softmax(out); loss = ce(probs, y)`).
- `LoopEvents.training_loops`: loops whose iteration runs a backward and an optimizer step
  (events of nested training loops not counted); `LoopEvents.own_events(loop)` the events of a
  training loop outside its nested training loops.
- `optimizers` / `schedulers`: dotted name -> `Optimizer` / `Scheduler` (type, call,
  literal lr and weight decay; its `SchedulerKind`: epoch, batch, plateau or other),
  from every assignment in the file; `model_types`: model name -> its class;
  `has_manual_lr` (any LR change: schedulers, `param_group["lr"]` writes, LR helpers),
  `sets_lr` (the LR is assigned outright: writes and LR helpers, not schedulers).
- `evaluation_loop(loop)`, `same_model(a, b)`; whether a model behaves differently in
  eval mode is `facts.behaves_differently_in_eval(model)` (modes.py).

Names are matched by spelling where types are unknown (a parameter called
`optimizer`, `lr_scheduler`): that is how real training code names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst

from trainlint.facts.kinds import EventKind, SchedulerKind
from trainlint.facts.syntax import dotted, last_name
from trainlint.facts.vocabulary import BATCH_SCHEDULERS, EPOCH_SCHEDULERS, OPTIMIZER_CLASS_NAMES, PLATEAU_SCHEDULERS
from trainlint.facts.walk import walk


@dataclass(eq=False)
class Loop:
    """One loop as met in a flow (a helper's loop inlined twice is two Loops)."""

    node: cst.For | cst.While
    parent: "Loop | None"
    via: tuple[cst.Call, ...]
    no_grad: bool
    guards: tuple[cst.CSTNode, ...]
    function: cst.FunctionDef | None  # where the loop is written
    renames: dict[str, str] = field(default_factory=dict)  # helper parameters -> the caller's names
    #: what a named iterable was bound to earlier in the flow (`batches = tqdm(val_loader)`)
    bound_iterable: cst.BaseExpression | None = None
    events: list["Event"] = field(default_factory=list)
    children: list["Loop"] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def ancestors(self) -> tuple["Loop", ...]:
        out: list[Loop] = []
        loop = self.parent
        while loop is not None:
            out.append(loop)
            loop = loop.parent
        return tuple(reversed(out))

    def kinds(self) -> set[EventKind]:
        return {e.kind for e in self.events}

    @cached_property
    def is_training(self) -> bool:
        return any(e.kind in (EventKind.BACKWARD, EventKind.STEP) for e in self.events)

    @property
    def steps(self) -> list["Event"]:
        return [e for e in self.events if e.kind == EventKind.STEP]

    @property
    def direct_events(self) -> list["Event"]:
        """Events of this loop's body that are not inside a nested loop."""
        return [e for e in self.events if e.loops and e.loops[-1] is self]

    @cached_property
    def iterable(self) -> cst.BaseExpression | None:
        return self.node.iter if isinstance(self.node, cst.For) else None

    @cached_property
    def iterable_names(self) -> str:
        """The names the loop iterates over (`enumerate(tqdm(val_loader))` -> "val_loader"), lowercased."""
        if self.iterable is None:
            return ""
        names: list[str] = []
        renames = self.renames

        class _Names(cst.CSTVisitor):
            def visit_Name(self, node: cst.Name) -> None:
                names.append(renames.get(node.value, node.value).replace(".", " "))

            def visit_Attribute(self, node: cst.Attribute) -> None:
                names.append(node.attr.value)

        walk(self.iterable, _Names())
        if self.bound_iterable is not None:
            walk(self.bound_iterable, _Names())
        return " ".join(names).lower()

    @cached_property
    def target_names(self) -> tuple[str, ...]:
        if not isinstance(self.node, cst.For):
            return ()
        out: list[str] = []

        class _Names(cst.CSTVisitor):
            def visit_Name(self, node: cst.Name) -> None:
                out.append(node.value)

        walk(self.node.target, _Names())
        return tuple(out)


@dataclass(eq=False)
class Event:
    kind: EventKind
    node: cst.CSTNode
    target: str | None = None
    value: cst.BaseExpression | None = None
    loops: tuple[Loop, ...] = ()
    guards: tuple[cst.CSTNode, ...] = ()
    no_grad: bool = False
    via: tuple[cst.Call, ...] = ()
    function: cst.FunctionDef | None = None  # where the event's code is written
    index: int = -1  # position in the flow
    #: where to report the event when `node` does not name its target: the call that passed
    #: a list of models to a helper looping over it (`set_mode('eval', [pg, ee])`)
    site: cst.CSTNode | None = None

    @property
    def loop(self) -> Loop | None:
        return self.loops[-1] if self.loops else None

    @property
    def call(self) -> cst.Call | None:
        return self.node if isinstance(self.node, cst.Call) else None

    def in_loop(self, loop: Loop) -> bool:
        return any(l is loop for l in self.loops)

    def exclusive_with(self, other: "Event") -> bool:
        """The two are in different arms of one `if`/`elif`/`else` chain: never in the same pass."""
        for i, (a, b) in enumerate(zip(self.guards, other.guards)):
            if a is not b:
                break
        else:
            i = min(len(self.guards), len(other.guards))
        if i == 0 or not isinstance(self.guards[i - 1], cst.If):
            return False
        # an `elif`/`else` arm's events carry the chain's node after the `if` (the walker
        # does not nest an `else` under its `elif`): any node of the chain means "not the body"
        chain: list[cst.CSTNode] = []
        node = self.guards[i - 1].orelse
        while node is not None:
            chain.append(node)
            node = node.orelse if isinstance(node, cst.If) else None
        mine = self.guards[i] if i < len(self.guards) else None
        theirs = other.guards[i] if i < len(other.guards) else None
        return _arm(chain, mine) != _arm(chain, theirs)

    def deciding_guards(self, loop: Loop | None = None, *, shared_with: "Event | None" = None) -> tuple[cst.CSTNode, ...]:
        """The guards of this event inside `loop` (all of them without one) that decide whether
        it runs differently from `shared_with`: an `if` that only tests that the event's own
        object exists (`if scheduler:`, `if self.lr_scheduler is not None:`) and an `if` that
        also encloses `shared_with` (accumulation guarding the optimizer and the scheduler
        steps alike) do not."""
        own = self.guards[len(loop.guards) :] if loop is not None else self.guards
        others = shared_with.guards if shared_with is not None else ()
        return tuple(
            g for g in own if not any(g is o for o in others) and not tests_existence(g, self.target)
        )


@dataclass(eq=False)
class LoopEvents:
    root: cst.FunctionDef | None  # None: the module body
    events: list[Event] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    inlined: bool = False
    decorated_no_grad: bool = False
    #: the function is run once per batch by a framework (Lightning's `training_step`): its
    #: events are one iteration of a loop that is in no file
    per_batch: bool = False

    def value_of(self, name: str, before: Event) -> cst.BaseExpression | None:
        """What `name` was last bound to before `before` in this flow (None if unknown)."""
        for event in reversed(self.events[: before.index]):
            if event.kind == EventKind.BIND and event.target == name:
                return event.value
        return None

    def binding_of(self, name: str, before: Event) -> Event | None:
        for event in reversed(self.events[: before.index]):
            if event.kind == EventKind.BIND and event.target == name:
                return event
        return None

    @cached_property
    def training_loops(self) -> list[Loop]:
        """Loops whose iteration runs both a backward and an optimizer step, not counting the
        events of nested training loops (a WGAN's critic loop inside the generator's loop is
        one training loop, the generator's steps another; nanoGPT's micro-step loop only
        backpropagates, so its outer loop is the training loop)."""
        training: list[Loop] = []
        for loop in reversed(self.loops):  # inner loops first
            inner = [t for t in training if loop in t.ancestors]
            kinds = {e.kind for e in loop.events if not any(e.in_loop(t) for t in inner)}
            if EventKind.BACKWARD in kinds and EventKind.STEP in kinds:
                training.append(loop)
        return list(reversed(training))

    def own_events(self, loop: Loop) -> list[Event]:
        """The loop's events that are not inside a nested training loop."""
        inner = [t for t in self.training_loops if t is not loop and loop in t.ancestors]
        return [e for e in loop.events if not any(e.in_loop(t) for t in inner)]


def same_model(a: str | None, b: str | None) -> bool:
    """`model` and `model.module`, `self.model` and `self.model`: the same network."""
    if not a or not b:
        return False
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _arm(chain: list[cst.CSTNode], guard: cst.CSTNode | None) -> int:
    """Which arm of an if/elif/else chain a guard opens: -1 for the `if` body."""
    return next((i for i, node in enumerate(chain) if node is guard), -1)


def tests_existence(guard: cst.CSTNode, name: str | None) -> bool:
    """`if scheduler:`, `if self.lr_scheduler is not None:`: the guard only tests that the
    object `name` exists (its last segment matched: a helper's parameter is renamed to
    the caller's name in events, not in the code)."""
    if not isinstance(guard, cst.If) or not name:
        return False
    test = guard.test
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        if not isinstance(comparison.operator, cst.IsNot) or not (
            isinstance(comparison.comparator, cst.Name) and comparison.comparator.value == "None"
        ):
            return False
        test = test.left
    tested = dotted(test)
    return tested is not None and last_name(tested) == last_name(name)


def is_periodic(guard: cst.CSTNode) -> bool:
    """`if (i + 1) % accum == 0:`, `if epoch % k == 0:`: a guard that holds again and again,
    every k-th time (unlike `if epoch == unfreeze_epoch:`)."""
    if not isinstance(guard, cst.If):
        return False
    found: list[cst.BinaryOperation] = []

    class _Modulo(cst.CSTVisitor):
        def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
            if isinstance(node.operator, cst.Modulo):
                found.append(node)

    walk(guard.test, _Modulo())
    return bool(found)


_EVALUATION_FUNCTION = re.compile(r"^(run_|do_)?(test|evaluate|validate|validation|eval)(_\w+)?$", re.I)


def is_evaluation_function(name: str) -> bool:
    """`test`, `evaluate`, `validate`, `eval_epoch`, `run_test`: a function that evaluates a model, by its name."""
    return bool(_EVALUATION_FUNCTION.search(name))


_EVAL_DATA = re.compile(r"val|test|eval|dev\b|holdout")


def evaluation_loop(loop: Loop) -> bool:
    """A loop that runs a model without training it, over validation/test data or under no_grad.

    Loops over training data under no_grad (BatchNorm recalibration, feature extraction)
    and generation loops over `range(...)` are not evaluation loops.
    """
    if loop.is_training or not any(e.kind == EventKind.FORWARD for e in loop.events):
        return False
    names = loop.iterable_names
    if not names or "train" in names:
        return False
    if _EVAL_DATA.search(names):
        return True
    forwards = [e for e in loop.events if e.kind == EventKind.FORWARD]
    return "range" not in names.split() and all(e.no_grad for e in forwards)


@dataclass(eq=False)
class Optimizer:
    name: str
    qualname: str
    call: cst.Call
    lr: float | None
    lr_node: cst.BaseExpression | None
    weight_decay: float | None
    weight_decay_node: cst.BaseExpression | None

    @property
    def type_name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(eq=False)
class Scheduler:
    name: str
    qualname: str
    call: cst.Call

    @property
    def type_name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def kind(self) -> SchedulerKind:
        if self.qualname in EPOCH_SCHEDULERS:
            return SchedulerKind.EPOCH
        if self.qualname in BATCH_SCHEDULERS:
            return SchedulerKind.BATCH
        if self.qualname in PLATEAU_SCHEDULERS:
            return SchedulerKind.PLATEAU
        return SchedulerKind.OTHER


@dataclass(eq=False)
class LoopFacts:
    flows: list[LoopEvents]
    optimizers: dict[str, Optimizer]
    schedulers: dict[str, Scheduler]
    #: lr updates anywhere in the file (param_groups writes, LR helper calls, schedulers built)
    has_manual_lr: bool = False
    #: the learning rate is assigned outright somewhere in the file (`param_group["lr"] = ...`,
    #: an LR helper such as `adjust_learning_rate(...)`): the constructor's lr may be a placeholder
    sets_lr: bool = False
    #: model name -> the class it was built from (`model = Net().to(device)` -> "train.Net")
    model_types: dict[str, str] = field(default_factory=dict)

    @property
    def root_flows(self) -> list[LoopEvents]:
        return [f for f in self.flows if not f.inlined]

    def training_loops(self) -> Iterator[tuple[LoopEvents, Loop]]:
        for flow in self.flows:
            for loop in flow.training_loops:
                yield flow, loop


def is_optimizer_class(qualname: str | None) -> bool:
    if not qualname:
        return False
    if qualname.startswith("torch.optim.") and "lr_scheduler" not in qualname and "swa_utils" not in qualname:
        last = last_name(qualname)
        return last[:1].isupper() and last not in ("Optimizer",)
    last = last_name(qualname)
    return last in OPTIMIZER_CLASS_NAMES or (
        last.endswith("Optimizer") and last != "Optimizer" and "." in qualname
    )


def is_scheduler_class(qualname: str | None) -> bool:
    if not qualname:
        return False
    last = last_name(qualname)
    if "lr_scheduler" in qualname and last[:1].isupper():
        return True
    return last.endswith(("LR", "Scheduler")) or bool(re.match(r"get_\w*schedule", last)) or last in ("create_scheduler", "create_scheduler_v2")


__all__ = [
    "Event", "Loop", "LoopEvents", "LoopFacts", "Optimizer", "Scheduler", "evaluation_loop", "is_optimizer_class",
    "is_evaluation_function", "is_periodic", "is_scheduler_class", "same_model", "tests_existence",
]
