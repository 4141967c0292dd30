from collections.abc import Iterator

from trainlint.facts import EventKind, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class ClipGradMisplaced(Rule):
    """
    ## What it does
    Finds gradient clipping (`clip_grad_norm_`, `clip_grad_value_`,
    `accelerator.clip_grad_norm_`) called before `backward()` or after
    `optimizer.step()` in the same iteration.

    ## Why is this bad?
    Clipping only acts on the gradients that exist when it runs. Before `backward()`
    they are the previous batch's (or `None` after `zero_grad`); after `step()` the
    update has already been applied. Either way the clipping does nothing and the
    exploding updates it was meant to stop still happen (seed 002 §3).

    ## How to fix
    Clip between `loss.backward()` and `optimizer.step()`; with AMP call
    `scaler.unscale_(optimizer)` first.
    """

    code = "TL405"
    name = "clip-grad-misplaced"
    severity = Severity.ERROR
    summary = "gradient clipping before backward() or after step() clips nothing"
    seeds = ("002 §3",)

    bad = [
        Bad(
            """
            import torch

            for x, y in train_loader:
                optimizer.zero_grad()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            5,
        ),
        Bad(
            """
            from torch.nn.utils import clip_grad_value_

            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                clip_grad_value_(model.parameters(), 0.5)
            """,
            8,
        ),
    ]
    good = [
        Good(
            """
            import torch

            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            """
        ),
        Good(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()
            for x, y in train_loader:
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                scaler.step(optimizer)
                scaler.update()
            """,
            note="AMP: unscale_, clip, scaler.step",
        ),
        Good(
            """
            for batch in train_dataloader:
                with accelerator.accumulate(model):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
            """
        ),
        Good(
            """
            import torch

            while True:
                for micro_step in range(accum):
                    loss = model(X, Y)[1] / accum
                    loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            """
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.training_loops:
                events = [e for e in loop.events if e.kind in (EventKind.BACKWARD, EventKind.STEP, EventKind.CLIP)]
                for i, clip in enumerate(events):
                    if clip.kind != EventKind.CLIP:
                        continue
                    before = next((e for e in reversed(events[:i]) if e.kind != EventKind.CLIP), None)
                    after = next((e for e in events[i + 1 :] if e.kind != EventKind.CLIP), None)
                    if before is not None and before.kind == EventKind.STEP:
                        where = "after the optimizer step: the update it should limit is already applied"
                    elif before is None and after is not None and after.kind == EventKind.BACKWARD:
                        where = "before backward(): it clips the old (or cleared) gradients, not this batch's"
                    else:
                        continue
                    yield self.report(
                        clip.node,
                        f"gradient clipping runs {where}; clip between backward() and step()",
                        first_line_only=True,
                    )
