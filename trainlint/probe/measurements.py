"""The measurements of one probe, as the analysis reads them: the child's report with the
numbers every runtime rule and verdict derives from it, and the Evidence they return.

Pure Python (no torch). The runtime rules (rules/runtime/) import it: each owns the
function that turns these measurements into its evidence (`measure`), and
`Measurements.measure(code)` runs it once per probe.
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from trainlint.probe.numbers import as_float, finite, fmt
from trainlint.probe.schema import Report
from trainlint.probe.thresholds import Thresholds


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

    def __init__(self, report: Report | dict, thresholds: Thresholds) -> None:
        if isinstance(report, dict):  # the JSON as the child wrote it
            report = Report.from_json(report)
        self.r = report
        self.t = thresholds
        self.backward = report.backward_calls
        self.steps = report.optimizer_steps
        self.has_optimizer = bool(report.optimizers)
        self.losses = [as_float(x) for x in report.losses]
        self.grad_norms = [as_float(x) for x in report.grad_norms]
        self._evidence: dict[str, Evidence] = {}
        self.train_loaders = [ld for ld in report.loaders if self.is_training(ld)]

    def measure(self, code: str) -> Evidence:
        """The evidence of runtime rule `code` (rules/runtime/), computed once."""
        if code not in self._evidence:
            from trainlint.probe.catalog import runtime_rules

            self._evidence[code] = runtime_rules()[code].measure(self)
        return self._evidence[code]

    def is_training(self, loader: dict) -> bool:
        """A loader whose batches were trained on: backward calls happened between its fetches."""
        marks = [b.get("backward_before", 0) for b in loader.get("batches", [])]
        if len(marks) >= 2:
            return marks[-1] > marks[0]
        loaders = self.r.loaders
        return len(marks) == 1 and len(loaders) == 1 and self.backward > marks[0]

    @property
    def optimizer_site(self) -> dict | None:
        opts = self.r.optimizers or []
        return opts[0].get("site") if opts else None

    @property
    def backward_site(self) -> dict | None:
        return self.r.backward_site or self.optimizer_site

    def loss_falls(self) -> bool:
        """Whether the loss went down over the probed iterations (medians of the first and last three)."""
        losses = self.losses
        if len(losses) < 2 or not all(finite(x) for x in losses):
            return False
        k = 3 if len(losses) >= 6 else 1
        return statistics.median(losses[-k:]) < statistics.median(losses[:k])

    def loss_flat(self) -> Evidence:
        losses = [x for x in self.losses if finite(x)]
        if len(losses) < 5:
            return Evidence(False, message=f"{len(losses)} loss value(s)")
        change = abs(losses[-1] - losses[0]) / max(abs(losses[0]), 1e-12)
        return Evidence(True, change < 0.005, f"loss {fmt(losses[0])} → {fmt(losses[-1])} over {len(losses)} "
                        f"iterations ({fmt(change * 100)}% change)", {"change": change}, self.backward_site)

    def crash_in_module_built_at(self, site_file: str | None, rows: tuple[int, int] | None) -> Evidence | None:
        """The script died inside a module built at these lines, on a device or dtype mismatch.

        A layer that forward() builds is no part of the model, so model.to("cuda") or
        model.half() never reaches it: on the GPU the seed 004 ResNet dies at its first call."""
        exc = self.r.exception or {}
        module = exc.get("module") or {}
        site = module.get("site")
        if (site is None or site_file is None or rows is None or not same_file(site["file"], site_file)
                or not rows[0] <= site["line"] <= rows[1] or not MISMATCH.search(exc.get("message", ""))):
            return None
        args = f"({module['args']})" if module.get("args") else ""
        held = f" holds its weights on {module['device']} as {module['dtype']}" if module.get("device") else ""
        message = exc["message"].splitlines()[0][:200]
        text = (f"the script raised {exc['type']} inside the {module['type']}{args} built at {where(site)}, which"
                f"{held}: {message} — built in forward(), it is not part of the model, so moving or casting "
                f"the model never reaches it")
        return Evidence(True, True, text, {"exception": exc["type"], "module": module["type"],
                                           "device": module.get("device"), "dtype": module.get("dtype")}, site)

    def loss_calls(self, fn: str) -> list[dict]:
        return [e for e in self.r.loss_fns if e["fn"] == fn]

    def probabilities(self, entry: dict) -> bool:
        return (entry.get("min") is not None and as_float(entry["min"]) >= 0 and as_float(entry.get("max", 2)) <= 1
                and entry.get("row_sum_dev") is not None and as_float(entry["row_sum_dev"]) < 1e-3)

    def softmax_into_ce(self) -> Evidence:
        calls = self.loss_calls("cross_entropy")
        if not calls:
            return Evidence(False, message="no cross_entropy call was seen")
        entry = calls[0]
        if self.probabilities(entry):
            return Evidence(True, True, f"the inputs of cross_entropy are probabilities: all in "
                                        f"[{fmt(entry['min'])}, {fmt(entry['max'])}], every row sums to 1 "
                                        f"(max deviation {fmt(entry['row_sum_dev'])})", {"min": entry["min"]},
                            entry.get("site"))
        return Evidence(True, False, f"cross_entropy inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}], "
                                     "rows do not sum to 1: raw logits")

    def nonneg_logits(self) -> Evidence:
        calls = self.loss_calls("cross_entropy")
        if not calls:
            return Evidence(False, message="no cross_entropy call was seen")
        entry = calls[0]
        low = as_float(entry.get("min"))
        return Evidence(True, finite(low) and low >= 0, f"smallest logit fed to cross_entropy: {fmt(low)}",
                        {"min": low}, entry.get("site"))

    def nll_input(self) -> Evidence:
        calls = self.loss_calls("nll_loss")
        if not calls:
            return Evidence(False, message="no nll_loss call was seen")
        entry = calls[0]
        dev = entry.get("exp_row_sum_dev")
        is_log_probs = dev is not None and as_float(dev) < 1e-3 and as_float(entry.get("max", 1)) <= 1e-6
        return Evidence(True, not is_log_probs,
                        f"nll_loss inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}]; exp(rows) sum to 1 "
                        f"within {fmt(dev) if dev is not None else '?'}" if dev is not None else
                        f"nll_loss inputs range [{fmt(entry.get('min'))}, {fmt(entry.get('max'))}]",
                        {"max": entry.get("max")}, entry.get("site"))

    def bce_multiclass(self) -> Evidence:
        calls = self.loss_calls("binary_cross_entropy") + self.loss_calls("binary_cross_entropy_with_logits")
        if not calls:
            return Evidence(False, message="no binary_cross_entropy call was seen")
        entry = calls[0]
        classes = entry.get("classes")
        probs = self.probabilities(entry)
        return Evidence(True, bool(classes and classes > 1 and probs),
                        f"{entry['fn']} on inputs of shape {shape(entry['shape'])}"
                        + (", rows are a softmax (sum to 1)" if probs else ""), {"shape": entry["shape"]},
                        entry.get("site"))

    def loader_summary(self) -> tuple[list[dict], dict | None]:
        batches = [b for ld in self.train_loaders for b in ld.get("batches", []) if "mean" in b]
        return batches, (self.train_loaders[0].get("site") if self.train_loaders else None)

    def batch_size(self) -> Evidence:
        sizes = [ld.get("batch_size") for ld in self.train_loaders if ld.get("batch_size") is not None]
        if not sizes:
            return Evidence(False, message="no training DataLoader was seen")
        return Evidence(True, 1 in sizes, f"training batch size {sizes[0]}", {"batch_size": sizes[0]},
                        self.train_loaders[0].get("site"))

    def grad_carried(self) -> Evidence:
        if self.steps < 1 or self.backward < 2:
            return Evidence(False, message="fewer than two iterations with an optimizer step")
        carried = self.r.grad_carried_over
        if carried:
            c = carried[0]
            return Evidence(True, True, f"at iteration {c['iteration']} backward() started with the previous "
                                        f"gradients still in {c['params']} of {c['of']} parameters (they accumulate)",
                            c, self.backward_site)
        return Evidence(True, False, "gradients were cleared between optimizer steps")

    def step_without_grad(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        bad = self.r.steps_without_grad
        if bad:
            return Evidence(True, True, f"optimizer.step() saw no gradient at all at step(s) {', '.join(map(str, bad))}",
                            {"steps": bad}, self.optimizer_site)
        return Evidence(True, False, "optimizer.step() saw gradients at the first steps")

    def scheduler_order(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        warnings = self.r.scheduler_warnings
        if warnings:
            return Evidence(True, True, f"torch warned: {warnings[0]}", {"warning": warnings[0]})
        return Evidence(True, False, "torch did not warn that lr_scheduler.step() ran before optimizer.step()")

    def scheduler_granularity(self) -> Evidence:
        """How often each epoch- or batch-based scheduler was stepped per optimizer step."""
        from trainlint.facts.vocabulary import BATCH_SCHEDULERS as BATCH, EPOCH_SCHEDULERS as EPOCH

        # the probe records a scheduler's class name (`type(scheduler).__name__`)
        EPOCH_SCHEDULERS = {q.rsplit(".", 1)[-1] for q in EPOCH}
        BATCH_SCHEDULERS = {q.rsplit(".", 1)[-1] for q in BATCH}

        known = [s for s in self.r.schedulers if s["type"] in EPOCH_SCHEDULERS | BATCH_SCHEDULERS]
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

    def evaluation(self) -> tuple[dict | None, str]:
        """The first evaluation pass, or why there is none to judge."""
        passes = self.r.eval_passes or []
        if passes:
            return passes[0], ""
        hint = "" if self.r.through_eval else "; `trainlint probe --through-eval` runs on to the first one"
        return None, f"no evaluation pass (the trained model under no_grad) ran in the probed steps{hint}"

    def eval_mode(self) -> Evidence:
        """TL501: the evaluation's forward passes ran in training mode."""
        first, why = self.evaluation()
        if first is None:
            return Evidence(False, message=why)
        when = f"the evaluation after step {first['after_step']}"
        numbers = {"after_step": first["after_step"], "forwards": first["forwards"],
                   "in_train_mode": first["in_train_mode"], "mode_layers": first["mode_layers"]}
        if not first["mode_layers"]:
            return Evidence(True, False, f"{when} ran in training mode, but the {first['module']} has no dropout or "
                                         "batch norm: its mode changes nothing", numbers)
        if not first["in_train_mode"]:
            return Evidence(True, False, f"{when}: all {first['forwards']} forward passes ran in eval mode", numbers)
        return Evidence(True, True, f"{when}: {first['in_train_mode']} of {first['forwards']} forward passes of the "
                                    f"{first['module']} ran in training mode, so its {', '.join(first['mode_layers'])} "
                                    "acted as in training (dropout on, batch statistics updated with evaluation data)",
                        numbers)

    def train_mode_restored(self) -> Evidence:
        """TL502: training went on in eval mode after an evaluation."""
        first, why = self.evaluation()
        if first is None:
            return Evidence(False, message=why)
        after = self.r.after_eval or []
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
        doubles = self.r.double_steps or []
        if not doubles:
            return Evidence(True, False, f"each of the {self.steps} optimizer steps followed a backward() of its own")
        first = doubles[0]
        return Evidence(True, True, f"{first['optimizer']}.step() ran again on the gradients of backward() call "
                                    f"{first['backward']} (optimizer step {first['step']}; {len(doubles)} time(s)): "
                                    "the same update applied twice", {"double_steps": len(doubles), **first})

    def optimizer_rebuilt(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        n = int(self.r.optimizers_after_first_step or 0)
        return Evidence(True, n > 0, f"{n} optimizer(s) built after the first step within {self.steps} steps",
                        {"rebuilt": n})

    def constant_weights(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        names = self.r.constant_weights
        return Evidence(True, bool(names), f"{len(names)} weight tensor(s) constant at the first step"
                        + (f": {', '.join(names[:4])}" if names else ""), {"parameters": names})

    def huge_weights(self) -> Evidence:
        if self.steps < 1:
            return Evidence(False, message="no optimizer step was made")
        names = self.r.huge_weights
        return Evidence(True, bool(names), f"{len(names)} weight tensor(s) non-finite or > 1e6 at the first step"
                        + (f": {', '.join(names[:4])}" if names else ""), {"parameters": names})

    def stored_graph(self, path: str | None = None, row: int | None = None) -> Evidence:
        if not self.backward:
            return Evidence(False, message="no backward() call was made")
        stored = self.r.stored_graphs
        attr = _assigned_attribute(path, row) if path and row else None
        if attr is not None:
            stored = [s for s in stored if s["attr"] == attr]
        if not stored:
            what = f"`self.{attr}`" if attr else "no module attribute"
            return Evidence(True, False, f"{what} held no tensor with an autograd graph after backward()")
        total = sum(s["bytes"] for s in stored)
        names = ", ".join(f"{s['class']}.{s['attr']} {shape(s['shape'])}" for s in stored[:4])
        return Evidence(True, True, f"after backward() {names} still held the batch's tensor with its grad_fn "
                                    f"({fmt(total / 1024)} KiB kept alive until the next forward)",
                        {"attributes": [s["attr"] for s in stored], "bytes": total})

    def lr_effect(self) -> Evidence:
        parts = [self.measure("TL901"), self.measure("TL907"), self.measure("TL902")]
        observable = [e for e in parts if e.observable]
        if not observable:
            return Evidence(False, message="fewer than two iterations")
        optimizers = [o for o in self.r.optimizers or [] if o.get("groups")]
        if len(optimizers) > 1:  # say which optimizer has which rate (a GAN's two)
            lr_text = "lr " + ", ".join(f"{', '.join(fmt(g['lr']) for g in o['groups'] if g.get('lr') is not None)} "
                                        f"({o['type']})" for o in optimizers) + "; "
        else:
            lrs = self.r.lrs or []
            lr_text = f"lr {', '.join(fmt(x) for x in lrs[0])}; " if lrs and lrs[0] else ""
        hit = next((e for e in observable if e.present), None)
        if hit is not None:
            return Evidence(True, True, lr_text + hit.message, hit.numbers, hit.site)
        stalled = self.measure("TL912")
        if stalled.present:
            return Evidence(True, True, lr_text + "training stalled: " + stalled.message, stalled.numbers, stalled.site)
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


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a == b


def shape(dims) -> str:
    """[32×16×1×1]"""
    return "[" + "×".join(str(s) for s in dims) + "]"


def where(site: dict | None) -> str:
    return f"{os.path.basename(site['file'])}:{site['line']}" if site else "?"
