from collections.abc import Iterator

import libcst as cst

from trainlint.facts import EventKind, FileFacts, RECURRENT, dotted
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

_NON_FINITE_CHECKS = frozenset({"isnan", "isinf", "isfinite", "isneginf", "isposinf", "nan_to_num"})


class NoGradientClipping(Rule):
    """
    ## What it does
    Finds a training loop that steps the optimizer with no `clip_grad_norm_` /
    `clip_grad_value_` (nor `accelerator.clip_grad_norm_`, `fabric.clip_gradients`).

    This is advice, and it is off by default. It reports everywhere when the
    configuration selects it (`select` or `extend-select` naming TL403, its prefix or
    its name). Without that it reports only a loop whose file shows a symptom that
    clipping addresses: the script guards its loss or gradients against NaN/Inf
    (`torch.isnan(loss)`, `math.isfinite(loss.item())`, ...), which is what diverging
    updates produce (not the overflow test of hand-written fp16 loss scaling, next to a
    change of the loss scale: overflows are expected there), or it builds
    recurrent layers (`nn.LSTM`, `nn.GRU`, `nn.RNN`), whose gradients explode through
    time.

    ## Why is this bad?
    One batch with a huge gradient is enough to throw the weights far away: the loss
    jumps to inf or NaN and training does not recover (seeds 002 §3, 004: the loss
    grows to inf every epoch). Clipping the gradient norm bounds every update.

    ## How to fix
    Between `backward()` and `step()`:
    `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)` (with AMP,
    `scaler.unscale_(optimizer)` first).
    """

    code = "TL403"
    name = "no-gradient-clipping"
    severity = Severity.INFO
    summary = "a training loop with no gradient clipping"
    seeds = ("002 §3", "004")
    default_enabled = False
    runs_on_symptoms = True

    bad = [
        Bad(
            """
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            5,
        ),
        Bad(
            """
            import math
            import torch.nn as nn

            rnn = nn.LSTM(128, 256, num_layers=2)
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(head(rnn(x)[0]), y)
                    if not math.isfinite(loss.item()):
                        continue
                    loss.backward()
                    optimizer.step()
            """,
            12,
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
            note="a helper object of this file whose backward(loss) clips",
        ),
        Good(
            """
            import torch

            def clip_after_backward(model):
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)

            callbacks.on("after_backward", clip_after_backward)
            for x, y in train_loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                callbacks.fire("after_backward", model)
                optimizer.step()
            """,
            note="the file clips, through a callback: where it clips is TL405's question, not TL403's",
        ),
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
            for batch in train_dataloader:
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            """
        ),
        Good(
            """
            def training_step(self, batch, batch_idx):
                x, y = batch
                return self.criterion(self(x), y)
            """,
            note="Lightning clips through the Trainer: no hand loop",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        symptom = "" if self.selected else _symptom(facts)
        if not self.selected and not symptom:
            return
        if any(e.kind == EventKind.CLIP for flow in facts.loops.flows for e in flow.events) or any(
            "clip_grad" in (dotted(call.node.func) or "") for call in facts.calls
        ):
            return  # the file clips somewhere: misplaced clipping is TL405's, not "no clipping"
        for flow in facts.loops.root_flows:
            for loop in flow.training_loops:
                step = next(e for e in flow.own_events(loop) if e.kind == EventKind.STEP)
                yield self.report(
                    step.node,
                    f"no gradient clipping before `{step.target}.step()`{symptom}: one exploding batch can throw the "
                    "weights away; clip with `torch.nn.utils.clip_grad_norm_` after backward()",
                )


def _symptom(facts: FileFacts) -> str:
    for call in facts.calls:
        name = (call.qualname or "").rsplit(".", 1)[-1]
        if name in _NON_FINITE_CHECKS and _about_training(facts, call.node) and not _loss_scaling(facts, call):
            return " while the script guards against NaN/Inf values"
        if call.qualname in RECURRENT:
            return f" in a script with recurrent layers ({name})"
    return ""


def _about_training(facts: FileFacts, call) -> bool:
    """`torch.isnan(loss)`, `math.isfinite(grad_norm)`, `loss.isnan()`: a check on the loss or gradients."""
    text = facts.code(call).lower()
    return "loss" in text or "grad" in text


def _loss_scaling(facts: FileFacts, call) -> bool:
    """The check is the overflow test of hand-written fp16 loss scaling: its function also
    changes the loss scale (`if any(not th.isfinite(p.grad).all() ...): self.lg_loss_scale -= 1`,
    improved-diffusion). Overflows are expected there, as inside GradScaler: no sign of divergence."""
    if call.function is None:
        return False
    for assign in facts.assigns_in(call.function.node):
        node = assign.node
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        if any("loss_scale" in (dotted(t) or "").lower() for t in targets):
            return True
    return False
