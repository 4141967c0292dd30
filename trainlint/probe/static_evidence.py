"""What confirms or refutes a static finding that no runtime rule measures on its own: one
function per static code, `(measurements, finding) -> Evidence`.

The verdicts (trainlint.probe.analyze) read `EVIDENCE`; a static code a runtime
rule confirms (its `confirms`) is read from that rule's evidence instead, so a new
runtime rule needs no entry here. Pure Python over the typed report.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from trainlint.finding import Finding
from trainlint.probe.evidence import Evidence
from trainlint.probe.measurements import Measurements, shape
from trainlint.probe.numbers import as_float, finite, fmt
from trainlint.probe.schema import EvalPass, LossCall


def _first_call(m: Measurements, fn: str) -> LossCall | None:
    calls = m.loss_calls(fn)
    return calls[0] if calls else None


def softmax_into_ce(m: Measurements, finding: Finding) -> Evidence:
    """TL302: the inputs of cross_entropy are probabilities."""
    entry = _first_call(m, "cross_entropy")
    if entry is None:
        return Evidence(False, message="no cross_entropy call was seen")
    if m.probabilities(entry):
        return Evidence(True, True, f"the inputs of cross_entropy are probabilities: all in "
                                    f"[{fmt(entry.min)}, {fmt(entry.max)}], every row sums to 1 "
                                    f"(max deviation {fmt(entry.row_sum_dev)})", {"min": entry.min}, entry.site)
    return Evidence(True, False, f"cross_entropy inputs range [{fmt(entry.min)}, {fmt(entry.max)}], "
                                 "rows do not sum to 1: raw logits")


def nonneg_logits(m: Measurements, finding: Finding) -> Evidence:
    """TL306: the smallest logit fed to cross_entropy is not negative."""
    entry = _first_call(m, "cross_entropy")
    if entry is None:
        return Evidence(False, message="no cross_entropy call was seen")
    low = as_float(entry.min)
    return Evidence(True, finite(low) and low >= 0, f"smallest logit fed to cross_entropy: {fmt(low)}",
                    {"min": low}, entry.site)


def nll_input(m: Measurements, finding: Finding) -> Evidence:
    """TL304: nll_loss fed something other than log-probabilities."""
    entry = _first_call(m, "nll_loss")
    if entry is None:
        return Evidence(False, message="no nll_loss call was seen")
    dev = entry.exp_row_sum_dev
    is_log_probs = dev is not None and as_float(dev) < 1e-3 and as_float(entry.max) <= 1e-6
    text = f"nll_loss inputs range [{fmt(entry.min)}, {fmt(entry.max)}]"
    if dev is not None:
        text += f"; exp(rows) sum to 1 within {fmt(dev)}"
    return Evidence(True, not is_log_probs, text, {"max": entry.max}, entry.site)


def bce_multiclass(m: Measurements, finding: Finding) -> Evidence:
    """TL301: binary cross-entropy on a softmax over several classes."""
    calls = m.loss_calls("binary_cross_entropy") + m.loss_calls("binary_cross_entropy_with_logits")
    if not calls:
        return Evidence(False, message="no binary_cross_entropy call was seen")
    entry = calls[0]
    probs = m.probabilities(entry)
    return Evidence(True, bool(entry.classes and entry.classes > 1 and probs),
                    f"{entry.fn} on inputs of shape {shape(entry.shape)}"
                    + (", rows are a softmax (sum to 1)" if probs else ""), {"shape": entry.shape}, entry.site)


def batch_size(m: Measurements, finding: Finding) -> Evidence:
    """TL103: a training batch size of 1."""
    sizes = [ld.batch_size for ld in m.train_loaders if ld.batch_size is not None]
    if not sizes:
        return Evidence(False, message="no training DataLoader was seen")
    return Evidence(True, 1 in sizes, f"training batch size {sizes[0]}", {"batch_size": sizes[0]},
                    m.train_loaders[0].site)


def grad_carried(m: Measurements, finding: Finding) -> Evidence:
    """TL401: backward() started with the previous step's gradients still in .grad."""
    if m.steps < 1 or m.backward < 2:
        return Evidence(False, message="fewer than two iterations with an optimizer step")
    carried = m.r.grad_carried_over
    if carried:
        c = carried[0]
        return Evidence(True, True, f"at iteration {c.iteration} backward() started with the previous "
                                    f"gradients still in {c.params} of {c.of} parameters (they accumulate)",
                        c.to_json(), m.backward_site)
    return Evidence(True, False, "gradients were cleared between optimizer steps")


