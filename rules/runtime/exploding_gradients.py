from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import finite, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL902's evidence: what the probe measured for it."""
    norms = m.grad_norms
    if len(norms) < 2:
        return Evidence(False, message=f"{len(norms)} gradient measurement(s)")
    first = norms[0]
    measured = [x for x in norms if finite(x)]
    peak = max(measured) if measured else float("nan")
    if not finite(first) or first <= 0:  # non-finite from the start is TL901's
        return Evidence(True, False, f"first gradient norm {fmt(first)}", {"first": first})
    growth = peak / first
    at = norms.index(peak) + 1 if measured else None
    numbers = {"first": first, "max": peak, "growth": growth, "at_iteration": at, "last": norms[-1],
               "threshold": m.t.grad_growth}
    text = (f"total gradient norm {fmt(first)} at iteration 1 → {fmt(peak)} at iteration {at} "
            f"({fmt(growth)}× the first, threshold {fmt(m.t.grad_growth)}×)")
    nonfinite = any(not finite(x) for x in norms)
    if nonfinite:
        text += "; then non-finite"
    falling = m.loss_falls()
    if growth >= m.t.grad_growth and falling and not nonfinite:
        # an LSTM's gradients grow tenfold from a tiny start while it learns: not a divergence
        text += f"; the loss fell meanwhile ({fmt(m.losses[0])} → {fmt(m.losses[-1])}): growth, not explosion"
    numbers["loss_falls"] = falling
    return Evidence(True, nonfinite or (growth >= m.t.grad_growth and not falling), text, numbers,
                    m.backward_site)


class ExplodingGradients(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Reads the total gradient norm over all parameters right after each `backward()`
    (before any clipping, which would hide it) and reports when it reaches `grad-growth`
    times its value at the first iteration while the loss does not fall, or turns
    non-finite. (Gradients that grow from a tiny first value while the loss falls are a
    model leaving its initial plateau, as LSTMs do: not reported.) The finding points at
    the `backward()` call.

    ## Why is this bad?
    Growing gradients make each update larger than the last: the weights jump to extreme
    values, the loss oscillates or climbs to inf, and training diverges (seed 002 §1.1 and
    §3, seed 000 §2.5, seed 001 §7: the chain rule compounds per-layer factors above 1).

    ## How to fix
    Lower the learning rate (or warm it up), clip gradients after `backward()` and before
    `step()` (`torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`), and add
    normalization layers (BatchNorm/LayerNorm) to deep stacks.

    ## Evidence
    `trainlint probe tests/fixtures/probe/exploding.py` (SGD with `lr=3.0` and momentum)
    reports it within the first iterations; `tests/fixtures/probe/healthy.py` reports
    nothing. The same measurement confirms TL403 no-gradient-clipping.
    """

    code = "TL902"
    name = "exploding-gradients"
    severity = Severity.WARNING
    summary = "total gradient norm grows far above its first value within the probed steps"
    seeds = ("002 §1.1", "002 §3", "000 §2.5", "001 §7")
    runtime = True
    options = {
        "grad-growth": 10.0,  # the total gradient norm reaches this multiple of its first value
    }
    measure = staticmethod(measure)
    confirms = ("TL403",)  # no gradient clipping: confirmed when the gradients explode
