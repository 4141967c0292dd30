import re
from collections.abc import Iterator

from trainlint.facts import EventKind, FileFacts, argument, dotted
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

# A word that names a watch for a plateau: found by its stem, then widened to the whole word
# (a pattern that starts each try at a word's start backtracked through every word of the file);
# first sought case-sensitively in the folded text, several times faster than IGNORECASE.
_PLATEAU_STEM = r"patience|early_?stop|no_?improve|since_improvement|bad_epochs"
_PLATEAU_FOLDED = re.compile(_PLATEAU_STEM)
_PLATEAU_WATCH = re.compile(_PLATEAU_STEM, re.I)
_WORD_BEFORE = re.compile(r"\w*\Z")
_WORD_AFTER = re.compile(r"\w*")


class NoLrScheduler(Rule):
    """
    ## What it does
    Finds an optimizer stepped in a training loop with a fixed learning rate: no
    `torch.optim.lr_scheduler` (or other scheduler object) in the file, no write to
    `param_groups[...]["lr"]`, no LR helper (`adjust_learning_rate(...)`,
    `get_lr(it)`), and no schedule-free optimizer (`schedulefree.AdamWScheduleFree`). A
    loop stepping an optimizer that its function receives as a parameter, in a file that
    builds none, is left alone: the caller's file owns the schedule. A scheduler built and
    never mentioned again (not stepped, not handed to a trainer) is no schedule, and is
    reported as a symptom; an optimizer rebuilt in the loop (TL411) changes its LR.

    This is advice, and it is off by default. It reports everywhere when the
    configuration selects it (`select` or `extend-select` naming TL404, its prefix or
    its name). Without that it reports only when the file shows a symptom a schedule
    explains: it watches for a plateau by hand (a `patience` or early-stopping
    counter) but never lowers the learning rate, or it trains with SGD at a large
    literal learning rate (≥ 0.1) that only converges when decayed.

    ## Why is this bad?
    A learning rate that is right at the start is too large at the end: the loss stops
    falling and oscillates around a minimum it cannot reach (seeds 000 §2.4, 002 §2,
    003 §3).

    ## How to fix
    Add a schedule: `CosineAnnealingLR`, `OneCycleLR`, `MultiStepLR`, or
    `ReduceLROnPlateau(optimizer).step(val_loss)`; for transformers a warm-up then
    decay.
    """

    code = "TL404"
    name = "no-lr-scheduler"
    severity = Severity.INFO
    summary = "an optimizer stepped with a fixed learning rate (no schedule)"
    seeds = ("000 §2.4", "002 §2", "003 §3")
    default_enabled = False
    runs_on_symptoms = True

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for epoch in range(200):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            8,
        ),
        Bad(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            best, patience = float("inf"), 0
            for epoch in range(100):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                val = validate(model)
                patience = 0 if val < best else patience + 1
                if patience > 10:
                    break
            """,
            9,
        ),
        Bad(
            """
            import torch
            from torch.optim.lr_scheduler import ReduceLROnPlateau

            optimizer = torch.optim.Adam(net.parameters(), lr=0.005)
            scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=0.9, patience=10)
            while True:
                for sequence, target in dataloader:
                    optimizer.zero_grad()
                    loss = kl_loss(net(sequence), target).mean()
                    loss.backward()
                    optimizer.step()
                valid_cor = validate(net)
            """,
            11,
            note="a plateau scheduler built and never stepped with the validation score",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            criterion = nn.BCELoss()
            optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
            optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
            schedulerD = torch.optim.lr_scheduler.StepLR(optimizerD, step_size=30)

            for epoch in range(25):
                for real, _ in dataloader:
                    netG.zero_grad()
                    criterion(netD(netG(torch.randn(64, 100))), torch.ones(64)).backward()
                    optimizerG.step()
                    netD.zero_grad()
                    criterion(netD(real), torch.ones(real.size(0))).backward()
                    optimizerD.step()
            """,
            16,
            note="a GAN: the idle scheduler is the discriminator's, so the finding is on optimizerD.step()",
        ),
    ]
    good = [
        Good(
            """
            import torch

            lr = 0.1
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
            for epoch in range(epochs):
                if epoch % decay_every == 0:
                    lr *= 0.5
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            note="the LR is lowered by hand through param_groups, not fixed",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
            trainer = Trainer(model, optimizer, lr_scheduler=scheduler)
            trainer.fit(train_loader)
            for x, y in extra_loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            """,
            note="the scheduler is handed to a trainer, which steps it",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)
            for epoch in range(200):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                scheduler.step()
            """
        ),
        Good(
            """
            import math

            def get_lr(it):
                if it < warmup_iters:
                    return learning_rate * it / warmup_iters
                ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
                return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

            while True:
                lr = get_lr(iter_num)
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr
                loss = model(X, Y)[1]
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                iter_num += 1
            """,
            note="nanoGPT's hand-written warm-up and cosine decay",
        ),
        Good(
            """
            def rate(step, model_size, factor, warmup):
                step = max(step, 1)
                return factor * (model_size ** -0.5 * min(step ** -0.5, step * warmup ** -1.5))

            lr_scheduler = LambdaLR(optimizer, lr_lambda=lambda step: rate(step, 512, 1.0, 4000))
            for batch in data_iter:
                loss = loss_compute(model(batch.src, batch.tgt), batch.tgt_y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                lr_scheduler.step()
            """,
            note="a Noam schedule",
        ),
        Good(
            """
            import schedulefree
            import torch

            def training_function(model, train_dataloader, accelerator, lr, num_epochs):
                optimizer = schedulefree.AdamWScheduleFree(model.parameters(), lr=lr, warmup_steps=100)
                for epoch in range(num_epochs):
                    model.train()
                    optimizer.train()
                    for step, batch in enumerate(train_dataloader):
                        outputs = model(**batch)
                        loss = outputs.loss
                        accelerator.backward(loss)
                        optimizer.step()
                        optimizer.zero_grad()
                    model.eval()
                    optimizer.eval()
            """,
            note="accelerate examples/by_feature/schedule_free.py: the optimizer needs no schedule",
        ),
        Good(
            """
            import torch

            def train_one_epoch(model, criterion, data_loader, optimizer, device, epoch, max_norm=0):
                model.train()
                for samples, targets in data_loader:
                    outputs = model(samples.to(device))
                    losses = criterion(outputs, targets)
                    optimizer.zero_grad()
                    losses.backward()
                    if max_norm > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                    optimizer.step()
            """,
            note="DETR engine.py: the optimizer comes from main.py, which builds and steps the StepLR",
        ),
        Good(
            """
            import torch

            optimizer_G = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
            optimizer_D = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
            lr_scheduler_G = torch.optim.lr_scheduler.LambdaLR(optimizer_G, lr_lambda=lambda e: 1.0 - max(0, e - 100) / 100)
            lr_scheduler_D = torch.optim.lr_scheduler.LambdaLR(optimizer_D, lr_lambda=lambda e: 1.0 - max(0, e - 100) / 100)
            for epoch in range(200):
                for real_A, real_B in dataloader:
                    optimizer_G.zero_grad()
                    loss_G(netG, netD, real_A, real_B).backward()
                    optimizer_G.step()
                    optimizer_D.zero_grad()
                    loss_D(netG, netD, real_A, real_B).backward()
                    optimizer_D.step()
                lr_scheduler_G.step()
                lr_scheduler_D.step()
            """,
            note="CycleGAN: one linear-decay schedule per optimizer",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        loops = facts.loops
        idle = _idle_schedulers(facts)
        if loops.sets_lr or (loops.schedulers and len(idle) < len(loops.schedulers)):
            return
        if loops.has_manual_lr and not loops.schedulers:
            return
        if any("ScheduleFree" in (call.qualname or "") for call in facts.calls):
            return  # schedule-free optimizers (AdamWScheduleFree, SGDScheduleFree) replace the schedule
        if any(e.kind in (EventKind.SCHED_STEP, EventKind.LR_UPDATE) for flow in loops.flows for e in flow.events):
            return
        if any(e.kind == EventKind.OPTIMIZER_BUILT and e.loops for flow in loops.flows for e in flow.events):
            return  # rebuilt in the loop, with a new LR as a rule (TL411 reports the lost state)
        subject: str | None = None  # the optimizer the symptom is about; None: any
        if idle:  # the schedule was meant: a symptom on its own
            subject = _scheduled_optimizer(idle[0])
            symptom = f" (`{idle[0].name}`, a {idle[0].type_name}, is built but never stepped)"
            fix = f"call `{idle[0].name}.step(...)` once per epoch (a plateau scheduler with the validation metric)"
        else:
            subject, symptom = (None, "") if self.selected else _symptom(facts)
            fix = "add a schedule (CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau)"
        if not self.selected and not symptom:
            return
        for flow in loops.root_flows:
            for loop in flow.training_loops:
                steps = [e for e in flow.own_events(loop) if e.kind == EventKind.STEP]
                step = next((e for e in steps if subject is None or e.target == subject), None)
                said = symptom
                if step is None:  # the symptom is another optimizer's, stepped in another loop
                    if not self.selected:
                        continue
                    step, said = steps[0], ""
                if not loops.optimizers and _is_parameter(flow.root, step.target):
                    continue  # `train_one_epoch(model, ..., optimizer)`: the caller, in another file, owns the schedule
                yield self.report(
                    step.node,
                    f"`{step.target}` trains with a fixed learning rate{said}: the loss stalls around the "
                    f"minimum it cannot reach; {fix}",
                )


def _scheduled_optimizer(scheduler) -> str | None:
    """The optimizer a scheduler is built over (`StepLR(optimizerD, 30)`), by its name."""
    return dotted(argument(scheduler.call, "optimizer", 0))


def _idle_schedulers(facts: FileFacts) -> list:
    """Schedulers built into a plain name that the file never mentions again: not stepped,
    not handed to a trainer, not returned (a word count: a comment naming it keeps it)."""
    idle = []
    for scheduler in facts.loops.schedulers.values():
        if "." in scheduler.name or not scheduler.name.isidentifier():
            continue
        if len(re.findall(rf"(?<![\w.]){re.escape(scheduler.name)}\b", facts.source)) == 1:
            idle.append(scheduler)
    return idle


def _symptom(facts: FileFacts) -> tuple[str | None, str]:
    """(the optimizer it is about, None for the script's; the symptom) or (None, "")."""
    source = facts.source
    match = _PLATEAU_WATCH.search(source) if _PLATEAU_FOLDED.search(source.casefold()) else None
    if match:
        start = _WORD_BEFORE.search(source, 0, match.start()).start()
        word = source[start:_WORD_AFTER.match(source, match.end()).end()]
        return None, f" while the script watches for a plateau (`{word}`)"
    for optimizer in facts.loops.optimizers.values():
        if optimizer.type_name == "SGD" and optimizer.lr is not None and optimizer.lr >= 0.1:
            return optimizer.name, f" (SGD at lr={optimizer.lr:g}, which converges only when decayed)"
    return None, ""


def _is_parameter(function, name: str | None) -> bool:
    if function is None or not name or "." in name:  # `self.optimizer` is the object's own
        return False
    params = function.params
    return any(p.name.value == name for p in (*params.params, *params.kwonly_params, *params.posonly_params))
