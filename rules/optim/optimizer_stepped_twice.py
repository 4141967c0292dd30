from collections.abc import Iterator

from trainlint.facts import Event, EventKind, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class OptimizerSteppedTwice(Rule):
    """
    ## What it does
    Finds an optimizer stepped twice in one iteration of a training loop with no
    `backward()` between the two steps: `scaler.step(optimizer)` and then
    `optimizer.step()`, or a helper that steps followed by a step of its own. Both steps
    must run on every iteration, except that a step under an `if` followed by an
    unconditional one of the same optimizer is reported (the accumulation step left in
    place when the step was moved under the `if`); steps in exclusive branches are not.

    ## Why is this bad?
    The second step applies the same gradients again: momentum and Adam's moments are
    updated twice, so the effective learning rate is doubled and the schedule no longer
    means what it says. With a `GradScaler` it is worse: when the scaled gradients
    overflow, `scaler.step()` skips the update on purpose, and the bare `optimizer.step()`
    after it writes the inf/NaN gradients into the weights, and the loss turns NaN.

    ## How to fix
    Step each optimizer once per iteration: through the scaler when mixed precision is on,
    directly otherwise (`if scaler is not None: scaler.step(optimizer) else:
    optimizer.step()`).
    """

    code = "TL414"
    name = "optimizer-stepped-twice"
    severity = Severity.ERROR
    summary = "the same optimizer stepped twice in one iteration, with no backward() between"

    bad = [
        Bad(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()
            for image, target in data_loader:
                with torch.cuda.amp.autocast():
                    output = model(image)
                    loss = criterion(output, target)
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                optimizer.step()
            """,
            12,
        ),
        Bad(
            """
            def update(model, optimizer, loss):
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()

            for x, y in train_loader:
                loss = criterion(model(x), y)
                update(model, optimizer, loss)
                optimizer.step()
            """,
            10,
        ),
        Bad(
            """
            for i, (x, y) in enumerate(train_loader):
                loss = criterion(model(x), y)
                loss.backward()
                if i % iter_size == 0:
                    clip_grad_norm_(model.parameters(), max_norm)
                    optimizer.step()
                    optimizer.zero_grad()
                clip_grad_norm_(model.parameters(), max_norm)
                optimizer.step()
            """,
            9,
            note="the accumulation step left in place when the step was moved under the `if`",
        ),
    ]
    good = [
        Good(
            """
            for image, target in data_loader:
                with torch.autocast("cuda", enabled=scaler is not None):
                    loss = criterion(model(image), target)
                optimizer.zero_grad()
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            """,
            note="torchvision's references/classification/train.py after the fix",
        ),
        Good(
            """
            for x, y in train_loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
                optimizer.zero_grad()
                consistency_loss(model, x).backward()
                optimizer.step()
            """,
            note="two updates per batch, each with its own gradients",
        ),
        Good(
            """
            for real, _ in loader:
                optimizer_d.zero_grad()
                d_loss(netD, netG, real).backward()
                optimizer_d.step()
                optimizer_g.zero_grad()
                g_loss(netD, netG).backward()
                optimizer_g.step()
            """,
            note="a GAN: two optimizers, one step each",
        ),
        Good(
            """
            for step, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulate
                loss.backward()
                if (step + 1) % accumulate == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            if len(loader) % accumulate:
                optimizer.step()
            """,
            note="gradient accumulation: the leftover step is after the loop",
        ),
        Good(
            """
            for i, (x, y) in enumerate(train_loader):
                loss = criterion(model(x), y) / iter_size
                loss.backward()
                if use_amp:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad()
            """,
            note="one step or the other, never both",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                # optimizer -> its last step since the last backward (guarded or not)
                stepped: dict[str, Event] = {}
                for event in loop.direct_events:
                    unguarded = len(event.guards) == len(loop.guards)
                    if event.kind == EventKind.BACKWARD or (event.kind == EventKind.ZERO_GRAD and unguarded):
                        stepped.clear()
                        continue
                    if event.kind != EventKind.STEP or not event.target:
                        continue
                    before = stepped.get(event.target)
                    if unguarded and before is not None:
                        yield self.report(event.node, _message(event, before), first_line_only=True)
                        continue
                    stepped[event.target] = event


def _message(step: Event, before: Event) -> str:
    if len(before.guards) == len(step.guards):
        return (
            f"`{step.target}` was already stepped in this iteration with no backward() since: the same gradients "
            "are applied twice (and after a skipped GradScaler step, its inf/NaN ones); step it once"
        )
    return (
        f"`{step.target}` is stepped under an `if` above and again here with no backward() between: when the "
        "`if` holds the weights move twice (momentum and weight decay act on the second step too), and otherwise "
        "every iteration steps, so the accumulation the `if` is there for never happens; step it in one place"
    )
