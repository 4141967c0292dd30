from trainlint.finding import Severity
from trainlint.probe.thresholds import Thresholds
from trainlint.rule import Rule


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
    options = Thresholds.defaults("loss-growth", "loss-growth-confirm", "loss-growth-healthy")
