"""Building the loop facts (loops.py) of a file: the types of its names (optimizers,
schedulers, models, losses), then one walk per function that runs a loop, emitting its
events in execution order with the file's helpers inlined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import FunctionInfo
from trainlint.facts.kinds import EventKind
from trainlint.facts.loops import (
    Event, Loop, LoopEvents, LoopFacts, Optimizer, Scheduler, is_evaluation_function, is_optimizer_class,
    is_scheduler_class,
)
from trainlint.facts.modes import is_parallel_wrapper
from trainlint.facts.roles import names_a_model
from trainlint.facts.syntax import argument, boolean, constant_truth, dotted, is_false, is_none, keyword, last_name, number, string
from trainlint.facts.syntax import positional as positional_values
from trainlint.facts.vocabulary import CLIP_NAMES, FUNCTIONAL_LOSSES, GRAD_MODE
from trainlint.facts.walk import children

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

_MAX_INLINE_DEPTH = 4
#: Calls that make a function worth walking as a flow.
_RELEVANT_ATTRS = frozenset(
    {
        "backward", "manual_backward", "step", "step_update", "zero_grad", "eval", "train", "state_dict",
        "clip_grad_norm_", "clip_grad_value_", "unscale_",
    }
)

#: A loss function of any library, by torch's names for them (`losses.cross_entropy`, `my_kl_div`).
_LOSS_FUNCTION_NAMES = tuple(sorted(last_name(q) for q in FUNCTIONAL_LOSSES))
_MOVES = ("to", "cuda", "cpu", "half", "float", "double")  # `Net().to(device)` is still a Net
_OPTIMIZER_NAME = re.compile(r"optim|^opt($|_|[a-z]?\d*$)|_opt($|_|[a-z]?\d*$)", re.I)
_SCHEDULER_NAME = re.compile(r"sched|^lr_?s|warmup", re.I)
_SCALER_NAME = re.compile(r"scaler", re.I)
#: functions that run training steps: `train`, `train_one_epoch`, `train_epoch`, `fit`
_TRAINING_FUNCTION = re.compile(r"^(train|fit)(_one)?(_epoch|_step)?$", re.I)
_LR_HELPER = re.compile(r"(adjust|set|update|assign|decay|warmup|schedule)\w*_?(lr|learning_rate)|(lr|learning_rate)_?(schedule|decay|update|step|warmup)|^get_lr$", re.I)


def _per_batch(info: FunctionInfo) -> bool:
    """A LightningModule's `training_step`: the trainer calls it once per batch."""
    return info.cls is not None and info.name == "training_step"


def _is_loss_class(qualname: str | None) -> bool:
    return bool(qualname) and last_name(qualname).endswith("Loss")


