from collections.abc import Iterator

from trainlint.facts import Event, EventKind, FileFacts, is_periodic
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class ZeroGradBetweenBackwardAndStep(Rule):
    """
    ## What it does
    Finds `zero_grad()` called after `backward()` and before `optimizer.step()` in the
    same iteration, on the optimizer that steps (or on a model); and `zero_grad()` run on
    every iteration while the step waits for an accumulation test (`if (i + 1) % k == 0:`),
    which erases what the other iterations accumulated (a Lightning `training_step` is
    one iteration).

    ## Why is this bad?
    `zero_grad()` throws away the gradients `backward()` just computed: the step then
    sees zeros (or `None`) and the weights never change, so the loss stays flat
    (seed 001 §7).

    ## How to fix
    Clear the gradients before `backward()` (at the top of the iteration) or after
    `step()`, never between the two.
    """

    code = "TL402"
    name = "zero-grad-between-backward-and-step"
    severity = Severity.ERROR
    summary = "zero_grad() between backward() and step(): the step sees no gradient"
    seeds = ("001 §7",)

    bad = [
        Bad(
            """
            for images, labels in train_loader:
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.zero_grad()
                optimizer.step()
            """,
            4,
        ),
        Bad(
            """
            import torch

            def train(model, loader, opt):
                for x, y in loader:
                    out = model(x)
                    loss = torch.nn.functional.cross_entropy(out, y)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    model.zero_grad()
                    opt.step()
            """,
            9,
        ),
        Bad(
            """
            import lightning.pytorch as pl


            class VAE(pl.LightningModule):
                def training_step(self, batch, batch_idx):
                    g_opt, d_opt = self.optimizers()
                    ae_loss = self.loss(batch, self(batch), optimizer_idx=0)
                    g_opt.zero_grad()
                    self.manual_backward(ae_loss)
                    if (batch_idx + 1) % self.accumulate_grad_batches == 0:
                        g_opt.step()
            """,
            8,
            note="Lightning manual optimization: the trainer runs training_step once per batch",
        ),
        Bad(
            """
            for i, (x, y) in enumerate(train_loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y) / accum_steps
                loss.backward()
                if (i + 1) % accum_steps == 0:
                    optimizer.step()
            """,
            2,
            note="accumulation erased: only the last micro-batch's gradients reach the step",
        ),
    ]
    good = [
        Good(
            """
            for i, (x, y) in enumerate(train_loader):
                if i % accum_steps == 0:
                    optimizer.zero_grad()
                loss = criterion(model(x), y) / accum_steps
                loss.backward()
                if (i + 1) % accum_steps == 0:
                    optimizer.step()
            """,
            note="cleared at the start of each accumulation window",
        ),
        Good(
            """
            import lightning.pytorch as pl


            class VAE(pl.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    loss = self.loss(batch, self(batch))
                    self.manual_backward(loss / self.accumulate_grad_batches)
                    if (batch_idx + 1) % self.accumulate_grad_batches == 0:
                        opt.step()
                        opt.zero_grad()
            """,
            note="Lightning manual optimization with accumulation",
        ),
        Good(
            """
            for images, labels in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.step()
            """
        ),
        Good(
            """
            for i, (real, _) in enumerate(dataloader):
                netD.zero_grad()
                errD = criterion(netD(real), ones) + criterion(netD(netG(noise).detach()), zeros)
                errD.backward()
                optimizerD.step()
                netG.zero_grad()
                errG = criterion(netD(netG(noise)), ones)
                errG.backward()
                optimizerG.step()
            """,
            note="DCGAN: each network cleared before its own backward",
        ),
        Good(
            """
            import math

            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                if not math.isfinite(loss.item()):
                    optimizer.zero_grad()
                    continue
                optimizer.step()
                optimizer.zero_grad()
            """,
            note="skipping a non-finite step",
        ),
        Good(
            """
            for real, _ in loader:
                optimizer_G.zero_grad()
                g_loss = adversarial_loss(discriminator(generator(z)), valid)
                g_loss.backward()
                discriminator.zero_grad()
                optimizer_G.step()
                d_loss = adversarial_loss(discriminator(real), valid)
                d_loss.backward()
                optimizer_D.step()
            """,
            note="a GAN clearing the other network's gradients",
        ),
        Good(
            """
            for step, batch in enumerate(loader):
                loss = model(**batch).loss / accum
                loss.backward()
                if (step + 1) % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        yield from self._erased_accumulation(facts)
        for flow in facts.loops.root_flows:
            for loop in flow.training_loops:
                events = loop.events
                for i, step in enumerate(events):
                    if step.kind != EventKind.STEP:
                        continue
                    backward = next((e for e in reversed(events[:i]) if e.kind in (EventKind.BACKWARD, EventKind.STEP)), None)
                    if backward is None or backward.kind != EventKind.BACKWARD:
                        continue
                    for between in events[events.index(backward) + 1 : i]:
                        if between.kind == EventKind.ZERO_GRAD and _clears(between, step, loop.events) and _encloses(between, step):
                            yield self.report(
                                between.node,
                                f"`{facts.code(between.node)}` runs after backward() and before "
                                f"`{step.target}` steps: the step sees no gradient; clear gradients before "
                                "backward() or after step()",
                            )


    def _erased_accumulation(self, facts: FileFacts) -> Iterator[Report]:
        """`zero_grad()` every iteration, `step()` only under `if (i + 1) % accum == 0:`: each
        iteration erases what the previous ones accumulated for the step."""
        for flow in facts.loops.root_flows:
            iterations: list[list[Event]] = [l.events for l in flow.training_loops]
            if flow.per_batch:
                iterations.append(flow.events)
            for events in iterations:
                for step in events:
                    if step.kind != EventKind.STEP:
                        continue
                    periodic = [g for g in step.guards if is_periodic(g)]
                    for zero_grad in events:
                        if zero_grad.index >= step.index or zero_grad.kind != EventKind.ZERO_GRAD:
                            continue
                        if not _clears(zero_grad, step, events) or not _encloses(zero_grad, step):
                            continue
                        if not any(all(g is not z for z in zero_grad.guards) for g in periodic):
                            continue
                        if not any(e.kind == EventKind.BACKWARD and zero_grad.index < e.index < step.index for e in events):
                            continue
                        yield self.report(
                            zero_grad.node,
                            f"`{facts.code(zero_grad.node)}` runs every iteration but `{step.target}` steps only "
                            "every few (under a `%` test): each iteration erases the gradients accumulated for "
                            "that step; clear them right after the step, under the same `if`",
                        )


def _clears(zero_grad: Event, step: Event, events: list[Event]) -> bool:
    """Whether this zero_grad clears what the step uses: the same optimizer, or the model
    when only one optimizer steps (with two, as in a GAN, a model may belong to the other)."""
    target = zero_grad.target or ""
    if target and target == step.target:
        return True
    if "optim" in target.lower() or target.split(".")[-1].lower().startswith("opt"):
        return False
    return len({e.target for e in events if e.kind == EventKind.STEP}) == 1


def _encloses(zero_grad: Event, step: Event) -> bool:
    """The zero_grad is not in a branch of its own (`if not finite: zero_grad(); continue`)."""
    guards = zero_grad.guards
    return len(guards) <= len(step.guards) and all(a is b for a, b in zip(guards, step.guards))