def step_without_grad(m: Measurements, finding: Finding) -> Evidence:
    """TL402: optimizer.step() saw no gradient."""
    if m.steps < 1:
        return Evidence(False, message="no optimizer step was made")
    bad = m.r.steps_without_grad
    if bad:
        return Evidence(True, True, f"optimizer.step() saw no gradient at all at step(s) {', '.join(map(str, bad))}",
                        {"steps": bad}, m.optimizer_site)
    return Evidence(True, False, "optimizer.step() saw gradients at the first steps")


def scheduler_order(m: Measurements, finding: Finding) -> Evidence:
    """TL406: torch warned that lr_scheduler.step() ran before optimizer.step()."""
    if m.steps < 1:
        return Evidence(False, message="no optimizer step was made")
    warnings = m.r.scheduler_warnings
    if warnings:
        return Evidence(True, True, f"torch warned: {warnings[0]}", {"warning": warnings[0]})
    return Evidence(True, False, "torch did not warn that lr_scheduler.step() ran before optimizer.step()")


def scheduler_granularity(m: Measurements, finding: Finding) -> Evidence:
    """TL409: how often each epoch- or batch-based scheduler was stepped per optimizer step."""
    from trainlint.facts.vocabulary import BATCH_SCHEDULERS as BATCH, EPOCH_SCHEDULERS as EPOCH

    # the probe records a scheduler's class name (`type(scheduler).__name__`)
    epoch_schedulers = {q.rsplit(".", 1)[-1] for q in EPOCH}
    batch_schedulers = {q.rsplit(".", 1)[-1] for q in BATCH}

    known = [s for s in m.r.schedulers if s.type in epoch_schedulers | batch_schedulers]
    if not known:
        return Evidence(False, message="no StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR "
                                       "or CyclicLR was built")
    # a step() is often counted before or after its batch's optimizer step: one off is per batch
    seen = [s for s in known if s.steps >= 3]
    if not seen:
        return Evidence(False, message=f"fewer than 3 optimizer steps after the {known[0].type} was built")
    for s in seen:
        every_batch = s.calls >= s.steps - 1
        numbers = {"scheduler": s.type, "calls": s.calls, "optimizer_steps": s.steps}
        if s.type in epoch_schedulers and every_batch:
            return Evidence(True, True, f"{s.type}.step() ran {s.calls} times in {s.steps} optimizer "
                                        "steps: once per batch, so its period counts batches, not epochs",
                            numbers, s.site)
        if s.type in batch_schedulers and s.calls == 0:
            return Evidence(True, True, f"{s.type}.step() did not run in {s.steps} optimizer steps: "
                                        "the learning rate stays where the cycle starts for the whole epoch",
                            numbers, s.site)
    s = seen[0]
    return Evidence(True, False, f"{s.type}.step() ran {s.calls} times in {s.steps} optimizer steps",
                    {"scheduler": s.type, "calls": s.calls, "optimizer_steps": s.steps})


def _evaluation(m: Measurements) -> tuple[EvalPass | None, str]:
    """The first evaluation pass, or why there is none to judge."""
    if m.r.eval_passes:
        return m.r.eval_passes[0], ""
    hint = "" if m.r.through_eval else "; `trainlint probe --through-eval` runs on to the first one"
    return None, f"no evaluation pass (the trained model under no_grad) ran in the probed steps{hint}"


