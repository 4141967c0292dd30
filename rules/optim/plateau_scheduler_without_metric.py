from collections.abc import Iterator

import libcst as cst

from trainlint.facts import EventKind, FileFacts, SchedulerKind
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class PlateauSchedulerWithoutMetric(Rule):
    """
    ## What it does
    Finds `ReduceLROnPlateau.step()` called without the metric it monitors.

    ## Why is this bad?
    `ReduceLROnPlateau` lowers the learning rate when a metric stops improving; it has
    no schedule of its own. `step()` without the metric raises a `TypeError`, and code
    that works around it with a constant never sees a plateau, so the learning rate is
    never reduced (seed 002 §2.2.5).

    ## How to fix
    Pass the validation metric each epoch: `scheduler.step(val_loss)`.
    """

    code = "TL407"
    name = "plateau-scheduler-without-metric"
    severity = Severity.ERROR
    summary = "ReduceLROnPlateau.step() called without the monitored metric"
    seeds = ("002 §2.2.5",)

    bad = [
        Bad(
            """
            from torch.optim.lr_scheduler import ReduceLROnPlateau

            scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=3)
            for epoch in range(100):
                train(model, train_loader, optimizer)
                val_loss = validate(model, val_loader)
                scheduler.step()
            """,
            7,
        ),
        Bad(
            """
            import torch

            class Trainer:
                def __init__(self, model):
                    self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                    self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer)

                def end_epoch(self, metrics):
                    self.scheduler.step()
            """,
            9,
        ),
        Bad(
            """
            import torch


            class Trainer:
                def __init__(self, model, optimizer, loader, lr_scheduler=None):
                    self.model = model
                    self.optimizer = optimizer
                    self.loader = loader
                    self.lr_scheduler = lr_scheduler

                def train_epoch(self):
                    for x, y in self.loader:
                        self.optimizer.zero_grad()
                        self.model.loss(x, y).backward()
                        self.optimizer.step()
                    if self.lr_scheduler is not None:
                        self.lr_scheduler.step()


            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=5)
            Trainer(model, optimizer, train_loader, lr_scheduler=scheduler).train_epoch()
            """,
            17,
            note="the scheduler reaches the trainer through its constructor",
        ),
    ]
    good = [
        Good(
            """
            import torch

            if args.sched == "plateau":
                scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
            else:
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
            for epoch in range(epochs):
                val_loss = train_and_validate(model)
                if args.sched == "plateau":
                    scheduler.step(val_loss)
                else:
                    scheduler.step()
            """,
            note="one name, two scheduler types",
        ),
        Good(
            """
            from torch.optim.lr_scheduler import ReduceLROnPlateau

            scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
            for epoch in range(100):
                train(model, train_loader, optimizer)
                scheduler.step(validate(model, val_loader))
            """
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
            for epoch in range(epochs):
                val_loss = evaluate(model)
                scheduler.step(metrics=val_loss)
            """
        ),
        Good(
            """
            import torch

            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
            for epoch in range(epochs):
                train(model)
                scheduler.step()
            """
        ),
        Good(
            """
            import torch


            class Trainer:
                def __init__(self, model, optimizer, loader, lr_scheduler=None):
                    self.model = model
                    self.optimizer = optimizer
                    self.loader = loader
                    self.lr_scheduler = lr_scheduler

                def train_epoch(self):
                    for x, y in self.loader:
                        self.optimizer.zero_grad()
                        self.model.loss(x, y).backward()
                        self.optimizer.step()
                    if self.lr_scheduler is not None:
                        self.lr_scheduler.step()


            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
            Trainer(model, optimizer, train_loader, lr_scheduler=scheduler).train_epoch()
            """,
            note="the trainer is given an epoch scheduler",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        plateau = {name for name, s in facts.loops.schedulers.items() if s.kind == SchedulerKind.PLATEAU}
        if not plateau:
            return
        for call in facts.calls:
            func = call.node.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "step"
                and not call.node.args
                and facts.code(func.value) in plateau
            ):
                yield self._report(call.node, facts.code(func.value))
        for flow in facts.loops.flows:
            for event in flow.events:
                if event.kind == EventKind.SCHED_STEP and event.via and event.target in plateau and not event.call.args:
                    yield self._report(event.node, event.target)

    def _report(self, node, name: str) -> Report:
        return self.report(
            node,
            f"`{name}` is a ReduceLROnPlateau: step() needs the monitored metric, e.g. `{name}.step(val_loss)`",
        )