class _Builder:
    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        self.names = facts.names
        collected = facts.collected
        self.top_functions: dict[str, FunctionInfo] = {}
        self.info_by_node: dict[int, FunctionInfo] = {}
        #: functions defined inside a function (timm's `_backward` in train_one_epoch), by parent
        self.nested: dict[int, dict[str, FunctionInfo]] = {}
        for info in collected.functions:
            self.info_by_node[id(info.node)] = info
            if info.cls is None and info.parent is None:
                self.top_functions.setdefault(info.name, info)
            elif info.cls is None and info.parent is not None:
                self.nested.setdefault(id(info.parent.node), {})[info.name] = info
        self.optimizers: dict[str, Optimizer] = {}
        self.schedulers: dict[str, Scheduler] = {}
        self.models: set[str] = set()
        self.model_types: dict[str, str] = {}
        self.losses: set[str] = set()
        self.scalers: set[str] = set()
        self.has_manual_lr = False
        self.sets_lr = False
        #: classes of this file by name, and names bound to an instance of one (`trainer = Trainer(...)`)
        self.classes = {info.name: info for info in collected.classes if info.outer is None}
        self.instances: dict[str, str] = {}
        self._types()
        self.inlined: set[int] = set()
        #: per expression (by id): its calls in evaluation order; per call: what its text says
        self.expression_calls: dict[int, list[cst.Call]] = {}
        self.call_reads: dict[int, tuple] = {}

    # types of names, from every assignment in the file ---------------------------
    def _types(self) -> None:
        for assign in self.facts.collected.assigns:
            node = assign.node
            if isinstance(node, cst.AugAssign):
                continue
            value = node.value
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            if isinstance(node, cst.Assign) and self._is_lr_write(targets):
                self.has_manual_lr = self.sets_lr = True
            if not isinstance(value, cst.Call):
                continue
            call = value
            # `model = Net().to(device)`, `model = DDP(model)`: the innermost constructor
            inner = call
            while isinstance(inner.func, cst.Attribute) and isinstance(inner.func.value, cst.Call) and inner.func.attr.value in _MOVES:
                inner = inner.func.value
            qualname = self.facts.qualname(inner.func)
            for target in targets:
                name = dotted(target)
                if name is None:
                    continue
                if isinstance(inner.func, cst.Name) and inner.func.value in self.classes:
                    self.instances[name] = inner.func.value
                if is_optimizer_class(qualname):
                    self.optimizers[name] = self._optimizer(name, qualname, inner)
                elif is_scheduler_class(qualname):
                    known = self.schedulers.get(name)
                    if known is not None and known.qualname != qualname:
                        qualname = "?"  # one name, several scheduler types: the type is unknown
                    self.schedulers[name] = Scheduler(name, qualname or "", inner)
                    self.has_manual_lr = True
                elif _is_loss_class(qualname) or (qualname or "").endswith(_LOSS_FUNCTION_NAMES):
                    self.losses.add(name)
                elif last_name(qualname) in ("GradScaler",) or (qualname or "").endswith("GradScaler"):
                    self.scalers.add(name)
                elif self.facts.is_module_class(qualname):
                    self.models.add(name)
                    if qualname and not is_parallel_wrapper(qualname):
                        self.model_types.setdefault(name, qualname)
        for call in self.facts.collected.calls:
            func = call.node.func
            name = last_name(dotted(func))
            if name and _LR_HELPER.search(name):
                self.has_manual_lr = self.sets_lr = True
        self._constructor_attributes()
        self._parameter_types()

    def _parameter_types(self) -> None:
        """`def evaluate(model, loader)`: a model parameter of a function holds what the
        project's calls of it pass (`evaluate(Net(), loader)`, or `model` typed by
        `model = Net()`, in this file or another: facts.callsites), and, where nothing
        calls it, an instance of the file's only model class. Names are typed by spelling, so a name that two
        functions receive with different classes stays untyped."""
        found: dict[str, set[str | None]] = {}
        callers: dict[str, list] | None = None  # callee name -> its calls, built on first need
        for info in self.top_functions.values():
            params = info.node.params.params
            for position, param in enumerate(params):
                name = param.name.value
                if name in self.model_types or not names_a_model(name):
                    continue
                if callers is None:
                    callers = {}
                    for call in self.facts.collected.calls:
                        if isinstance(call.node.func, cst.Name):
                            callers.setdefault(call.node.func.value, []).append(call)
                calls = callers.get(info.name, [])
                types = {self._type_of(argument(c.node, name, position)) for c in calls}
                types.update(self.facts.passed_classes(info, name, position))  # the other files' calls
                if not types:
                    only = self.facts.only_model_class
                    types = {only.name if only is not None else None}
                found.setdefault(name, set()).update(types)
        for name, types in found.items():
            if len(types) == 1 and None not in types:
                self.model_types[name] = types.pop()

    def _type_of(self, value: cst.BaseExpression | None) -> str | None:
        """The model class an argument holds: `Net()`, `Net().to(device)`, or a name typed by its assignment."""
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in _MOVES:
            value = value.func.value
        if isinstance(value, cst.Call):
            qualname = self.facts.qualname(value.func)
            return qualname if self.facts.is_module_class(qualname) and not is_parallel_wrapper(qualname) else None
        name = dotted(value) if value is not None else None
        return self.model_types.get(name) if name else None

    def _constructor_attributes(self) -> None:
        """`Trainer(model, optimizer, lr_scheduler=scheduler)` with `self.lr_scheduler =
        lr_scheduler` in Trainer's `__init__`: the attribute holds what the file passed
        (a class of this file, built in this file)."""
        for cls in self.facts.collected.classes:
            init = cls.methods.get("__init__")
            if init is None:
                continue
            params = [p.name.value for p in init.params.params][1:]
            stored: dict[str, list[str]] = {}  # parameter -> the self attributes it is stored in
            for assign in self.facts.assigns_in(init):
                value = assign.node.value if not isinstance(assign.node, cst.AugAssign) else None
                if isinstance(value, cst.Name) and value.value in params:
                    for target in assign.targets:
                        name = dotted(target)
                        if name and name.startswith("self.") and name.count(".") == 1:
                            stored.setdefault(value.value, []).append(name)
            if not stored:
                continue
            for call in self.facts.collected.calls:
                if not isinstance(call.node.func, cst.Name) or call.node.func.value != cls.name:
                    continue
                passed = dict(zip(params, (a.value for a in call.node.args if a.keyword is None and not a.star)))
                passed.update({a.keyword.value: a.value for a in call.node.args if a.keyword is not None})
                for param, value in passed.items():
                    source = dotted(value)
                    for attribute in stored.get(param, ()) if source else ():
                        if source in self.schedulers:
                            self.schedulers.setdefault(attribute, replace(self.schedulers[source], name=attribute))
                        elif source in self.optimizers:
                            self.optimizers.setdefault(attribute, replace(self.optimizers[source], name=attribute))

    def _is_lr_write(self, targets: list[cst.BaseExpression]) -> bool:
        # param_group["lr"] = ..., optimizer.param_groups[0]["lr"] = ...
        for target in targets:
            if isinstance(target, cst.Subscript) and len(target.slice) == 1:
                index = target.slice[0].slice
                if isinstance(index, cst.Index) and string(index.value) in ("lr", "learning_rate"):
                    return True
        return False

    def _optimizer(self, name: str, qualname: str, call: cst.Call) -> Optimizer:
        lr_node = argument(call, "lr", 1)
        wd_node = keyword(call, "weight_decay")
        return Optimizer(name, qualname, call, number(lr_node), lr_node, number(wd_node), wd_node)

    # classification of names ---------------------------------------------------
    def is_optimizer(self, name: str | None) -> bool:
        if not name:
            return False
        if name in self.optimizers:
            return True
        if name in self.schedulers or name in self.models:
            return False
        return bool(_OPTIMIZER_NAME.search(last_name(name)))

    def is_scheduler(self, name: str | None) -> bool:
        if not name:
            return False
        if name in self.schedulers:
            return True
        if name in self.optimizers:
            return False
        return bool(_SCHEDULER_NAME.search(last_name(name)))

    def is_model(self, name: str | None) -> bool:
        if not name or name == "self":
            return False
        if name in self.models:
            return True
        if name in self.losses or name in self.optimizers or name in self.schedulers:
            return False
        if self.names.is_imported(name.split(".", 1)[0]):
            return False
        return names_a_model(name)

    def is_loss_call(self, call: cst.Call, callee: str | None) -> bool:
        if callee is None:
            return False
        if callee in self.losses:
            return True
        qualname = self.facts.qualname(call.func)
        if qualname in FUNCTIONAL_LOSSES:
            return True
        low = last_name(callee).lower()
        return "criterion" in low or low in ("loss_fn", "loss_func", "lossfn", "loss_function", "compute_loss") or (
            low.endswith("_loss") and not low.startswith(("get_", "log_", "print_", "plot_", "save_", "estimate_"))
        )

    # flows --------------------------------------------------------------------------
    def build(self) -> LoopFacts:
        reach = self._reaching_loops()
        flows: list[LoopEvents] = []
        module_flow = LoopEvents(root=None)
        module_needed = (
            any(l.function is None for l in self.facts.collected.loops) or any(id(f) in reach for f in self._callees_of(None))
        ) and (self._relevant(None) or any(id(f) in self._relevant_ids for f in self._callees_of(None)))
        if module_needed:
            _EventWalker(self, module_flow).walk_body(self.facts.module.body)
            flows.append(module_flow)
        for info in self.facts.collected.functions:
            if id(info.node) not in reach:
                continue
            flow = LoopEvents(root=info.node, decorated_no_grad=self.decorated_no_grad(info.node), per_batch=_per_batch(info))
            _EventWalker(self, flow).walk_function(info.node)
            flows.append(flow)
        for flow in flows:
            if flow.root is not None and id(flow.root) in self.inlined:
                flow.inlined = True
        return LoopFacts(
            flows, self.optimizers, self.schedulers, has_manual_lr=self.has_manual_lr, sets_lr=self.sets_lr, model_types=self.model_types
        )

    def decorated_no_grad(self, node: cst.FunctionDef) -> bool:
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if self.facts.qualname(expr) in GRAD_MODE:
                return True
        return False

    def resolve_helper(self, call: cst.Call, current: cst.FunctionDef | None) -> cst.FunctionDef | None:
        func = call.func
        if isinstance(func, cst.Name):
            scope = self.info_by_node.get(id(current)) if current is not None else None
            while scope is not None:
                nested = self.nested.get(id(scope.node), {}).get(func.value)
                if nested is not None:
                    return nested.node
                scope = scope.parent
            if self.names.is_imported(func.value):
                return None
            info = self.top_functions.get(func.value)
            return info.node if info is not None else None
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and current is not None
        ):
            info = self.info_by_node.get(id(current))
            if info is not None and info.cls is not None:
                return info.cls.methods.get(func.attr.value)
        if isinstance(func, cst.Attribute):
            # `trainer.train_step(batch)` on an instance of a class of this file; `Trainer.train_step(trainer, batch)`
            cls = self.classes.get(self.instances.get(dotted(func.value) or "", ""))
            if cls is None and isinstance(func.value, cst.Name) and not self.names.is_imported(func.value.value):
                cls = self.classes.get(func.value.value)
            if cls is not None:
                return cls.methods.get(func.attr.value)
        return None

    def _callees_of(self, function: cst.FunctionDef | None) -> list[cst.FunctionDef]:
        out = []
        for call in self.facts.calls_in(function):
            target = self.resolve_helper(call.node, function)
            if target is not None:
                out.append(target)
        return out

    def _reaching_loops(self) -> set[int]:
        """Functions that run a loop and do something for training (step, backward, toggle the
        model's mode, ...), themselves or through helpers of this file. A model's forward()
        looping over its blocks is not walked: that keeps model files cheap."""
        functions = self.facts.collected.functions
        edges = {id(info.node): [id(c) for c in self._callees_of(info.node)] for info in functions}
        loops = {id(l.function.node) for l in self.facts.collected.loops if l.function is not None}
        relevant = {id(info.node) for info in functions if self._relevant(info.node)}
        # Lightning runs `training_step` once per batch: the method is a loop's body; a
        # `test()`/`evaluate()` that puts the model in eval mode evaluates without a loop
        loops |= {
            id(info.node) for info in functions
            if (_per_batch(info) or is_evaluation_function(info.name)) and id(info.node) in relevant
        }
        for found in (loops, relevant):
            changed = True
            while changed:
                changed = False
                for caller, callees in edges.items():
                    if caller not in found and any(c in found for c in callees):
                        found.add(caller)
                        changed = True
        self._relevant_ids = relevant
        return loops & relevant

    def _relevant(self, function: cst.FunctionDef | None) -> bool:
        for call in self.facts.calls_in(function):
            func = call.node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _RELEVANT_ATTRS:
                return True
            if is_optimizer_class(call.qualname):
                return True
        return False


