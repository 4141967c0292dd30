from collections.abc import Iterator

from trainlint.facts import Event, EventKind, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class MissingZeroGrad(Rule):
    """
    ## What it does
    Finds a training loop that calls `backward()` and `optimizer.step()` but never clears
    the gradients: no `optimizer.zero_grad()`, `model.zero_grad()`, or `p.grad = None` in
    the loop (or in a helper of the same file it calls). With several optimizers, one that
    is stepped while every `zero_grad()` of the loop is another optimizer's is reported.

    ## Why is this bad?
    `backward()` adds to `.grad`; it does not overwrite it. Without clearing, every step
    uses the sum of the gradients of all batches so far: the update grows each iteration
    and the loss stops falling or diverges (seed 001 §7). Gradient accumulation done on
    purpose (`zero_grad()` inside `if (i + 1) % accum == 0:`) is recognized and not reported.

    ## How to fix
    Call `optimizer.zero_grad(set_to_none=True)` once per step: at the top of the
    iteration, or right after `optimizer.step()`.
    """

    code = "TL401"
    name = "missing-zero-grad"
    severity = Severity.ERROR
    summary = "a training loop calls backward() and step() but never clears gradients"
    seeds = ("001 §7",)

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for x, y in loader:
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            9,
        ),
        Bad(
            """
            import torch

            def train_one_epoch(model, loader, optimizer, criterion):
                model.train()
                for images, labels in loader:
                    loss = criterion(model(images), labels)
                    loss.backward()
                    optimizer.step()

            def main(model, loaders, optimizer, criterion):
                for epoch in range(90):
                    train_one_epoch(model, loaders["train"], optimizer, criterion)
            """,
            8,
        ),
        Bad(
            """
            import torch

            tp_model = build_tp_model()
            optimizer = torch.optim.AdamW(tp_model.parameters(), lr=3e-3, foreach=True)
            for i in range(num_iters):
                torch.manual_seed(i)
                inp = torch.rand(20, 10, device="cuda")
                output = tp_model(inp)
                output.sum().backward()
                optimizer.step()
            """,
            10,
            note="pytorch/examples tensor_parallel_example.py",
        ),
        Bad(
            """
            import torch

            optimizer_E = torch.optim.Adam(encoder.parameters(), lr=1e-4)
            optimizer_D = torch.optim.Adam(critic.parameters(), lr=1e-4)
            for epoch in range(max_epoch):
                for x in train_loader:
                    x_rec = generator(encoder(x))
                    d_loss = adv_loss(critic(x), real=True) + adv_loss(critic(x_rec.detach()), real=False)
                    d_loss.backward()
                    optimizer_D.step()
                    e_loss = ((x - x_rec) ** 2).mean() + adv_loss(critic(x_rec), real=True)
                    optimizer_E.zero_grad()
                    e_loss.backward()
                    optimizer_E.step()
            """,
            10,
            note="an encoder GAN: only the encoder's optimizer is cleared; the critic's gradients pile up",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, 2)
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.fc(self.drop(x))


            class GAN:
                def __init__(self):
                    self.model = Net()
                    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

                def train_step(self, x, y):
                    loss = nn.functional.cross_entropy(self.model(x), y)
                    loss.backward()
                    self.optimizer.step()


            gan = GAN()
            for epoch in range(10):
                for x, y in loader:
                    gan.train_step(x, y)
            """,
            23,
            note="the training step is a method of a plain wrapper object",
        ),
        Bad(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            for epoch in range(10):
                for x, y in loader:
                    if False:  # accumulate over the whole epoch?
                        optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
            """,
            10,
            note="the clearing is switched off by `if False:`",
        ),
    ]
    good = [
        Good(
            """
            import torch


            class OptimWrapper:
                def __init__(self, params, lr, max_norm):
                    self.params = list(params)
                    self.optimizer = torch.optim.Adam(self.params, lr=lr)
                    self.max_norm = max_norm

                def backward(self, loss):
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)

                def step(self):
                    self.optimizer.step()
                    self.optimizer.zero_grad()


            optim = OptimWrapper(model.parameters(), lr=1e-3, max_norm=1.0)
            for x, y in train_loader:
                loss = criterion(model(x), y)
                optim.backward(loss)
                optim.step()
            """,
            note="a helper object of this file whose step() clears the gradients",
        ),
        Good(
            """
            import torch
            import torch.nn as nn


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, 2)
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.fc(self.drop(x))


            class GAN:
                def __init__(self):
                    self.model = Net()
                    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

                def train_step(self, x, y):
                    self.optimizer.zero_grad()
                    loss = nn.functional.cross_entropy(self.model(x), y)
                    loss.backward()
                    self.optimizer.step()


            gan = GAN()
            for epoch in range(10):
                for x, y in loader:
                    gan.train_step(x, y)
            """,
            note="the wrapper's step clears its optimizer",
        ),
        Good(
            """
            import torch

            for images, labels in train_loader:
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.step()
            """,
            note="zero_grad at the top of the iteration",
        ),
        Good(
            """
            import torch

            accum_steps = 4
            optimizer.zero_grad()
            for i, (x, y) in enumerate(train_loader):
                loss = criterion(model(x), y) / accum_steps
                loss.backward()
                if (i + 1) % accum_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            note="gradient accumulation",
        ),
        Good(
            """
            import torch

            scaler = torch.amp.GradScaler()
            while True:
                for micro_step in range(gradient_accumulation_steps):
                    with ctx:
                        logits, loss = model(X, Y)
                        loss = loss / gradient_accumulation_steps
                    X, Y = get_batch("train")
                    scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
            """,
            note="nanoGPT: AMP with accumulation over micro-steps",
        ),
        Good(
            """
            for batch in train_dataloader:
                outputs = model(**batch)
                accelerator.backward(outputs.loss)
                optimizer.step()
                lr_scheduler.step()
                model.zero_grad()
            """,
            note="accelerate-style loop clearing through the model",
        ),
        Good(
            """
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                for p in model.parameters():
                    p.grad = None
            """
        ),
        Good(
            """
            from ignite.engine import Engine

            def train_step(engine, batch):
                model.train()
                optimizer.zero_grad()
                x, y = batch
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                return loss.item()

            trainer = Engine(train_step)
            trainer.run(train_loader, max_epochs=10)
            """,
            note="ignite: the engine runs the loop",
        ),
        Good(
            """
            import torch

            optimizer_E = torch.optim.Adam(encoder.parameters(), lr=1e-4)
            optimizer_D = torch.optim.Adam(critic.parameters(), lr=1e-4)
            for x in train_loader:
                optimizer_D.zero_grad()
                d_loss(critic, encoder, x).backward()
                optimizer_D.step()
                optimizer_E.zero_grad()
                e_loss(critic, encoder, x).backward()
                optimizer_E.step()
            """,
            note="a GAN clearing each optimizer before its own backward",
        ),
        Good(
            """
            import torch

            optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4)
            optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4)
            for real, _ in dataloader:
                netD.zero_grad()
                errD = criterion(netD(real), ones) + criterion(netD(netG(noise).detach()), zeros)
                errD.backward()
                optimizerD.step()
                netG.zero_grad()
                errG = criterion(netD(netG(noise)), ones)
                errG.backward()
                optimizerG.step()
            """,
            note="pytorch/examples dcgan: each model clears its own gradients",
        ),
        Good(
            """
            from torch.optim import AdamW

            from .fp16_util import zero_grad

            class TrainLoop:
                def __init__(self, model, diffusion, data, lr):
                    self.model_params = list(model.parameters())
                    self.opt = AdamW(self.model_params, lr=lr)

                def run_loop(self):
                    while True:
                        batch, cond = next(self.data)
                        self.run_step(batch, cond)

                def run_step(self, batch, cond):
                    self.forward_backward(batch, cond)
                    self.optimize_normal()

                def forward_backward(self, batch, cond):
                    zero_grad(self.model_params)
                    for i in range(0, batch.shape[0], self.microbatch):
                        loss = self.diffusion.training_losses(self.ddp_model, batch[i : i + self.microbatch])
                        loss.backward()

                def optimize_normal(self):
                    self._anneal_lr()
                    self.opt.step()
            """,
            note="improved-diffusion train_util.py: an imported helper clears the parameters' gradients",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.training_loops:
                scope = (loop, *loop.ancestors)
                clears = [e for l in scope for e in l.events if e.kind == EventKind.ZERO_GRAD]
                steps = [e for e in flow.own_events(loop) if e.kind == EventKind.STEP]
                if not clears:
                    yield self.report(
                        steps[0].node,
                        f"`{steps[0].target}` is stepped after backward() in a loop that never clears gradients: "
                        "they add up over every iteration; call `optimizer.zero_grad()` in each iteration",
                    )
                    continue
                for step in _uncleared(steps, clears, facts):
                    yield self.report(
                        step.node,
                        f"`{step.target}` is stepped in this loop but only {_names(clears)} is cleared: "
                        f"`{step.target}`'s gradients add up over every iteration; call "
                        f"`{step.target}.zero_grad()` in each iteration",
                    )


def _uncleared(steps: list[Event], clears: list[Event], facts: FileFacts) -> list[Event]:
    """Optimizers stepped in the loop that no zero_grad clears, when every zero_grad of the
    loop is an optimizer's own (a GAN clearing `optimizer_E` but not `optimizer_D`). A
    zero_grad on a model or a parameter list may clear any optimizer's parameters: then
    nothing is reported."""
    cleared = {e.target for e in clears}
    if not all(_is_optimizer(t, facts) for t in cleared):
        return []
    out: dict[str, Event] = {}
    for step in steps:
        if step.target and step.target not in cleared and _is_optimizer(step.target, facts):
            out.setdefault(step.target, step)
    return list(out.values())


def _is_optimizer(name: str | None, facts: FileFacts) -> bool:
    return bool(name) and name in facts.loops.optimizers


def _names(clears: list[Event]) -> str:
    return ", ".join(sorted({f"`{e.target}`" for e in clears}))
