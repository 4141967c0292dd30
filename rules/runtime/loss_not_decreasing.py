from trainlint.finding import Severity
from trainlint.probe.measurements import Band, Evidence, Measurements
from trainlint.probe.numbers import finite, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL907's evidence: what the probe measured for it."""
    losses = m.losses
    if len(losses) < 2:
        return Evidence(False, message=f"{len(losses)} loss value(s)")
    first = losses[0]
    if not finite(first) or first <= 0:
        return Evidence(True, False, f"first loss {fmt(first)}", {"first": first})
    measured = [x for x in losses if finite(x)]
    peak = max(measured)
    growth = peak / first
    at = losses.index(peak) + 1
    nonfinite = len(measured) < len(losses)
    numbers = {"first": first, "max": peak, "last": losses[-1], "growth": growth, "at_iteration": at,
               "iterations": len(losses), "threshold": m.t.loss_growth}
    text = (f"loss {fmt(first)} at iteration 1 → {fmt(peak)} at iteration {at} "
            f"({fmt(growth)}× the first, threshold {fmt(m.t.loss_growth)}×); last {fmt(losses[-1])}")
    if nonfinite:
        text += ", then non-finite"
    return Evidence(True, growth >= m.t.loss_growth or nonfinite, text, numbers, m.backward_site)


def band(m: Measurements) -> list[Band]:
    """How a learning rate far out of range (TL408) reads the loss growth."""
    growth = m.measure("TL907").numbers.get("growth")
    return [] if growth is None else [Band("loss growth", growth, m.t.loss_growth_confirm, m.t.loss_growth_healthy)]


class LossNotDecreasing(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Records the loss at every `backward()` and reports when it reaches `loss-growth` times
    its first value within the probed steps, or turns non-finite after finite values.
    The finding points at the `backward()` call.

    ## Why is this bad?
    Over the first steps the loss of a working setup falls or stays level; one that
    multiplies is diverging, almost always because the learning rate is too high for
    the model and optimizer (seed 002 §1.1, seed 000 §2.4), or because the weights the
    optimizer updates are not the ones the forward pass uses (seed 004: a loss that grows
    every epoch). A growth of 3× is crossed by a healthy run on unshuffled data when the
    class changes, hence the default of 10×.

    ## How to fix
    Lower the learning rate by 10× and probe again (Adam: about 1e-3, SGD: 0.01–0.1),
    add a warm-up, clip gradients; if the loss still grows, look for TL905 and for the
    static findings the probe confirms.

    ## Evidence
    `trainlint probe tests/fixtures/probe/exploding.py` (SGD with `lr=3.0` and momentum)
    reports the loss growing far above its first value; `tests/fixtures/probe/healthy.py`
    reports nothing. The same
    measurement confirms TL408 learning-rate-out-of-range.
    """

    code = "TL907"
    name = "loss-not-decreasing"
    severity = Severity.WARNING
    summary = "loss rises over the probed steps (learning rate too high)"
    seeds = ("002 §1.1", "000 §2.4", "004")
    runtime = True
    options = {
        "loss-growth": 10.0,  # the loss reaches this multiple of its first value (3x: a healthy unshuffled run)
        # verdict band of TL408 (docs/probe.md, "Verdicts"): confirmed from this growth up ...
        "loss-growth-confirm": 3.0,
        # ... not confirmed below this one, inconclusive between
        "loss-growth-healthy": 1.5,
    }
    measure = staticmethod(measure)
    banded = ("TL408",)  # TL408's evidence is its own (trainlint.probe.static_evidence); its band is this
    band = staticmethod(band)
