from trainlint.finding import Severity
from trainlint.probe.thresholds import Thresholds
from trainlint.rule import Rule


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
    options = Thresholds.defaults("grad-growth")
