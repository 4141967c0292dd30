import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import Event, EventKind, FileFacts, Loop, Scheduler, SchedulerKind, argument, keyword, number
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

# The argument that sets how many steps the schedule lasts, per scheduler type.
_PERIOD = {"StepLR": ("step_size", 1), "MultiStepLR": ("milestones", 1), "CosineAnnealingLR": ("T_max", 1)}
_COUNTS_BATCHES = re.compile(r"len\(|step|iter|batch|total|sample", re.I)


class SchedulerStepGranularity(Rule):
    """
    ## What it does
    Finds an epoch-based scheduler (`StepLR`, `MultiStepLR`, `ExponentialLR`,
    `CosineAnnealingLR`) stepped every batch although its period is counted in epochs,
    and a per-batch scheduler (`OneCycleLR`, `CyclicLR`) built with the number of
    batches (`steps_per_epoch=`, `len(loader)`) but stepped once per epoch.

    Only schedules whose length is a literal or counted in epochs (`T_max=args.epochs`,
    `milestones=[30, 60]`) are reported when stepped per batch: `T_max=len(loader) *
    epochs` is a per-batch schedule written on purpose.

    ## Why is this bad?
    Stepped per batch, `StepLR(step_size=30)` divides the learning rate after 30 batches
    instead of 30 epochs and training freezes within the first epoch; stepped per epoch,
    `OneCycleLR` never leaves its warm-up (seed 002 §2).

    ## How to fix
    Step epoch-based schedulers after the batch loop, per-batch schedulers inside it
    after `optimizer.step()`, or express the period in batches.
    """

    code = "TL409"
    name = "scheduler-step-granularity"
    severity = Severity.WARNING
    summary = "a per-epoch scheduler stepped every batch, or a per-batch one stepped every epoch"
    seeds = ("002 §2",)

    bad = [
        Bad(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
            for epoch in range(90):
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                    scheduler.step()
            """,
            9,
        ),
        Bad(
            """
            from torch.optim.lr_scheduler import OneCycleLR

            scheduler = OneCycleLR(optimizer, max_lr=0.1, epochs=30, steps_per_epoch=len(train_loader))
            for epoch in range(30):
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                scheduler.step()
            """,
            9,
        ),
        Bad(
            """
            import torch

            def train_epoch(model, loader, optimizer, scheduler):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                    scheduler.step()

            def main(args):
                scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                for epoch in range(args.epochs):
                    train_epoch(model, train_loader, optimizer, scheduler)
            """,
            8,
        ),
    ]
    good = [
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=30, steps_per_epoch=len(train_loader))
            for epoch in range(30):
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                    scheduler.step()
            """,
            note="OneCycleLR stepped per batch",
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(train_loader) * epochs)
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                    scheduler.step()
            """,
            note="a cosine schedule counted in batches",
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=1e-4, max_lr=1e-2, step_size_up=2000)
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                    scheduler.step()
            """,
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100, 150])
            for epoch in range(200):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                scheduler.step()
            """,
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100)
            for it in range(max_iters):
                x, y = next(batches)
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
                scheduler.step()
            """,
            note="one loop over iterations: nothing says it is per epoch",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        schedulers = facts.loops.schedulers
        for flow in facts.loops.root_flows:
            training = flow.training_loops
            for event in flow.events:
                if event.kind != EventKind.SCHED_STEP or event.loop is None:
                    continue
                scheduler = schedulers.get(event.target or "")
                if scheduler is None:
                    continue
                if scheduler.kind == SchedulerKind.EPOCH and _per_batch(event, training) and _counted_in_epochs(scheduler):
                    yield self.report(
                        event.node,
                        f"`{event.target}` is a {scheduler.type_name} whose period is counted in epochs, but it is "
                        "stepped every batch: step it after the batch loop",
                    )
                elif scheduler.kind == SchedulerKind.BATCH and _per_epoch(event, training) and _counted_in_batches(scheduler):
                    yield self.report(
                        event.node,
                        f"`{event.target}` is a {scheduler.type_name} built for per-batch steps, but it is stepped "
                        "once per epoch: step it inside the batch loop after optimizer.step()",
                    )


def _per_batch(event: Event, training: list[Loop]) -> bool:
    loop = event.loop
    if loop not in training or loop.parent is None or len(event.guards) != len(loop.guards):
        return False
    names = loop.iterable_names.split()
    return "range" not in names or not any("epoch" in n for n in loop.target_names)


def _per_epoch(event: Event, training: list[Loop]) -> bool:
    loop = event.loop
    return loop not in training and any(t.parent is loop or loop in t.ancestors for t in training)


def _counted_in_epochs(scheduler: Scheduler) -> bool:
    if scheduler.type_name == "ExponentialLR":
        gamma = number(argument(scheduler.call, "gamma", 1))
        return gamma is not None and gamma < 0.99
    name, position = _PERIOD[scheduler.type_name]
    period = argument(scheduler.call, name, position)
    if period is None:
        return False
    code = cst.Module([]).code_for_node(period)
    if _COUNTS_BATCHES.search(code):
        return False
    return "epoch" in code.lower() or not any(c.isalpha() for c in code)


def _counted_in_batches(scheduler: Scheduler) -> bool:
    call = scheduler.call
    if keyword(call, "steps_per_epoch") is not None:
        return True
    return "len(" in cst.Module([]).code_for_node(call)