@dataclass
class _Context:
    loop: Loop | None = None
    guards: tuple[cst.CSTNode, ...] = ()
    no_grad: bool = False
    via: tuple[cst.Call, ...] = ()
    function: cst.FunctionDef | None = None
    renames: dict[str, str] = field(default_factory=dict)
    stack: tuple[int, ...] = ()  # helpers being inlined, against recursion
    #: helper parameters given a literal (`set_mode('eval', [encoder, decoder])`): decides the
    #: helper's `if mode == 'eval':` and unrolls its `for m in models:`
    literals: dict[str, cst.BaseExpression] = field(default_factory=dict)
    #: the call that named the objects of an unrolled loop: where to report its events
    site: cst.CSTNode | None = None

    def child(self, **changes) -> "_Context":
        values = dict(self.__dict__)
        values.update(changes)
        return _Context(**values)


class _EventWalker:
    def __init__(self, builder: _Builder, flow: LoopEvents) -> None:
        self.b = builder
        self.flow = flow

    # statements ----------------------------------------------------------------------
    def walk_function(self, node: cst.FunctionDef) -> None:
        ctx = _Context(function=node, no_grad=self.flow.decorated_no_grad)
        self._suite(node.body, ctx)

    def walk_body(self, body) -> None:
        self._statements(body, _Context())

    def _suite(self, suite: cst.BaseSuite, ctx: _Context) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self._statements(suite.body, ctx)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self._small(small, ctx)

    def _statements(self, body, ctx: _Context) -> None:
        for stmt in body:
            self._statement(stmt, ctx)

    def _statement(self, stmt: cst.CSTNode, ctx: _Context) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._small(small, ctx)
        elif isinstance(stmt, (cst.For, cst.While)):
            self._loop(stmt, ctx)
        elif isinstance(stmt, cst.If):
            self._expr(stmt.test, ctx)
            decided = _decide(stmt.test, ctx.literals)
            if decided is not None:  # `if mode == 'train':` with mode given as a literal
                if decided:
                    self._suite(stmt.body, ctx)
                elif isinstance(stmt.orelse, cst.If):
                    self._statement(stmt.orelse, ctx)
                elif isinstance(stmt.orelse, cst.Else):
                    self._suite(stmt.orelse.body, ctx)
                return
            self._suite(stmt.body, ctx.child(guards=ctx.guards + (stmt,)))
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                self._statement(orelse, ctx.child(guards=ctx.guards + (stmt,)))
            elif isinstance(orelse, cst.Else):
                self._suite(orelse.body, ctx.child(guards=ctx.guards + (orelse,)))
        elif isinstance(stmt, cst.With):
            no_grad = ctx.no_grad
            for item in stmt.items:
                self._expr(item.item, ctx)
                expr = item.item.func if isinstance(item.item, cst.Call) else item.item
                if self.b.facts.qualname(expr) in GRAD_MODE:
                    no_grad = True
            self._suite(stmt.body, ctx.child(no_grad=no_grad))
        elif isinstance(stmt, cst.Try) or type(stmt).__name__ == "TryStar":
            self._suite(stmt.body, ctx)
            for handler in stmt.handlers:
                self._suite(handler.body, ctx.child(guards=ctx.guards + (handler,)))
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, ctx)
            if stmt.finalbody is not None:
                self._suite(stmt.finalbody.body, ctx)
        elif isinstance(stmt, cst.Match):
            self._expr(stmt.subject, ctx)
            for case in stmt.cases:
                self._suite(case.body, ctx.child(guards=ctx.guards + (case,)))
        # FunctionDef / ClassDef: their own flows

    def _loop(self, node: cst.For | cst.While, ctx: _Context) -> None:
        objects = _literal_objects(node, ctx.literals)
        if objects is not None:
            # `for m in models:` over `[encoder, decoder]` given by the caller: once per object
            target = node.target.value
            for name in objects:
                renames = {**ctx.renames, target: self._rename(name, ctx)}
                self._suite(node.body, ctx.child(renames=renames, site=ctx.via[-1] if ctx.via else None))
            return
        if isinstance(node, cst.For):
            self._expr(node.iter, ctx)
        else:
            self._expr(node.test, ctx)
        loop = Loop(node, ctx.loop, ctx.via, ctx.no_grad, ctx.guards, ctx.function, ctx.renames)
        if isinstance(node, cst.For) and isinstance(node.iter, cst.Name):
            # `batches = tqdm(loader)` then `for x, y in batches:`: the loop goes over the loader
            loop.bound_iterable = next(
                (e.value for e in reversed(self.flow.events) if e.kind == EventKind.BIND and e.target == node.iter.value),
                None,
            )
        if ctx.loop is not None:
            ctx.loop.children.append(loop)
        self.flow.loops.append(loop)
        inner = ctx.child(loop=loop)
        self._suite(node.body, inner)
        if node.orelse is not None:
            self._suite(node.orelse.body, ctx)

    # small statements -------------------------------------------------------------------
    def _small(self, small: cst.BaseSmallStatement, ctx: _Context) -> None:
        if isinstance(small, cst.Expr):
            self._expr(small.value, ctx)
        elif isinstance(small, cst.Assign):
            self._expr(small.value, ctx)
            for target in small.targets:
                self._assign_target(target.target, small.value, small, ctx)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self._expr(small.value, ctx)
                self._assign_target(small.target, small.value, small, ctx)
        elif isinstance(small, cst.AugAssign):
            self._expr(small.value, ctx)
            name = dotted(small.target)
            if name is None and isinstance(small.target, cst.Subscript):
                name = cst.Module([]).code_for_node(small.target)  # stats[0] += loss
            if isinstance(small.operator, cst.AddAssign) and name is not None:
                self._emit(EventKind.ACCUMULATE, small, ctx, target=name, value=small.value)
        elif isinstance(small, cst.Return) and small.value is not None:
            self._expr(small.value, ctx)

    def _assign_target(self, target: cst.BaseExpression, value: cst.BaseExpression, stmt: cst.CSTNode, ctx: _Context) -> None:
        if isinstance(target, cst.Attribute) and target.attr.value == "grad" and is_none(value):
            self._emit(EventKind.ZERO_GRAD, stmt, ctx, target=dotted(target.value))
            return
        if self.b._is_lr_write([target]):
            self._emit(EventKind.LR_UPDATE, stmt, ctx)
            return
        name = dotted(target)
        if name is None:
            if isinstance(target, (cst.Tuple, cst.List)):
                for element in target.elements:
                    sub = dotted(element.value)
                    if sub is not None:
                        self._emit(EventKind.BIND, stmt, ctx, target=sub, value=None)
            return
        # total = total + loss
        if (
            isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, cst.Add)
            and dotted(value.left) == name
        ):
            self._emit(EventKind.ACCUMULATE, stmt, ctx, target=name, value=value.right)
        self._emit(EventKind.BIND, stmt, ctx, target=name, value=value)

    # expressions: calls in evaluation order ---------------------------------------------------
    def _expr(self, expr: cst.BaseExpression, ctx: _Context) -> None:
        # a helper's body is walked once per call site it is inlined at: its expressions'
        # calls are read once
        calls = self.b.expression_calls.get(id(expr))
        if calls is None:
            calls = self.b.expression_calls[id(expr)] = []
            _calls_post_order(expr, calls)
        for call in calls:
            self._call(call, ctx)

    def _rename(self, name: str | None, ctx: _Context) -> str | None:
        if name is None or not ctx.renames:
            return name
        head, sep, rest = name.partition(".")
        new = ctx.renames.get(head)
        if new is None:
            return name
        return new + sep + rest

    def _call(self, call: cst.Call, ctx: _Context) -> None:
        b = self.b
        func = call.func
        read = b.call_reads.get(id(call))
        if read is None:
            # what the call's own text says, the same at every site a helper is inlined at
            read = b.call_reads[id(call)] = (
                dotted(func),
                func.attr.value if isinstance(func, cst.Attribute) else None,
                dotted(func.value) if isinstance(func, cst.Attribute) else None,
                b.facts.qualname(func),
                positional_values(call),
                b.resolve_helper(call, ctx.function),
            )
        callee, attr, receiver, qualname, positional, helper = read
        # helpers of this file are followed
        if (
            helper is not None
            and id(helper) not in ctx.stack
            and id(helper) != id(self.flow.root)
            and len(ctx.via) < _MAX_INLINE_DEPTH
        ):
            self._inline(call, helper, ctx)
            return
        if attr == "backward":
            if receiver is not None and b.names.is_imported(receiver.split(".", 1)[0]):
                # torch.autograd.backward(loss); dist_autograd.backward(ctx, [loss]) keeps its gradients apart
                if qualname == "torch.autograd.backward" and positional:
                    self._emit(EventKind.BACKWARD, call, ctx, value=positional[0])
                return
            if positional and not _is_tensor_expr(func.value, b):
                # accelerator.backward(loss), fabric.backward(loss), self.manual_backward
                self._emit(EventKind.BACKWARD, call, ctx, target=self._rename(receiver, ctx), value=positional[0])
                return
            loss = func.value
            inner = loss
            if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.func.attr.value == "scale" and inner.args:
                loss = inner.args[0].value
            self._emit(EventKind.BACKWARD, call, ctx, value=loss)
            return
        if attr == "manual_backward" and positional:
            self._emit(EventKind.BACKWARD, call, ctx, value=positional[0])
            return
        if attr == "zero_grad" or (attr == "zero_" and receiver is not None and receiver.endswith((".grad", ".grad.data"))):
            target = receiver if attr == "zero_grad" else receiver.rsplit(".grad", 1)[0]
            self._emit(EventKind.ZERO_GRAD, call, ctx, target=self._rename(target, ctx))
            return
        if isinstance(func, cst.Name) and func.value == "zero_grad":
            # an imported helper that clears a parameter list: `zero_grad(self.model_params)`
            # (improved-diffusion's fp16_util); one of this file is followed above
            self._emit(EventKind.ZERO_GRAD, call, ctx, target=self._rename(dotted(positional[0]) if positional else None, ctx))
            return
        if (attr in CLIP_NAMES) or last_name(qualname) in CLIP_NAMES:
            self._emit(EventKind.CLIP, call, ctx, target=self._rename(receiver, ctx))
            return
        if attr == "unscale_":
            self._emit(EventKind.UNSCALE, call, ctx, target=self._rename(dotted(positional[0]) if positional else None, ctx))
            return
        if attr == "step":
            name = self._rename(receiver, ctx)
            if receiver is not None and (receiver in b.scalers or _SCALER_NAME.search(last_name(receiver))):
                if positional:
                    self._emit(EventKind.STEP, call, ctx, target=self._rename(dotted(positional[0]), ctx))
                return
            if b.is_scheduler(receiver) or b.is_scheduler(name):
                self._emit(EventKind.SCHED_STEP, call, ctx, target=name)
                return
            if b.is_optimizer(receiver) or b.is_optimizer(name):
                self._emit(EventKind.STEP, call, ctx, target=name)
            return
        if attr == "step_update" and receiver is not None:
            self._emit(EventKind.SCHED_STEP, call, ctx, target=self._rename(receiver, ctx))
            return
        given = self._optimizer_given_to_trainer(call, callee)
        if given is not None:
            self._emit(EventKind.TRAINS_ELSEWHERE, call, ctx, target=self._rename(given, ctx))
            return
        if attr in ("train", "eval") and receiver is not None and "trainer" not in receiver.lower():
            if attr == "eval" and not call.args:
                self._emit(EventKind.EVAL, call, ctx, target=self._rename(receiver, ctx))
            elif attr == "train":
                mode = positional[0] if positional else keyword(call, "mode")
                if is_false(mode):
                    self._emit(EventKind.EVAL, call, ctx, target=self._rename(receiver, ctx))
                elif mode is None or boolean(mode) is True:
                    self._emit(EventKind.TRAIN, call, ctx, target=self._rename(receiver, ctx))
                else:
                    # model.train(is_training): either
                    self._emit(EventKind.TRAIN, call, ctx, target=self._rename(receiver, ctx), value=mode)
            return
        if is_optimizer_class(qualname):
            self._emit(EventKind.OPTIMIZER_BUILT, call, ctx)
            return
        if callee is not None and _LR_HELPER.search(last_name(callee)):
            self._emit(EventKind.LR_UPDATE, call, ctx)
            return
        if b.is_loss_call(call, callee):
            self._emit(EventKind.LOSS, call, ctx, target=self._rename(callee, ctx))
            return
        if attr == "append" and positional:
            self._emit(EventKind.ACCUMULATE, call, ctx, target=self._rename(receiver, ctx), value=positional[0])
            return
        if qualname and b.facts.is_module_class(qualname) and not _is_loss_class(qualname):
            self._emit(EventKind.MODEL_BUILT, call, ctx)
            return
        if callee is not None and b.is_model(callee) and not _is_loss_class(qualname):
            self._emit(EventKind.FORWARD, call, ctx, target=self._rename(callee, ctx))
            return
        if attr == "forward" and b.is_model(receiver):  # model.forward(x): a forward pass all the same
            self._emit(EventKind.FORWARD, call, ctx, target=self._rename(receiver, ctx))
            return

    def _optimizer_given_to_trainer(self, call: cst.Call, callee: str | None) -> str | None:
        """`tnt.train(model=net, optimizer=joint_optimizer)`: an imported training function (its
        name says it trains) given an optimizer this file builds; the optimizer's name."""
        if callee is None or not self.b.names.is_imported(callee.split(".", 1)[0]):
            return None
        if not _TRAINING_FUNCTION.search(last_name(callee)):
            return None
        for arg in call.args:
            name = dotted(arg.value)
            if name is not None and name in self.b.optimizers:
                return name
        return None

    def _inline(self, call: cst.Call, helper: cst.FunctionDef, ctx: _Context) -> None:
        self.b.inlined.add(id(helper))
        renames: dict[str, str] = {}
        params = [p for p in helper.params.params]
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        on_class = isinstance(receiver, cst.Name) and receiver.value in self.b.classes and receiver.value not in self.b.instances
        offset = 1 if (params and params[0].name.value == "self" and receiver is not None and not on_class) else 0
        positional = [a for a in call.args if a.keyword is None and not a.star]
        literals: dict[str, cst.BaseExpression] = {}
        for param, arg in zip(params[offset:], positional):
            name = self._rename(dotted(arg.value), ctx)
            if name is not None:
                renames[param.name.value] = name
            elif isinstance(arg.value, (cst.SimpleString, cst.List, cst.Tuple)):
                literals[param.name.value] = arg.value
        for arg in call.args:
            if arg.keyword is not None:
                name = self._rename(dotted(arg.value), ctx)
                if name is not None:
                    renames[arg.keyword.value] = name
                elif isinstance(arg.value, (cst.SimpleString, cst.List, cst.Tuple)):
                    literals[arg.keyword.value] = arg.value
        for param in params[offset:]:
            renames.setdefault(param.name.value, param.name.value)
        if offset or on_class:
            # a method of this file's class: `self.x` inside keeps its name (reports name what the
            # line shows); on `self` it is the caller's own object, renamed as the caller's is
            owner = dotted(receiver)
            renames["self"] = ctx.renames.get("self", "self") if owner == "self" else "self"
        no_grad = ctx.no_grad or self.b.decorated_no_grad(helper)
        inner = ctx.child(
            via=ctx.via + (call,), function=helper, renames=renames, no_grad=no_grad, stack=ctx.stack + (id(helper),),
            literals=literals,
        )
        self._suite(helper.body, inner)

    def _emit(self, kind: EventKind, node: cst.CSTNode, ctx: _Context, target: str | None = None, value=None) -> None:
        loops: list[Loop] = []
        loop = ctx.loop
        while loop is not None:
            loops.append(loop)
            loop = loop.parent
        loops.reverse()
        event = Event(
            kind, node, target, value, tuple(loops), ctx.guards, ctx.no_grad, ctx.via, ctx.function, len(self.flow.events),
            site=ctx.site,
        )
        self.flow.events.append(event)
        for loop in loops:
            loop.events.append(event)