def eval_mode(m: Measurements, finding: Finding) -> Evidence:
    """TL501: the evaluation's forward passes ran in training mode."""
    first, why = _evaluation(m)
    if first is None:
        return Evidence(False, message=why)
    when = f"the evaluation after step {first.after_step}"
    numbers = {"after_step": first.after_step, "forwards": first.forwards,
               "in_train_mode": first.in_train_mode, "mode_layers": first.mode_layers}
    if not first.mode_layers:
        return Evidence(True, False, f"{when} ran in training mode, but the {first.module} has no dropout or "
                                     "batch norm: its mode changes nothing", numbers)
    if not first.in_train_mode:
        return Evidence(True, False, f"{when}: all {first.forwards} forward passes ran in eval mode", numbers)
    return Evidence(True, True, f"{when}: {first.in_train_mode} of {first.forwards} forward passes of the "
                                f"{first.module} ran in training mode, so its {', '.join(first.mode_layers)} "
                                "acted as in training (dropout on, batch statistics updated with evaluation data)",
                    numbers)


def train_mode_restored(m: Measurements, finding: Finding) -> Evidence:
    """TL502: training went on in eval mode after an evaluation."""
    first, why = _evaluation(m)
    if first is None:
        return Evidence(False, message=why)
    after = m.r.after_eval
    if not after:
        return Evidence(False, message=f"no training step ran after the evaluation after step {first.after_step}")
    frozen = sum(1 for a in after if not a.training)
    numbers = {"after_step": first.after_step, "training_forwards": len(after), "in_eval_mode": frozen,
               "mode_layers": first.mode_layers}
    if not frozen:
        return Evidence(True, False, f"after the evaluation after step {first.after_step}, all {len(after)} "
                                     "training forward passes ran in training mode", numbers)
    layers = f": its {', '.join(first.mode_layers)} stay in inference behaviour" if first.mode_layers else ""
    return Evidence(True, bool(first.mode_layers),
                    f"after the evaluation after step {first.after_step}, {frozen} of {len(after)} training "
                    f"forward passes of the {first.module} ran in eval mode{layers}", numbers)


def double_step(m: Measurements, finding: Finding) -> Evidence:
    """TL414: an optimizer stepped twice on the gradients of one backward()."""
    if m.steps < 1:
        return Evidence(False, message="no optimizer step was made")
    doubles = m.r.double_steps
    if not doubles:
        return Evidence(True, False, f"each of the {m.steps} optimizer steps followed a backward() of its own")
    first = doubles[0]
    return Evidence(True, True, f"{first.optimizer}.step() ran again on the gradients of backward() call "
                                f"{first.backward} (optimizer step {first.step}; {len(doubles)} time(s)): "
                                "the same update applied twice", {"double_steps": len(doubles), **first.to_json()})


def optimizer_rebuilt(m: Measurements, finding: Finding) -> Evidence:
    """TL411: an optimizer built after the first step."""
    if m.steps < 1:
        return Evidence(False, message="no optimizer step was made")
    n = int(m.r.optimizers_after_first_step or 0)
    return Evidence(True, n > 0, f"{n} optimizer(s) built after the first step within {m.steps} steps",
                    {"rebuilt": n})


def _weights_at_first_step(m: Measurements, names: list[str], what: str) -> Evidence:
    """The weight tensors the first optimizer step found `what`."""
    if m.steps < 1:
        return Evidence(False, message="no optimizer step was made")
    return Evidence(True, bool(names), f"{len(names)} weight tensor(s) {what} at the first step"
                    + (f": {', '.join(names[:4])}" if names else ""), {"parameters": names})


def constant_weights(m: Measurements, finding: Finding) -> Evidence:
    """TL601: a weight tensor constant at the first step."""
    return _weights_at_first_step(m, m.r.constant_weights, "constant")


def huge_weights(m: Measurements, finding: Finding) -> Evidence:
    """TL602: a weight non-finite or huge at the first step."""
    return _weights_at_first_step(m, m.r.huge_weights, "non-finite or > 1e6")


