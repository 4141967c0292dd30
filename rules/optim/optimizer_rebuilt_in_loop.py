import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import EventKind, FileFacts, Loop, is_periodic
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

# Loops over epochs or steps; a loop over configurations, folds or runs rebuilds on purpose.
_STEP_LOOP = re.compile(r"^(epoch|ep|e|step|steps|it|iter|iteration|i|batch|batch_idx|global_step|_)$|epoch", re.I)


class OptimizerRebuiltInLoop(Rule):
    """
    ## What it does
    Finds an optimizer constructed inside the epoch or step loop that it then steps,
    typically to change the learning rate:
    `for epoch in ...: optimizer = SGD(model.parameters(), lr=lr_at(epoch))`.
    A rebuild every k epochs (`if epoch % k == 0:`) loses the state all the same; so
    does a function that trains one epoch (`train_epoch(...)`) and builds its optimizer
    in a local name on each call. Loops that also build a new model (hyperparameter
    sweeps, cross-validation folds), loops whose every iteration runs a whole training
    (the optimizer is stepped only inside an epoch loop of its own: repeated timed runs,
    a list of models trained one after the other) and a rebuild under a one-time
    condition (unfreezing the backbone at a given epoch) are not reported.

    ## Why is this bad?
    A new optimizer starts with empty state: SGD's momentum buffers and Adam's moment
    estimates are thrown away every epoch, so Adam restarts its bias-corrected warm-up
    with full-size steps each time, and momentum never builds up (seed 002 §2).

    ## How to fix
    Build the optimizer once before the loop and change the learning rate with a
    scheduler from `torch.optim.lr_scheduler` or by writing
    `for g in optimizer.param_groups: g["lr"] = new_lr`.
    """

    code = "TL411"
    name = "optimizer-rebuilt-in-loop"
    severity = Severity.WARNING
    summary = "an optimizer constructed inside the training loop: its state resets every time"
    seeds = ("002 §2",)

    bad = [
        Bad(
            """
            import torch

            for epoch in range(epochs):
                lr = base_lr * (0.1 ** (epoch // 30))
                optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            5,
        ),
        Bad(
            """
            from torch.optim import Adam

            def train(model, loader, epochs):
                for epoch in range(epochs):
                    opt = Adam(model.parameters(), lr=1e-3 / (1 + epoch))
                    for x, y in loader:
                        opt.zero_grad()
                        model.loss(x, y).backward()
                        opt.step()
            """,
            5,
        ),
        Bad(
            """
            import torch

            lr = 0.01
            for epoch in range(epochs):
                if epoch % decay_every == 0:
                    lr *= 0.5
                    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            7,
            note="rebuilt every k epochs to lower the LR: the Adam state is lost each time",
        ),
        Bad(
            """
            import torch.optim as optim

            def train_epoch(model, tasks, lr=5e-5, opt=None):
                if opt is None:
                    opt = optim.Adam(model.parameters(), lr=lr)
                losses = []
                for task in tasks:
                    opt.zero_grad()
                    loss = model.loss_fn(task)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                return losses
            """,
            5,
            note="a library's one-epoch function: the user's epoch loop calls it with no optimizer",
        ),
    ]
    good = [
        Good(
            """
            import torch

            def train_epoch(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            def fit(model, loader, epochs):
                optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                for epoch in range(epochs):
                    train_epoch(model, loader, optimizer)
            """,
            note="the one-epoch function is given the optimizer built once",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for epoch in range(epochs):
                for g in optimizer.param_groups:
                    g["lr"] = 0.1 * (0.1 ** (epoch // 30))
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """
        ),
        Good(
            """
            import torch

            for lr in [1e-2, 1e-3, 1e-4]:
                model = Net()
                optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                for epoch in range(10):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()
            """,
            note="a learning-rate sweep builds a fresh model each time",
        ),
        Good(
            """
            import torch

            for epoch in range(epochs):
                if epoch == unfreeze_epoch:
                    for p in model.backbone.parameters():
                        p.requires_grad = True
                    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            note="rebuilt once, when the backbone is unfrozen",
        ),
        Good(
            """
            import torch

            def train(model, loader, epochs, lr=1e-3):
                optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()

            results = []
            for i in range(num_runs):
                results.append(train(compiled_model, train_loader, epochs=5))
            """,
            filename="benchmark.ipynb",
            note="each iteration is a whole training run, timed (a pytorch-deep-learning notebook)",
        ),
        Good(
            """
            import torch

            def loss_after_training(model, train_loader, n_epochs=2):
                optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
                for epoch in range(1, n_epochs + 1):
                    for data, target in train_loader:
                        optimizer.zero_grad()
                        criterion(model(data), target).backward()
                        optimizer.step()
                return criterion(model(data), target).item()

            def compare_init_weights(model_list, train_loader):
                for i, (net, label) in enumerate(model_list):
                    print(label, loss_after_training(net, train_loader))
            """,
            note="one model per iteration, each trained with its own optimizer (deep-learning-v2-pytorch's helpers)",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        seen: set[int] = set()
        for flow in facts.loops.root_flows:
            for event in flow.events:
                if event.kind != EventKind.OPTIMIZER_BUILT or id(event.node) in seen:
                    continue
                if not event.loops:
                    if _built_per_epoch_call(flow, event):
                        seen.add(id(event.node))
                        yield self.report(
                            event.node,
                            f"`{flow.root.name.value}()` trains one epoch and builds the optimizer on each call: "
                            "its momentum/Adam state restarts every epoch; build it once outside and pass it in",
                            first_line_only=True,
                        )
                    continue
                loop = event.loop
                if not _is_step_loop(loop) or any(not is_periodic(g) for g in event.guards[len(loop.guards) :]):
                    continue
                if not any(e.kind == EventKind.STEP for e in loop.events):
                    continue
                if any(e.kind == EventKind.MODEL_BUILT or (e.kind == EventKind.BIND and _is_model_bind(facts, e)) for e in loop.events):
                    continue
                if _runs_whole_trainings(loop, event):
                    continue
                seen.add(id(event.node))
                every = "in every iteration" if len(event.guards) == len(loop.guards) else "every few iterations"
                yield self.report(
                    event.node,
                    f"the optimizer is rebuilt {every} of this loop: its momentum/Adam state restarts "
                    "each time; build it once and change the LR with a scheduler or `param_groups`",
                    first_line_only=True,
                )


def _built_per_epoch_call(flow, event) -> bool:
    """`def train_epoch(model, tasks, opt=None): ... opt = Adam(...)`, then the batch loop: a
    function that trains one epoch and keeps its optimizer in a local name builds a fresh
    one on every call (its caller's epoch loop may be in no file of the project)."""
    root = flow.root
    if root is None or event.function is not root or "epoch" not in root.name.value.lower() or "epochs" in root.name.value.lower():
        return False
    bind = next((e for e in flow.events[event.index + 1 :] if e.kind == EventKind.BIND and e.value is event.node), None)
    if bind is None or not bind.target or "." in bind.target or _declared_global(root, bind.target):
        return False
    return any(e.kind == EventKind.STEP and e.loops for e in flow.events[event.index + 1 :])


def _declared_global(function: cst.FunctionDef, name: str) -> bool:
    found = []

    class _Declarations(cst.CSTVisitor):
        def visit_Global(self, node: cst.Global) -> None:
            found.extend(n.name.value for n in node.names)

        def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
            found.extend(n.name.value for n in node.names)

    function.visit(_Declarations())
    return name in found


def _runs_whole_trainings(loop: Loop, built) -> bool:
    """Each iteration runs a whole training (`for run in range(n): fit(model, epochs)`): the
    optimizer is stepped only inside an epoch loop nested in this one, so every run starts
    with a fresh optimizer, as it should (a loop over runs or over a list of models)."""
    steps = [e for e in loop.events if e.kind == EventKind.STEP and e.index > built.index]
    if not steps:
        return False
    return all(any(_is_epoch_loop(inner) for inner in e.loops[len(built.loops):]) for e in steps)


def _is_epoch_loop(loop: Loop) -> bool:
    return any("epoch" in name.lower() for name in loop.target_names) or "epoch" in loop.iterable_names


def _is_step_loop(loop: Loop) -> bool:
    if any(_STEP_LOOP.search(name) for name in loop.target_names):
        return True
    return "loader" in loop.iterable_names or "epoch" in loop.iterable_names


def _is_model_bind(facts: FileFacts, event) -> bool:
    target = (event.target or "").rsplit(".", 1)[-1].lower()
    return "model" in target or "net" in target