def _decide(test: cst.BaseExpression, literals: dict[str, cst.BaseExpression]) -> bool | None:
    """`mode == 'eval'` / `mode != 'eval'` with `mode` a literal of the call being inlined;
    `if 0:` / `if False:` / `if 1:` anywhere."""
    constant = constant_truth(test)
    if constant is not None:
        return constant
    if not literals or not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    comparison = test.comparisons[0]
    sides = (test.left, comparison.comparator)
    names = [s.value for s in sides if isinstance(s, cst.Name) and s.value in literals]
    texts = [string(s) for s in sides if isinstance(s, cst.SimpleString)]
    if len(names) != 1 or len(texts) != 1 or texts[0] is None:
        return None
    given = string(literals[names[0]]) if isinstance(literals[names[0]], cst.SimpleString) else None
    if given is None:
        return None
    if isinstance(comparison.operator, cst.Equal):
        return given == texts[0]
    if isinstance(comparison.operator, cst.NotEqual):
        return given != texts[0]
    return None


def _literal_objects(node: cst.For | cst.While, literals: dict[str, cst.BaseExpression]) -> list[str] | None:
    """The names a helper's `for m in models:` goes through when the caller passed
    `models` as a list of names (`[pg, ee, baseline]`); None otherwise."""
    if not literals or not isinstance(node, cst.For) or not isinstance(node.target, cst.Name):
        return None
    if not isinstance(node.iter, cst.Name) or not isinstance(literals.get(node.iter.value), (cst.List, cst.Tuple)):
        return None
    names = [dotted(e.value) for e in literals[node.iter.value].elements]
    return None if any(n is None for n in names) or node.orelse is not None else names


# leaves and nodes that hold no call evaluated in the loop's iteration
_NO_CALLS = frozenset({cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Lambda})


def _calls_post_order(node: cst.CSTNode, out: list[cst.Call]) -> None:
    """The calls inside an expression in evaluation order (arguments before the call)."""
    for child in children(node):
        if type(child) not in _NO_CALLS:
            _calls_post_order(child, out)
    if type(node) is cst.Call:
        out.append(node)


def _is_tensor_expr(node: cst.BaseExpression, builder: _Builder) -> bool:
    """`loss.backward(gradient)` vs `accelerator.backward(loss)`: is the receiver a tensor?"""
    name = dotted(node)
    if name is None:
        return True  # (a + b).backward(g), out.sum().backward(...)
    low = last_name(name).lower()
    return not any(k in low for k in ("accelerator", "fabric", "engine", "scaler", "trainer", "runner", "manager", "strategy", "model"))


def build_loop_facts(facts: "FileFacts") -> LoopFacts:
    return _Builder(facts).build()


__all__ = ["build_loop_facts"]
