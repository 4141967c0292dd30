from collections.abc import Iterator

from trainlint.facts import EventKind, FileFacts, SchedulerKind
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class SchedulerStepBeforeOptimizerStep(Rule):
    """
    ## What it does
    Finds `scheduler.step()` called before `optimizer.step()` in the same loop
    iteration: in the batch loop, or at the top of the epoch loop before the epoch's
    training steps, including an imported training function given the optimizer
    (`tnt.train(model, optimizer=opt)`). An `if` that only tests that the scheduler exists
    (`if scheduler:`) or that guards both steps alike does not change their order; steps in
    another arm of the same `if`/`else` do not count.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first
    skips the schedule's first value: training starts at the second learning rate, and
    every milestone comes one step early (seed 002 §2). PyTorch only warns once, at the
    first call.

    ## How to fix
    Move `scheduler.step()` after `optimizer.step()`: at the end of the iteration for
    per-batch schedules, after the epoch's training for per-epoch ones.
    """

    code = "TL406"
    name = "scheduler-step-before-optimizer-step"
    severity = Severity.WARNING
    summary = "scheduler.step() before optimizer.step(): the first LR value is skipped"
    seeds = ("002 §2",)

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10000)
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                scheduler.step()
                optimizer.step()
            """,
            9,
        ),
        Bad(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60], gamma=0.1)
            for epoch in range(90):
                scheduler.step()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            5,
        ),
        Bad(
            """
            def train(cnn, train_loader, optimizer, scheduler=None, epochs=100):
                for epoch in range(1, epochs + 1):
                    cnn.train()
                    if scheduler:
                        scheduler.step()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss = combined_loss(cnn(x), y)
                        loss.backward()
                        optimizer.step()
            """,
            5,
            note="an optional scheduler: testing that it exists does not change the order",
        ),
        Bad(
            """
            for i, (x, y) in enumerate(train_loader):
                loss = criterion(model(x), y) / accum
                loss.backward()
                if (i + 1) % accum == 0:
                    lr_scheduler.step()
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            5,
            note="one `if` guards both steps alike",
        ),
        Bad(
            """
            import torch
            import train_and_test as tnt

            joint_optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            joint_lr_scheduler = torch.optim.lr_scheduler.StepLR(joint_optimizer, step_size=5)
            for epoch in range(num_train_epochs):
                if epoch < num_warm_epochs:
                    tnt.train(model=model, dataloader=train_loader, optimizer=warm_optimizer)
                else:
                    joint_lr_scheduler.step()
                    tnt.train(model=model, dataloader=train_loader, optimizer=joint_optimizer)
            """,
            10,
            note="the optimizer steps in a training function of another module",
        ),
    ]
    good = [
        Good(
            """
            for epoch in range(90):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                scheduler.step()
            """
        ),
        Good(
            """
            for epoch in range(start_epoch, num_epochs):
                lr_scheduler.step(epoch)
                train_one_epoch(model, loader, optimizer)
            """,
            note="explicit epoch argument; the training step is in another file",
        ),
        Good(
            """
            for batch in train_dataloader:
                outputs = model(**batch)
                accelerator.backward(outputs.loss)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            """
        ),
        Good(
            """
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                val_loss = evaluate(model, val_loader)
                scheduler.step(val_loss)
            """
        ),
        Good(
            """
            for epoch in range(epochs):
                if epoch > 0:
                    scheduler.step()
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            note="the first epoch's steps come before the first scheduler step",
        ),
        Good(
            """
            import torch
            import train_and_test as tnt

            joint_optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            joint_lr_scheduler = torch.optim.lr_scheduler.StepLR(joint_optimizer, step_size=5)
            for epoch in range(num_train_epochs):
                if epoch < num_warm_epochs:
                    tnt.train(model=model, dataloader=train_loader, optimizer=warm_optimizer)
                    warm_lr_scheduler.step()
                else:
                    tnt.train(model=model, dataloader=train_loader, optimizer=joint_optimizer)
                    joint_lr_scheduler.step()
            """,
            note="each arm steps its scheduler after its own training; the other arm's training is not before it",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        schedulers = facts.loops.schedulers
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                events = loop.direct_events
                for sched in events:
                    if sched.kind != EventKind.SCHED_STEP or not sched.call or sched.call.args:
                        continue
                    if sched.call.func.attr.value != "step":
                        continue
                    known = schedulers.get(sched.target or "")
                    if known is not None and known.kind == SchedulerKind.PLATEAU:
                        continue
                    steps = [
                        e for e in loop.events
                        if e.kind in (EventKind.STEP, EventKind.TRAINS_ELSEWHERE) and not e.exclusive_with(sched)
                    ]
                    if not steps or steps[0].index < sched.index:
                        continue
                    if sched.deciding_guards(loop, shared_with=steps[0]):
                        continue  # `if epoch > 0: scheduler.step()` skips nothing
                    if steps[0].index > sched.index:
                        step = steps[0]
                        stepped = (
                            f"`{step.target}.step()`" if step.kind == EventKind.STEP
                            else f"`{facts.code(step.call.func)}(...)`, which steps `{step.target}`,"
                        )
                        yield self.report(
                            sched.node,
                            f"`{sched.target}.step()` runs before {stepped} in this iteration: the "
                            "schedule's first learning rate is skipped; step the scheduler after the optimizer",
                        )
