import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import EventKind, FileFacts, dotted, is_none
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, FixProposal, Good, Importer, Replacement, Report, Rule

_NOT_A_MODEL = re.compile(r"optim|sched|scaler|opt$|^opt|loader|sampler|dataset|(^|_)dl$", re.I)
_SAVES = re.compile(r"save|dump|write|upload|log", re.I)


class StateDictAliasCheckpoint(Rule):
    """
    ## What it does
    Finds `best = model.state_dict()` inside the training loop, kept in memory as the
    best weights so far, without `copy.deepcopy`. A state dict written straight to disk
    (`torch.save(model.state_dict(), path)`) is fine and not reported.

    ## Why is this bad?
    `state_dict()` returns references to the live parameter tensors, not a copy. Every
    later optimizer step changes the "best" weights too, so restoring them at the end
    restores the last weights: early stopping and best-model selection silently do
    nothing.

    ## How to fix
    Copy the tensors: `best = copy.deepcopy(model.state_dict())` (or
    `{k: v.detach().clone() for k, v in model.state_dict().items()}`).

    ## Fix safety
    The fix wraps the call in `copy.deepcopy(...)` and adds `import copy` when needed.
    """

    code = "TL505"
    name = "state-dict-alias-checkpoint"
    severity = Severity.WARNING
    summary = "the 'best' state_dict kept in memory aliases the live weights"
    fix_applicability = Applicability.SAFE

    bad = [
        Bad(
            """
            import torch

            best_acc, best_state = 0.0, None
            for epoch in range(epochs):
                train(model, train_loader, optimizer)
                acc = evaluate(model, val_loader)
                if acc > best_acc:
                    best_acc = acc
                    best_state = model.state_dict()
            model.load_state_dict(best_state)
            """,
            9,
            fixed="""
            import copy
            import torch

            best_acc, best_state = 0.0, None
            for epoch in range(epochs):
                train(model, train_loader, optimizer)
                acc = evaluate(model, val_loader)
                if acc > best_acc:
                    best_acc = acc
                    best_state = copy.deepcopy(model.state_dict())
            model.load_state_dict(best_state)
            """,
        ),
        Bad(
            """
            import copy

            class EarlyStopping:
                def step(self, model, val_loss):
                    if val_loss < self.best:
                        self.best = val_loss
                        self.best_weights = model.state_dict()

            def fit(model, stopper):
                for epoch in range(100):
                    stopper.step(model, train_and_validate(model))
            """,
            7,
            fixed="""
            import copy

            class EarlyStopping:
                def step(self, model, val_loss):
                    if val_loss < self.best:
                        self.best = val_loss
                        self.best_weights = copy.deepcopy(model.state_dict())

            def fit(model, stopper):
                for epoch in range(100):
                    stopper.step(model, train_and_validate(model))
            """,
        ),
        Bad(
            """
            import torch


            class Config:
                def save_best_checkpoint(self, best_model):
                    torch.save(best_model, self.result_path)

                def train(self):
                    best_hit10, best_model = 0.0, None
                    for epoch in range(self.train_times):
                        for batch in range(self.nbatches):
                            self.optimizer.zero_grad()
                            self.trainModel().backward()
                            self.optimizer.step()
                        hit10 = self.valid(self.trainModel)
                        if hit10 > best_hit10:
                            best_hit10 = hit10
                            best_model = self.trainModel.state_dict()
                    self.save_best_checkpoint(best_model)
            """,
            18,
            fixed="""
            import copy
            import torch


            class Config:
                def save_best_checkpoint(self, best_model):
                    torch.save(best_model, self.result_path)

                def train(self):
                    best_hit10, best_model = 0.0, None
                    for epoch in range(self.train_times):
                        for batch in range(self.nbatches):
                            self.optimizer.zero_grad()
                            self.trainModel().backward()
                            self.optimizer.step()
                        hit10 = self.valid(self.trainModel)
                        if hit10 > best_hit10:
                            best_hit10 = hit10
                            best_model = copy.deepcopy(self.trainModel.state_dict())
                    self.save_best_checkpoint(best_model)
            """,
            note="saved once training ends: the file holds the last epoch's weights",
        ),
    ]
    good = [
        Good(
            """
            class Trainer:
                def fit(self, loader, epochs):
                    best_loss = float("inf")
                    for epoch in range(epochs):
                        for x, y in loader:
                            self.optimizer.zero_grad()
                            self.model(x, y).backward()
                            self.optimizer.step()
                            self.warmup.step()
                        val = self.evaluate()
                        if val < best_loss:
                            for name in ("warmup", "sampler"):
                                obj = getattr(self, name)
                                state = obj.state_dict()
                                self.best_states[name] = state
            """,
            note="a loop over attribute names collecting the schedule's and sampler's positions",
        ),
        Good(
            """
            import torch

            lr_policy = torch.optim.lr_scheduler.StepLR(optimizer, 10)
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
                if epoch % 5 == 0:
                    snapshot = lr_policy.state_dict()
            """,
            note="a scheduler's state, whatever its name: no weights in it",
        ),
        Good(
            """
            import copy

            for epoch in range(num_epochs):
                epoch_acc = run_epoch(model)
                if epoch_acc > best_acc:
                    best_acc = epoch_acc
                    best_model_wts = copy.deepcopy(model.state_dict())
            """,
            note="the transfer-learning tutorial",
        ),
        Good(
            """
            import torch

            for epoch in range(epochs):
                val_loss = run_epoch(model)
                if val_loss < best_val_loss:
                    best_val_loss = val_loss
                    state = model.state_dict()
                    torch.save(state, "best.pt")
            """
        ),
        Good(
            """
            for epoch in range(epochs):
                checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
                torch.save(checkpoint, path)
                opt_state = optimizer.state_dict()
            """
        ),
        Good(
            """
            import torch

            def save_lora_checkpoint(fabric, model, file_path):
                cpu_state_dict = {}
                sharded_sd = model.state_dict()
                for param_name, param in sharded_sd.items():
                    if "lora_" not in param_name:
                        continue
                    cpu_state_dict[param_name] = param.cpu()
                if fabric.is_global_zero:
                    torch.save({"model": cpu_state_dict}, file_path)

            def fit(fabric, model, optimizer, train_dataloader, out_dir):
                for iter_num, batch in enumerate(train_dataloader):
                    loss = model(batch).loss
                    fabric.backward(loss)
                    optimizer.step()
                    optimizer.zero_grad()
                    if iter_num % 1000 == 0:
                        save_lora_checkpoint(fabric, model, out_dir / "lit_model.pth.lora")
            """,
            note="litgpt finetune/lora.py: a local of a save helper, gone when it returns",
        ),
        Good(
            """
            from torch.nn import Module
            from torch.optim import Optimizer

            def _get_state_dict(state, options, rank):
                converted_state = {}
                metadata = {}
                for key, obj in state.items():
                    if isinstance(obj, Module):
                        converted = get_model_state_dict(obj, options, rank)
                        target_dict = converted_state
                    elif isinstance(obj, Optimizer):
                        converted = obj.state_dict()
                        target_dict = converted_state
                    else:
                        converted = obj
                        target_dict = metadata
                    target_dict[key] = converted
                return converted_state, metadata

            class Strategy:
                def save_checkpoint(self, path, state):
                    converted_state, metadata = _get_state_dict(state, self.options, self.local_rank)
                    save(converted_state, path)
            """,
            note="litgpt thunder_fsdp.py: one state dict per object of a checkpoint being assembled",
        ),
        Good(
            """
            import torch

            def check_stateful_dataloader(accelerator, prepared_dl):
                untrained_batches = []
                save_step = 2
                for step, batch in enumerate(prepared_dl):
                    if step == save_step:
                        state_dict = prepared_dl.state_dict()
                    if step > save_step:
                        untrained_batches.append(batch)
                prepared_dl.load_state_dict(state_dict)
                assert list(prepared_dl) == untrained_batches
            """,
            note="accelerate test_distributed_data_loop.py: a data loader's position, not weights",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        candidates: dict[int, tuple[str, cst.Call, cst.FunctionDef | None, cst.CSTNode | None]] = {}
        # in a training loop, under a condition (best-so-far tracking)
        for flow in facts.loops.flows:
            for event in flow.events:
                if (
                    event.kind == EventKind.BIND and event.loops and len(event.guards) > len(event.loops[0].guards)
                    and event.target and _is_state_dict_call(event.value)
                ):  # a condition inside the loop (`if __name__ == "__main__":` around it is none)
                    if _owner_is_loop_variable(flow, event) or _dies_in_helper(event) or _not_weights(facts, event.value):
                        continue
                    loop = event.loops[-1]
                    candidates[id(event.value)] = (
                        event.target, event.value, event.function, loop.node if loop.function is event.function else None,
                    )
        # anywhere, when the name says it is kept as the best weights
        for assign in facts.assigns:
            node = assign.node
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and _is_state_dict_call(node.value):
                target = dotted(node.targets[0].target)
                if target and "best" in target.lower():
                    candidates.setdefault(
                        id(node.value),
                        (target, node.value, assign.function.node if assign.function else None, assign.loops[-1] if assign.loops else None),
                    )
        importer = None
        for target, call, function, loop in candidates.values():
            if _saved(facts, function, target, loop):
                continue
            importer = importer or Importer(facts.source, facts.module)
            yield self.report(
                call,
                f"`{target}` holds references to the live weights, not a copy: later steps change it too; "
                "use `copy.deepcopy(...)`",
                fix=self._deepcopy(facts, importer, call),
            )

    def _deepcopy(self, facts: FileFacts, importer: Importer, call: cst.Call) -> FixProposal | None:
        """`copy.deepcopy(...)` around the call, spelled with a binding of copy the file has (or an
        `import copy` added when the name is free); no fix when neither is safe."""
        reference = importer.reference("copy.deepcopy", call)
        if reference is None:
            return None
        return self.fix("Copy the state dict with copy.deepcopy",
                        Replacement(call, f"{reference.text}({facts.code(call)})"),
                        *(Replacement(node, text) for node, text in reference.inserts),
                        names=reference.names)


def _is_state_dict_call(value) -> bool:
    if not isinstance(value, cst.Call) or value.args or not isinstance(value.func, cst.Attribute):
        return False
    if value.func.attr.value != "state_dict":
        return False
    owner = dotted(value.func.value)
    return owner is not None and not _NOT_A_MODEL.search(owner.rsplit(".", 1)[-1])


def _owner_is_loop_variable(flow, event) -> bool:
    """`for key, obj in state.items(): converted = obj.state_dict()`: each iteration converts
    another object (a checkpoint being assembled), not the same model's weights kept across steps.
    So does `for name in self.names: obj = getattr(self, name)`, the owner bound from the loop variable."""
    owner = dotted(event.value.func.value) or ""
    root = owner.split(".", 1)[0]
    loops = [loop for loop in event.loops if not loop.is_training]
    if any(root in loop.target_names for loop in loops):
        return True
    bound = flow.value_of(root, event)
    if bound is None:
        return False
    used = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            used.add(node.value)

    bound.visit(_Names())
    return any(used & set(loop.target_names) for loop in loops)


def _not_weights(facts: FileFacts, call: cst.Call) -> bool:
    """The owner is known as an optimizer or scheduler of this file, whatever its name."""
    owner = dotted(call.func.value)
    return owner is not None and (owner in facts.loops.optimizers or owner in facts.loops.schedulers)


def _dies_in_helper(event) -> bool:
    """A plain local of a helper that the loop calls, only read there (`sd.items()`, `sd[k]`),
    in a helper that returns nothing and stores nothing on an object: the reference ends when
    the helper returns, nothing is kept across steps
    (`def save_lora_checkpoint(...): sd = model.state_dict(); for k, v in sd.items(): ...`)."""
    function, target = event.function, event.target
    if function is None or "." in target or any(loop.function is function for loop in event.loops):
        return False
    visitor = _Reads(target)
    function.visit(visitor)
    return visitor.bound and not visitor.escapes


class _Reads(cst.CSTVisitor):
    """Whether `name` is used only through `name.items()/keys()/values()` and `name[...]`, in
    code that returns no value and assigns no attribute."""

    _READERS = frozenset({"items", "keys", "values"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.allowed: set[int] = set()
        self.bound = False
        self.escapes = False

    def _is_name(self, node) -> bool:
        return isinstance(node, cst.Name) and node.value == self.name

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if self._is_name(node.target):
            self.allowed.add(id(node.target))
            self.bound = True
        stored = node.target
        while isinstance(stored, cst.Subscript):
            stored = stored.value
        if isinstance(stored, cst.Attribute):
            self.escapes = True  # self.best = ..., self.weights[k] = ...

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self._is_name(node.value) and node.attr.value in self._READERS:
            self.allowed.add(id(node.value))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if self._is_name(node.value):
            self.allowed.add(id(node.value))

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None and not is_none(node.value):
            self.escapes = True

    def visit_Yield(self, node: cst.Yield) -> None:
        self.escapes = True

    def visit_Global(self, node: cst.Global) -> None:
        if any(n.name.value == self.name for n in node.names):
            self.escapes = True

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.visit_Global(node)  # type: ignore[arg-type]

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name and id(node) not in self.allowed:
            self.escapes = True


def _saved(facts: FileFacts, function: cst.FunctionDef | None, target: str, loop: cst.CSTNode | None) -> bool:
    """The state dict goes to disk (or a logger) in the same function: a snapshot, not an alias.
    Bound in a loop, it must be saved in that loop's iteration: saved after the loop
    (`self.save_best_checkpoint(best_model)` once training ends), it holds the last weights."""
    for info in facts.calls_in(function):
        callee = dotted(info.node.func) or ""
        if loop is not None and not any(l is loop for l in info.loops):
            continue
        if _SAVES.search(callee.rsplit(".", 1)[-1]) and any(dotted(a.value) == target for a in info.node.args):
            return True
    # packed into a checkpoint dict that is saved: {"model": state, ...}
    if loop is not None:
        code = facts.code(loop)
    else:
        code = facts.code(function) if function is not None else facts.source
    return re.search(r":\s*" + re.escape(target) + r"\s*[,}]", code) is not None