def stored_graph(m: Measurements, finding: Finding) -> Evidence:
    """TL203: a module attribute (the one the finding's line assigns) held a tensor with its graph."""
    if not m.backward:
        return Evidence(False, message="no backward() call was made")
    stored = m.r.stored_graphs
    attr = _assigned_attribute(os.path.abspath(finding.path), finding.location.row)
    if attr is not None:
        stored = [s for s in stored if s.attr == attr]
    if not stored:
        what = f"`self.{attr}`" if attr else "no module attribute"
        return Evidence(True, False, f"{what} held no tensor with an autograd graph after backward()")
    total = sum(s.bytes for s in stored)
    names = ", ".join(f"{s.cls}.{s.attr} {shape(s.shape)}" for s in stored[:4])
    return Evidence(True, True, f"after backward() {names} still held the batch's tensor with its grad_fn "
                                f"({fmt(total / 1024)} KiB kept alive until the next forward)",
                    {"attributes": [s.attr for s in stored], "bytes": total})


def _assigned_attribute(path: str, row: int) -> str | None:
    """`x` for a line `self.x = ...` (the line a TL203 finding points at)."""
    try:
        line = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[row - 1]
    except (OSError, IndexError):
        return None
    match = re.match(r"\s*self\.(\w+)\s*(?::[^=]*)?=", line)
    return match.group(1) if match else None


def _loss_flat(m: Measurements) -> Evidence:
    losses = [x for x in m.losses if finite(x)]
    if len(losses) < 5:
        return Evidence(False, message=f"{len(losses)} loss value(s)")
    change = abs(losses[-1] - losses[0]) / max(abs(losses[0]), 1e-12)
    return Evidence(True, change < 0.005, f"loss {fmt(losses[0])} → {fmt(losses[-1])} over {len(losses)} "
                    f"iterations ({fmt(change * 100)}% change)", {"change": change}, m.backward_site)


def lr_effect(m: Measurements, finding: Finding) -> Evidence:
    """TL408: what a learning rate far out of range does: a non-finite or growing loss, exploding
    gradients, a stalled training, or a loss that does not move."""
    parts = [m.measure("TL901"), m.measure("TL907"), m.measure("TL902")]
    observable = [e for e in parts if e.observable]
    if not observable:
        return Evidence(False, message="fewer than two iterations")
    optimizers = [o for o in m.r.optimizers if o.groups]
    if len(optimizers) > 1:  # say which optimizer has which rate (a GAN's two)
        lr_text = "lr " + ", ".join(f"{', '.join(fmt(g.lr) for g in o.groups if g.lr is not None)} "
                                    f"({o.type})" for o in optimizers) + "; "
    else:
        lrs = m.r.lrs
        lr_text = f"lr {', '.join(fmt(x) for x in lrs[0])}; " if lrs and lrs[0] else ""
    hit = next((e for e in observable if e.present), None)
    if hit is not None:
        return Evidence(True, True, lr_text + hit.message, hit.numbers, hit.site)
    stalled = m.measure("TL912")
    if stalled.present:
        return Evidence(True, True, lr_text + "training stalled: " + stalled.message, stalled.numbers, stalled.site)
    flat = _loss_flat(m)
    if flat.present:
        return Evidence(True, True, lr_text + "the loss does not move: " + flat.message, flat.numbers, flat.site)
    return Evidence(True, False, lr_text + "; ".join(e.message for e in observable[1:] or observable))


#: static code -> the evidence that confirms it, for the codes no runtime rule `confirms`.
#: A code neither here nor in a runtime rule's `confirms` is "not observable".
EVIDENCE: dict[str, Callable[[Measurements, Finding], Evidence]] = {
    "TL103": batch_size,
    "TL203": stored_graph,
    "TL301": bce_multiclass,
    "TL302": softmax_into_ce,
    "TL304": nll_input,
    "TL306": nonneg_logits,
    "TL401": grad_carried,
    "TL402": step_without_grad,
    "TL406": scheduler_order,
    "TL408": lr_effect,
    "TL409": scheduler_granularity,
    "TL411": optimizer_rebuilt,
    "TL414": double_step,
    "TL501": eval_mode,
    "TL502": train_mode_restored,
    "TL601": constant_weights,
    "TL602": huge_weights,
}
