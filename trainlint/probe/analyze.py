"""Measurements -> runtime findings (TL901-TL911) and verdicts on static findings.

Pure Python over the child's JSON report: no torch here, so this runs (and is tested)
anywhere.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from typing import TYPE_CHECKING

from trainlint.finding import Finding, Location
from trainlint.probe.thresholds import Thresholds
from trainlint.project import display_path

if TYPE_CHECKING:
    from trainlint.config import Config
    from trainlint.rule import Rule

CONFIRMED, NOT_CONFIRMED, NOT_OBSERVABLE = "confirmed", "not confirmed", "not observable"


# numbers -------------------------------------------------------------------------
def _f(x) -> float:
    if isinstance(x, str):
        return float(x)  # "nan", "inf"
    return float(x) if x is not None else float("nan")


def _finite(x) -> bool:
    v = _f(x)
    return not (math.isnan(v) or math.isinf(v))


def fmt(x) -> str:
    v = _f(x)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3g}"


@dataclass
class Evidence:
    """What the probe measured for one symptom: observable or not, the finding's message, numbers."""

    observable: bool
    present: bool = False
    message: str = ""
    numbers: dict = field(default_factory=dict)
    site: dict | None = None


class Measurements:
    """The rank-0 report with the derived numbers every check and verdict reads."""

    def __init__(self, report: dict, thresholds: Thresholds) -> None:
        self.r = report
        self.t = thresholds
        self.backward = int(report.get("backward_calls") or 0)
        self.steps = int(report.get("optimizer_steps") or 0)
        self.has_optimizer = bool(report.get("optimizers"))
        self.losses = [_f(x) for x in report.get("losses", [])]
        self.grad_norms = [_f(x) for x in report.get("grad_norms", [])]
        self.train_loaders = [ld for ld in report.get("loaders", []) if self._is_training(ld)]

    def _is_training(self, loader: dict) -> bool:
        """A loader whose batches were trained on: backward calls happened between its fetches."""
        marks = [b.get("backward_before", 0) for b in loader.get("batches", [])]
        if len(marks) >= 2:
            return marks[-1] > marks[0]
        loaders = self.r.get("loaders", [])
        return len(marks) == 1 and len(loaders) == 1 and self.backward > marks[0]

    @property
    def optimizer_site(self) -> dict | None:
        opts = self.r.get("optimizers") or []
        return opts[0].get("site") if opts else None

    @property
    def backward_site(self) -> dict | None:
        return self.r.get("backward_site") or self.optimizer_site

    # ------------------------------------------------------------------ evidence
    def nonfinite(self) -> Evidence:
        if not self.backward:
            return Evidence(False, message="no backward() call was made")
        loss = self.r.get("nonfinite_loss")
        grad = self.r.get("nonfinite_grad")
        act = self.r.get("nonfinite_activation")
        if not loss and not grad:
            finite_losses = [x for x in self.losses if _finite(x)]
            return Evidence(True, message=f"loss and gradients finite over {self.backward} iterations"
                            + (f" (loss {fmt(finite_losses[0])} → {fmt(finite_losses[-1])})" if finite_losses else ""))
        parts = []
        if loss:
            parts.append(f"the loss is {loss['value']} at iteration {loss['iteration']}")
        if grad:
            parts.append(f"gradients of {grad['count']} layer{'s' if grad['count'] != 1 else ''} are non-finite at "
                         f"iteration {grad['iteration']} (first: `{grad['layers'][0]}`)")
        site = self.backward_site
        if act:
            origin = f"module `{act['module']}` ({act['type']})"
            if act.get("inputs_finite") is False:
                parts.append(f"the inputs of {origin} were already non-finite at iteration {act['iteration']}")
            else:
                parts.append(f"the first non-finite activation is the output of {origin} at iteration {act['iteration']}")
            site = act.get("site") or site
        first_finite = next((x for x in self.losses if _finite(x)), None)
        if first_finite is not None:
            parts.append(f"first loss {fmt(first_finite)}")
        return Evidence(True, True, "; ".join(parts), {"loss": loss, "grad": grad, "activation": act}, site)

    def exploding(self) -> Evidence:
        norms = self.grad_norms
        if len(norms) < 2:
            return Evidence(False, message=f"{len(norms)} gradient measurement(s)")
        first = norms[0]
        finite = [x for x in norms if _finite(x)]
        peak = max(finite) if finite else float("nan")
        if not _finite(first) or first <= 0:  # non-finite from the start is TL901's
            return Evidence(True, False, f"first gradient norm {fmt(first)}", {"first": first})
        growth = peak / first
        at = norms.index(peak) + 1 if finite else None
        numbers = {"first": first, "max": peak, "growth": growth, "at_iteration": at, "last": norms[-1],
                   "threshold": self.t.grad_growth}
        text = (f"total gradient norm {fmt(first)} at iteration 1 → {fmt(peak)} at iteration {at} "
                f"({fmt(growth)}× the first, threshold {fmt(self.t.grad_growth)}×)")
        nonfinite = any(not _finite(x) for x in norms)
        if nonfinite:
            text += "; then non-finite"
        falling = self._loss_falls()
        if growth >= self.t.grad_growth and falling and not nonfinite:
            # an LSTM's gradients grow tenfold from a tiny start while it learns: not a divergence
            text += f"; the loss fell meanwhile ({fmt(self.losses[0])} → {fmt(self.losses[-1])}): growth, not explosion"
        numbers["loss_falls"] = falling
        return Evidence(True, nonfinite or (growth >= self.t.grad_growth and not falling), text, numbers,
                        self.backward_site)

    def _loss_falls(self) -> bool:
        """Whether the loss went down over the probed iterations (medians of the first and last three)."""
        losses = self.losses
        if len(losses) < 2 or not all(_finite(x) for x in losses):
            return False
        k = 3 if len(losses) >= 6 else 1
        return statistics.median(losses[-k:]) < statistics.median(losses[:k])

    def loss_growth(self) -> Evidence:
        losses = self.losses
        if len(losses) < 2:
            return Evidence(False, message=f"{len(losses)} loss value(s)")
        first = losses[0]
        if not _finite(first) or first <= 0:
            return Evidence(True, False, f"first loss {fmt(first)}", {"first": first})
        finite = [x for x in losses if _finite(x)]
        peak = max(finite)
        growth = peak / first
        at = losses.index(peak) + 1
        nonfinite = len(finite) < len(losses)
        numbers = {"first": first, "max": peak, "last": losses[-1], "growth": growth, "at_iteration": at,
                   "iterations": len(losses), "threshold": self.t.loss_growth}
        text = (f"loss {fmt(first)} at iteration 1 → {fmt(peak)} at iteration {at} "
                f"({fmt(growth)}× the first, threshold {fmt(self.t.loss_growth)}×); last {fmt(losses[-1])}")
        if nonfinite:
            text += ", then non-finite"
        return Evidence(True, growth >= self.t.loss_growth or nonfinite, text, numbers, self.backward_site)

    def loss_flat(self) -> Evidence:
        losses = [x for x in self.losses if _finite(x)]
        if len(losses) < 5:
            return Evidence(False, message=f"{len(losses)} loss value(s)")
        change = abs(losses[-1] - losses[0]) / max(abs(losses[0]), 1e-12)
        return Evidence(True, change < 0.005, f"loss {fmt(losses[0])} → {fmt(losses[-1])} over {len(losses)} "
                        f"iterations ({fmt(change * 100)}% change)", {"change": change}, self.backward_site)

    def vanishing(self) -> Evidence:
        ratios = [x for x in self.r.get("ratios", []) if _finite(x)]
        if not ratios:
            return Evidence(False, message="fewer than two weight layers got gradients")
        median = statistics.median(ratios)
        first, last = (self.r.get("ratio_layers") or ["first", "last"])[:2]
        layers = {layer["name"]: layer for layer in self.r.get("layers", [])}
        text = (f"gradient norm of the first weight layer ({first}) / last ({last}): median {fmt(median)} over "
                f"{len(ratios)} iterations (threshold {fmt(self.t.vanishing_ratio)}; healthy nets: 0.02–3)")
        site = (layers.get(first) or {}).get("site")
        return Evidence(True, median < self.t.vanishing_ratio, text,
                        {"ratio": median, "first_layer": first, "last_layer": last, "threshold": self.t.vanishing_ratio},
                        site)

    def dead_units(self) -> Evidence:
        constant = self.constant_inputs()
        if constant.observable and constant.present:  # identical inputs: units are all on or all off (TL911's echo)
            return Evidence(True, False, "not judged: the training inputs are constant (" + constant.message + ")")
        rows = []
        for act in self.r.get("activations", []):
            values = act.get("values") or []
            if values:
                tail = values[-3:]
                rows.append((sum(tail) / len(tail), f"`{act['name']}` ({act.get('type')})", act["kind"], act.get("site")))
        layers = self.r.get("layers", [])
        weight_layers = [layer for layer in layers if layer.get("zero_rows")]
        for layer in weight_layers[:-1]:  # the output layer's rows are the classes
            tail = layer["zero_rows"][-3:]
            rows.append((sum(tail) / len(tail), f"`{layer['name']}` ({layer.get('module')})", "zero-gradient",
                         layer.get("site")))
        if not rows:
            return Evidence(False, message="no activation module and no weight layer gradient was seen")
        bad = sorted((r for r in rows if r[0] >= self.t.dead_fraction), key=lambda r: -r[0])
        worst = max(rows, key=lambda r: r[0])
        describe = {"relu": "dead (zero for the whole batch)", "sigmoid": "saturated (<0.01 or >0.99)",
                    "tanh": "saturated (|x|>0.99)", "zero-gradient": "without gradient (dead units after it)"}
        if bad:
            head = bad[0]
            text = (f"{len(bad)} layer{'s' if len(bad) != 1 else ''} with ≥{fmt(self.t.dead_fraction * 100)}% units "
                    f"dead or saturated; worst: {head[1]} {fmt(head[0] * 100)}% {describe[head[2]]}")
            return Evidence(True, True, text, {"layers": [{"name": b[1], "fraction": b[0], "kind": b[2]} for b in bad]},
                            head[3])
        return Evidence(True, False, f"at most {fmt(worst[0] * 100)}% units dead or saturated per layer ({worst[1]})",
                        {"max_fraction": worst[0]})

    def not_optimized(self, site_file: str | None = None, rows: tuple[int, int] | None = None) -> Evidence:
        crash = self.crash_in_module_built_at(site_file, rows)
        if crash is not None:
            return crash
        if not self.backward:
            return Evidence(False, message="no backward() call was made")
        if not self.has_optimizer:
            return Evidence(False, message="the script built no torch.optim optimizer")
        entries = self.r.get("not_optimized", [])
        if not entries:
            return Evidence(True, False, f"every parameter that received a gradient over {self.backward} iterations "
                                         "is in an optimizer param group")
        if site_file is not None:
            local = [e for e in entries if e.get("site") and _same_file(e["site"]["file"], site_file)]
            if rows is not None:
                exact = [e for e in local if rows[0] <= e["site"]["line"] <= rows[1]]
                local = exact or local
            if not local:
                where = _where(entries[0].get("site"))
                return Evidence(True, False, f"{len(entries)} parameter(s) not optimized, but built elsewhere ({where})")
            entries = local
        numel = sum(e.get("numel", 0) for e in entries)
        names = ", ".join(f"{e['name']} {_shape(e['shape'])}" for e in entries[:4])
        more = f" and {len(entries) - 4} more" if len(entries) > 4 else ""
        first = entries[0]
        module = f" ({first['module']}({first['module_args']}))" if first.get("module") and first.get("module_args") else ""
        text = (f"{len(entries)} parameter{'s' if len(entries) != 1 else ''} ({numel} values) received gradients "
                f"but are in no optimizer param group: {names}{more}{module}; seen on "
                f"{max(e['iterations'] for e in entries)} of {self.backward} iterations")
        return Evidence(True, True, text, {"parameters": [e["name"] for e in entries], "count": len(entries),
                                           "numel": numel}, first.get("site"))

    def crash_in_module_built_at(self, site_file: str | None, rows: tuple[int, int] | None) -> Evidence | None:
        """The script died inside a module built at these lines, on a device or dtype mismatch.

        A layer that forward() builds is no part of the model, so model.to("cuda") or
        model.half() never reaches it: on the GPU the seed 004 ResNet dies at its first call."""
        exc = self.r.get("exception") or {}
        module = exc.get("module") or {}
        site = module.get("site")
        if (site is None or site_file is None or rows is None or not _same_file(site["file"], site_file)
                or not rows[0] <= site["line"] <= rows[1] or not MISMATCH.search(exc.get("message", ""))):
            return None
        args = f"({module['args']})" if module.get("args") else ""
        held = f" holds its weights on {module['device']} as {module['dtype']}" if module.get("device") else ""
        message = exc["message"].splitlines()[0][:200]
        text = (f"the script raised {exc['type']} inside the {module['type']}{args} built at {_where(site)}, which"
                f"{held}: {message} — built in forward(), it is not part of the model, so moving or casting "
                f"the model never reaches it")
        return Evidence(True, True, text, {"exception": exc["type"], "module": module["type"],
                                           "device": module.get("device"), "dtype": module.get("dtype")}, site)

    def without_grad(self) -> Evidence:
        if not self.backward or not self.has_optimizer:
            return Evidence(False, message="no backward() call was made" if not self.backward else "no optimizer")
        entries = self.r.get("without_grad", [])
        if not entries:
            return Evidence(True, False, f"every optimized parameter got a gradient within {self.backward} iterations")
        names = ", ".join(f"{e['name']} {_shape(e['shape'])}" for e in entries[:4])
        more = f" and {len(entries) - 4} more" if len(entries) > 4 else ""
        return Evidence(True, True, f"{len(entries)} optimized parameter{'s' if len(entries) != 1 else ''} never got a "
                                    f"gradient from the loss in {self.backward} iterations: {names}{more}",
                        {"parameters": [e["name"] for e in entries], "count": len(entries)}, self.optimizer_site)

    def _loss_calls(self, fn: str) -> list[dict]:
        return [e for e in self.r.get("loss_fns", []) if e["fn"] == fn]

    def _probabilities(self, entry: dict) -> bool:
        return (entry.get("min") is not None and _f(entry["min"]) >= 0 and _f(entry.get("max", 2)) <= 1
                and entry.get("row_sum_dev") is not None and _f(entry["row_sum_dev"]) < 1e-3)

    def initial_loss(self) -> Evidence:
        calls = [e for e in self._loss_calls("cross_entropy") if e.get("classes")]
        if not calls:
            return Evidence(False, message="no cross_entropy call with class scores was seen")
        entry = calls[0]
        classes = entry["classes"]
        expected = math.log(classes)
        loss = _f(entry.get("loss"))
        text = (f"cross-entropy at the first step {fmt(loss)} vs ln({classes}) = {fmt(expected)} "
                f"(threshold {fmt(self.t.initial_loss_factor)}×)")
        # a non-finite first loss is TL901's
        present = _finite(loss) and loss >= self.t.initial_loss_factor * expected and not self._probabilities(entry)
        return Evidence(True, present, text, {"loss": loss, "classes": classes, "expected": expected},
                        entry.get("site"))

    def softmax_into_ce(self) -> Evidence:
        calls = self._loss_calls("cross_entropy")
        if not calls:
            return Evidence(False, message="no cross_entropy call was seen")
        entry = calls[0]
        if self._probabilities(entry):
            return Evidence(True, True, f"the inputs of cross_entropy are probabilities: all in "
                                        f"[{fmt(entry['min'])}, {fmt(entry['max'])}], every row sums to 1 "
                                        f"(max deviation {fmt(entry['row_sum_dev'])})", {"min": entry["min"]},
                            entry.get("site"))
        return Evidence(True, False, f"cross_entropy inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}], "
                                     "rows do not sum to 1: raw logits")

    def nonneg_logits(self) -> Evidence:
        calls = self._loss_calls("cross_entropy")
        if not calls:
            return Evidence(False, message="no cross_entropy call was seen")
        entry = calls[0]
        low = _f(entry.get("min"))
        return Evidence(True, _finite(low) and low >= 0, f"smallest logit fed to cross_entropy: {fmt(low)}",
                        {"min": low}, entry.get("site"))

    def nll_input(self) -> Evidence:
        calls = self._loss_calls("nll_loss")
        if not calls:
            return Evidence(False, message="no nll_loss call was seen")
        entry = calls[0]
        dev = entry.get("exp_row_sum_dev")
        is_log_probs = dev is not None and _f(dev) < 1e-3 and _f(entry.get("max", 1)) <= 1e-6
        return Evidence(True, not is_log_probs,
                        f"nll_loss inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}]; exp(rows) sum to 1 "
                        f"within {fmt(dev) if dev is not None else '?'}" if dev is not None else
                        f"nll_loss inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}]",
                        {"max": entry.get("max")}, entry.get("site"))

    def bce_multiclass(self) -> Evidence:
        calls = self._loss_calls("binary_cross_entropy") + self._loss_calls("binary_cross_entropy_with_logits")
        if not calls:
            return Evidence(False, message="no binary_cross_entropy call was seen")
        entry = calls[0]
        classes = entry.get("classes")
        probs = self._probabilities(entry)
        return Evidence(True, bool(classes and classes > 1 and probs),
                        f"{entry['fn']} on inputs of shape {_shape(entry['shape'])}"
                        + (", rows are a softmax (sum to 1)" if probs else ""), {"shape": entry["shape"]},
                        entry.get("site"))

    def _loader_summary(self) -> tuple[list[dict], dict | None]:
        batches = [b for ld in self.train_loaders for b in ld.get("batches", []) if "mean" in b]
        return batches, (self.train_loaders[0].get("site") if self.train_loaders else None)

    def inputs(self) -> Evidence:
        batches, site = self._loader_summary()
        if not batches:
            return Evidence(False, message="no training DataLoader batch with float or uint8 inputs was seen")
        mean = statistics.fmean(_f(b["mean"]) for b in batches)
        std = statistics.fmean(_f(b["std"]) for b in batches)
        low = min(_f(b["min"]) for b in batches)
        high = max(_f(b["max"]) for b in batches)
        text = (f"first {len(batches)} training batches: input mean {fmt(mean)}, std {fmt(std)}, range "
                f"[{fmt(low)}, {fmt(high)}] (thresholds |mean| > {fmt(self.t.input_mean)}, std > {fmt(self.t.input_std)})")
        present = abs(mean) > self.t.input_mean or std > self.t.input_std
        return Evidence(True, present, text, {"mean": mean, "std": std, "min": low, "max": high, "batches": len(batches)},
                        site)

    def constant_inputs(self) -> Evidence:
        batches, site = self._loader_summary()
        if not batches:
            return Evidence(False, message="no training DataLoader batch with float inputs was seen")
        flat = [b for b in batches if _f(b["std"]) < self.t.constant_std]
        return Evidence(True, len(flat) * 2 > len(batches),
                        f"{len(flat)} of the first {len(batches)} training batches have input std < {fmt(self.t.constant_std)}",
                        {"constant_batches": len(flat), "batches": len(batches)}, site)

    def shuffle(self) -> Evidence:
        for loader in self.train_loaders:
            labelled = [b["labels"] for b in loader.get("batches", []) if b.get("labels")]
            labelled = [h for h in labelled if sum(h.values()) >= 2]
            if len(labelled) < 2:
                continue
            shares, majors = [], []
            for hist in labelled:
                total = sum(hist.values())
                cls, count = max(hist.items(), key=lambda kv: kv[1])
                shares.append(count / total)
                majors.append(cls)
            single = sum(1 for s in shares if s >= self.t.single_class_share)
            sequential = loader.get("sampler") in ("SequentialSampler", "_InfiniteConstantSampler")
            present = single > self.t.single_class_batches * len(shares) and (sequential or len(set(majors)) > 1)
            classes = sorted({c for h in labelled for c in h}, key=lambda c: int(c) if c.isdigit() else 0)
            text = (f"{single} of the first {len(shares)} training batches hold ≥{fmt(self.t.single_class_share * 100)}% "
                    f"one class (majority classes in order: {', '.join(majors[:8])}; sampler {loader.get('sampler')}; "
                    f"{len(classes)} classes seen)")
            return Evidence(True, present, text, {"single_class_batches": single, "batches": len(shares),
                                                   "majority_classes": majors, "sampler": loader.get("sampler")},
                            loader.get("site"))
        return Evidence(False, message="no training DataLoader batch with class labels was seen")

    def batch_size(self) -> Evidence:
        sizes = [ld.get("batch_size") for ld in self.train_loaders if ld.get("batch_size") is not None]
        if not sizes:
            return Evidence(False, message="no training DataLoader was seen")
        return Evidence(True, 1 in sizes, f"training batch size {sizes[0]}", {"batch_size": sizes[0]},
                        self.train_loaders[0].get("site"))

    def grad_carried(self) -> Evidence:
        if self.steps < 1 or self.backward < 2:
            return Evidence(False, message="fewer than two iterations with an optimizer step")
        carried = self.r.get("grad_carried_over", [])
        if carried:
            c = carried[0]
            return Evidence(True, True, f"at iteration {c['iteration']} backward() started with the previous "
                                        f"gradients still in {c['params']} of {c['of']} parameters (they accumulate)",
                            c, self.backward_site)
        return Evidence(True, False, "gradients were cleared between optimizer steps")

    def step_without_grad(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        bad = self.r.get("steps_without_grad", [])
        if bad:
            return Evidence(True, True, f"optimizer.step() saw no gradient at all at step(s) {', '.join(map(str, bad))}",
                            {"steps": bad}, self.optimizer_site)
        return Evidence(True, False, "optimizer.step() saw gradients at the first steps")

    def scheduler_order(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        warnings = self.r.get("scheduler_warnings", [])
        if warnings:
            return Evidence(True, True, f"torch warned: {warnings[0]}", {"warning": warnings[0]})
        return Evidence(True, False, "torch did not warn that lr_scheduler.step() ran before optimizer.step()")

    def scheduler_granularity(self) -> Evidence:
        """How often each epoch- or batch-based scheduler was stepped per optimizer step."""
        from trainlint.facts.vocabulary import BATCH_SCHEDULERS as BATCH, EPOCH_SCHEDULERS as EPOCH

        # the probe records a scheduler's class name (`type(scheduler).__name__`)
        EPOCH_SCHEDULERS = {q.rsplit(".", 1)[-1] for q in EPOCH}
        BATCH_SCHEDULERS = {q.rsplit(".", 1)[-1] for q in BATCH}
        known = [s for s in self.r.get("schedulers", []) if s["type"] in EPOCH_SCHEDULERS | BATCH_SCHEDULERS]
        if not known:
            return Evidence(False, message="no StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR "
                                           "or CyclicLR was built")
        # a step() is often counted before or after its batch's optimizer step: one off is per batch
        seen = [s for s in known if s["steps"] >= 3]
        if not seen:
            return Evidence(False, message=f"fewer than 3 optimizer steps after the {known[0]['type']} was built")
        for s in seen:
            every_batch = s["calls"] >= s["steps"] - 1
            numbers = {"scheduler": s["type"], "calls": s["calls"], "optimizer_steps": s["steps"]}
            if s["type"] in EPOCH_SCHEDULERS and every_batch:
                return Evidence(True, True, f"{s['type']}.step() ran {s['calls']} times in {s['steps']} optimizer "
                                            "steps: once per batch, so its period counts batches, not epochs",
                                numbers, s.get("site"))
            if s["type"] in BATCH_SCHEDULERS and s["calls"] == 0:
                return Evidence(True, True, f"{s['type']}.step() did not run in {s['steps']} optimizer steps: "
                                            "the learning rate stays where the cycle starts for the whole epoch",
                                numbers, s.get("site"))
        s = seen[0]
        return Evidence(True, False, f"{s['type']}.step() ran {s['calls']} times in {s['steps']} optimizer steps",
                        {"scheduler": s["type"], "calls": s["calls"], "optimizer_steps": s["steps"]})

    def _evaluation(self) -> tuple[dict | None, str]:
        """The first evaluation pass, or why there is none to judge."""
        passes = self.r.get("eval_passes") or []
        if passes:
            return passes[0], ""
        hint = "" if self.r.get("through_eval") else "; `trainlint probe --through-eval` runs on to the first one"
        return None, f"no evaluation pass (the trained model under no_grad) ran in the probed steps{hint}"

    def eval_mode(self) -> Evidence:
        """TL501: the evaluation's forward passes ran in training mode."""
        first, why = self._evaluation()
        if first is None:
            return Evidence(False, message=why)
        where = f"the evaluation after step {first['after_step']}"
        numbers = {"after_step": first["after_step"], "forwards": first["forwards"],
                   "in_train_mode": first["in_train_mode"], "mode_layers": first["mode_layers"]}
        if not first["mode_layers"]:
            return Evidence(True, False, f"{where} ran in training mode, but the {first['module']} has no dropout or "
                                         "batch norm: its mode changes nothing", numbers)
        if not first["in_train_mode"]:
            return Evidence(True, False, f"{where}: all {first['forwards']} forward passes ran in eval mode", numbers)
        return Evidence(True, True, f"{where}: {first['in_train_mode']} of {first['forwards']} forward passes of the "
                                    f"{first['module']} ran in training mode, so its {', '.join(first['mode_layers'])} "
                                    "acted as in training (dropout on, batch statistics updated with evaluation data)",
                        numbers)

    def train_mode_restored(self) -> Evidence:
        """TL502: training went on in eval mode after an evaluation."""
        first, why = self._evaluation()
        if first is None:
            return Evidence(False, message=why)
        after = self.r.get("after_eval") or []
        if not after:
            return Evidence(False, message=f"no training step ran after the evaluation after step {first['after_step']}")
        frozen = sum(1 for a in after if not a["training"])
        numbers = {"after_step": first["after_step"], "training_forwards": len(after), "in_eval_mode": frozen,
                   "mode_layers": first["mode_layers"]}
        if not frozen:
            return Evidence(True, False, f"after the evaluation after step {first['after_step']}, all {len(after)} "
                                         "training forward passes ran in training mode", numbers)
        layers = f": its {', '.join(first['mode_layers'])} stay in inference behaviour" if first["mode_layers"] else ""
        return Evidence(True, bool(first["mode_layers"]),
                        f"after the evaluation after step {first['after_step']}, {frozen} of {len(after)} training "
                        f"forward passes of the {first['module']} ran in eval mode{layers}", numbers)

    def double_step(self) -> Evidence:
        """TL414: an optimizer stepped twice on the gradients of one backward()."""
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        doubles = self.r.get("double_steps") or []
        if not doubles:
            return Evidence(True, False, f"each of the {self.steps} optimizer steps followed a backward() of its own")
        first = doubles[0]
        return Evidence(True, True, f"{first['optimizer']}.step() ran again on the gradients of backward() call "
                                    f"{first['backward']} (optimizer step {first['step']}; {len(doubles)} time(s)): "
                                    "the same update applied twice", {"double_steps": len(doubles), **first})

    def optimizer_rebuilt(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        n = int(self.r.get("optimizers_after_first_step") or 0)
        return Evidence(True, n > 0, f"{n} optimizer(s) built after the first step within {self.steps} steps",
                        {"rebuilt": n})

    def constant_weights(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        names = self.r.get("constant_weights", [])
        return Evidence(True, bool(names), f"{len(names)} weight tensor(s) constant at the first step"
                        + (f": {', '.join(names[:4])}" if names else ""), {"parameters": names})

    def huge_weights(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        names = self.r.get("huge_weights", [])
        return Evidence(True, bool(names), f"{len(names)} weight tensor(s) non-finite or > 1e6 at the first step"
                        + (f": {', '.join(names[:4])}" if names else ""), {"parameters": names})

    def stored_graph(self, path: str | None = None, row: int | None = None) -> Evidence:
        if not self.backward:
            return Evidence(False, message="no backward() call was made")
        stored = self.r.get("stored_graphs", [])
        attr = _assigned_attribute(path, row) if path and row else None
        if attr is not None:
            stored = [s for s in stored if s["attr"] == attr]
        if not stored:
            what = f"`self.{attr}`" if attr else "no module attribute"
            return Evidence(True, False, f"{what} held no tensor with an autograd graph after backward()")
        total = sum(s["bytes"] for s in stored)
        names = ", ".join(f"{s['class']}.{s['attr']} {_shape(s['shape'])}" for s in stored[:4])
        return Evidence(True, True, f"after backward() {names} still held the batch's tensor with its grad_fn "
                                    f"({fmt(total / 1024)} KiB kept alive until the next forward)",
                        {"attributes": [s["attr"] for s in stored], "bytes": total})

    def lr_effect(self) -> Evidence:
        parts = [self.nonfinite(), self.loss_growth(), self.exploding()]
        observable = [e for e in parts if e.observable]
        if not observable:
            return Evidence(False, message="fewer than two iterations")
        lrs = self.r.get("lrs") or []
        lr_text = f"lr {', '.join(fmt(x) for x in lrs[0])}; " if lrs and lrs[0] else ""
        hit = next((e for e in observable if e.present), None)
        if hit is not None:
            return Evidence(True, True, lr_text + hit.message, hit.numbers, hit.site)
        flat = self.loss_flat()
        if flat.present:
            return Evidence(True, True, lr_text + "the loss does not move: " + flat.message, flat.numbers, flat.site)
        return Evidence(True, False, lr_text + "; ".join(e.message for e in observable[1:] or observable))


def _assigned_attribute(path: str, row: int) -> str | None:
    """`x` for a line `self.x = ...` (the line a TL203 finding points at)."""
    import re

    try:
        line = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[row - 1]
    except (OSError, IndexError):
        return None
    match = re.match(r"\s*self\.(\w+)\s*(?::[^=]*)?=", line)
    return match.group(1) if match else None


#: torch's messages for a layer's weights on another device or of another dtype than its input
MISMATCH = re.compile(r"should be the same|same device|same dtype|share same datatype|expected scalar type",
                      re.IGNORECASE)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a == b


def _shape(shape) -> str:
    return "[" + "×".join(str(s) for s in shape) + "]"


def _where(site: dict | None) -> str:
    return f"{os.path.basename(site['file'])}:{site['line']}" if site else "?"


# runtime findings ------------------------------------------------------------------
RUNTIME_CHECKS = {
    "TL901": "nonfinite",
    "TL902": "exploding",
    "TL903": "vanishing",
    "TL904": "dead_units",
    "TL905": "not_optimized",
    "TL906": "without_grad",
    "TL907": "loss_growth",
    "TL908": "initial_loss",
    "TL909": "inputs",
    "TL910": "shuffle",
    "TL911": "constant_inputs",
}

#: static code -> the measurement that confirms it. A code not listed is "not observable".
STATIC_EVIDENCE = {
    "TL101": "shuffle",
    "TL102": "inputs",
    "TL103": "batch_size",
    "TL201": "vanishing",
    "TL202": "not_optimized",
    "TL203": "stored_graph",
    "TL204": "vanishing",
    "TL207": "not_optimized",
    "TL208": "without_grad",
    "TL301": "bce_multiclass",
    "TL302": "softmax_into_ce",
    "TL304": "nll_input",
    "TL306": "nonneg_logits",
    "TL401": "grad_carried",
    "TL402": "step_without_grad",
    "TL403": "exploding",
    "TL406": "scheduler_order",
    "TL409": "scheduler_granularity",
    "TL408": "lr_effect",
    "TL411": "optimizer_rebuilt",
    "TL414": "double_step",
    "TL501": "eval_mode",
    "TL502": "train_mode_restored",
    "TL601": "constant_weights",
    "TL602": "huge_weights",
}


def _location(site: dict | None, fallback: str) -> tuple[str, Location, Location]:
    path = site["file"] if site else fallback
    row = site["line"] if site else 1
    end_col = 1
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        if 1 <= row <= len(lines):
            line = lines[row - 1]
            start_col = len(line) - len(line.lstrip()) + 1
            return display_path(path), Location(row, start_col), Location(row, len(line.rstrip()) + 1)
    except OSError:
        pass
    return display_path(path), Location(row, 1), Location(row, end_col)


def _suppressed(path: str, code: str, row: int) -> bool:
    """`# noqa: TL905` on the finding's line (or `# trainlint: noqa` in the file), as for static findings."""
    from trainlint.noqa import Suppressions

    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    suppressions = Suppressions(text)
    return suppressions.whole_file or suppressions.suppresses(code, row)


def runtime_rules() -> dict[str, type["Rule"]]:
    """The runtime findings' rules (rules/runtime/): code, name, severity, docs and thresholds."""
    from trainlint.registry import all_rules

    return {rule.code: rule for rule in all_rules() if rule.runtime}


def runtime_findings(m: Measurements, script: str, config: "Config | None" = None) -> list[Finding]:
    """The runtime findings the config selects for the file each points at (select, ignore,
    per-file-ignores), with the config's severity overrides and the files' `# noqa`."""
    from trainlint.config import Config

    config = config or Config()
    rules = runtime_rules()
    selected = config.selected_codes()
    findings = []
    for code, method in RUNTIME_CHECKS.items():
        if code not in selected:
            continue
        evidence: Evidence = getattr(m, method)()
        if not (evidence.observable and evidence.present):
            continue
        site_file = evidence.site["file"] if evidence.site else script
        if code not in config.codes_for(site_file):
            continue
        rule = rules[code]
        path, start, end = _location(evidence.site, script)
        if _suppressed(path, code, start.row):
            continue
        severity = config.severity.get(code, rule.severity)
        findings.append(Finding(code, rule.name, severity, evidence.message, path, start, end, details={
            "kind": "runtime", "verdict": None, "measurement": evidence.numbers}))
    return findings


#: Static codes about a model class: their evidence counts only if that class was trained.
MODEL_CODES = frozenset({"TL201", "TL202", "TL203", "TL204", "TL207", "TL208"})


def enclosing_class(path: str, row: int) -> str | None:
    """The qualified name of the innermost class whose body holds line `row` of `path`, if any."""
    import ast

    try:
        tree = _parse_cached(os.path.realpath(path))
    except (OSError, SyntaxError, ValueError):
        return None
    found = None

    def visit(node, prefix: str) -> None:
        nonlocal found
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                if child.lineno <= row <= (child.end_lineno or child.lineno):
                    found = name
                    visit(child, name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.lineno <= row <= (child.end_lineno or child.lineno):
                    visit(child, f"{prefix}{child.name}.<locals>.")

    visit(tree, "")
    return found


_TREES: dict[str, object] = {}


def _parse_cached(path: str):
    import ast

    if path not in _TREES:
        _TREES[path] = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    return _TREES[path]


def untrained_class(finding: Finding, m: Measurements) -> str | None:
    """The class holding a model finding when no instance of it ran forward in a training step."""
    if finding.code not in MODEL_CODES or not m.backward:
        return None
    name = enclosing_class(os.path.abspath(finding.path), finding.location.row)
    if name is None:
        return None
    trained = {(os.path.realpath(c["file"]), c["name"]) for c in m.r.get("trained_classes", [])}
    return None if (os.path.realpath(os.path.abspath(finding.path)), name) in trained else name


def verdict_for(finding: Finding, m: Measurements) -> Finding:
    """The static finding with details: verdict, the verdict's message and the numbers."""
    method = STATIC_EVIDENCE.get(finding.code)
    idle = untrained_class(finding, m)
    if method is None:
        verdict, text, numbers = NOT_OBSERVABLE, "the probe measures no runtime symptom for this rule", {}
    elif idle is not None:
        verdict, text, numbers = NOT_OBSERVABLE, f"no {idle} ran forward in the probed training steps", {}
    else:
        fn = getattr(m, method)
        if method == "not_optimized":
            evidence = fn(os.path.abspath(finding.path), (finding.location.row, finding.end_location.row))
        elif method == "stored_graph":
            evidence = fn(os.path.abspath(finding.path), finding.location.row)
        else:
            evidence = fn()
        if not evidence.observable:
            verdict, text, numbers = NOT_OBSERVABLE, evidence.message, evidence.numbers
        else:
            verdict = CONFIRMED if evidence.present else NOT_CONFIRMED
            text, numbers = evidence.message, evidence.numbers
    details = {"kind": "static", "verdict": verdict, "verdict_message": text, "measurement": numbers}
    return replace(finding, details=details)  # in a notebook, its cell too
