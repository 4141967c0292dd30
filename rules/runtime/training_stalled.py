from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import finite, fmean, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL912: the loss has stopped moving and each step's own gradient has collapsed."""
    losses, norms = m.losses, m.grad_norms
    n = min(len(losses), len(norms))
    window = min(10, max(4, n // 3))
    if n < window + 2:
        return Evidence(False, message=f"{n} iteration(s) with a loss and a gradient")
    last_losses, last_norms = losses[-window:], norms[-window:]
    if not all(finite(x) for x in last_losses + last_norms):
        return Evidence(True, False, "non-finite loss or gradient in the last iterations (TL901's)")
    finite_norms = [x for x in norms if finite(x)]
    peak = max(finite_norms)
    at = norms.index(peak) + 1
    level = fmean(last_losses)
    change = (max(last_losses) - min(last_losses)) / max(abs(level), 1e-12)
    top = max(last_norms)
    first = losses[0]
    learned = finite(first) and first > 0 and level < 0.5 * first
    numbers = {"window": window, "iterations": n, "loss": level, "loss_change": change, "grad_norm": top,
               "peak_grad_norm": peak, "peak_at": at, "first_loss": first,
               "thresholds": {"loss_change": m.t.stall_loss_change, "grad_ratio": m.t.stall_grad_ratio}}
    text = (f"over the last {window} of {n} iterations the loss stayed at {fmt(level)} "
            f"({fmt(change * 100)}% change, threshold {fmt(m.t.stall_loss_change * 100)}%) and each step's own "
            f"gradient norm was at most {fmt(top)} (the run's largest: {fmt(peak)} at iteration {at}; "
            f"threshold {fmt(m.t.stall_grad_ratio)}× it)")
    present = change <= m.t.stall_loss_change and top <= m.t.stall_grad_ratio * peak and not learned
    if learned and change <= m.t.stall_loss_change:
        text += f"; the loss fell from {fmt(first)} first: converged, not stalled"
    return Evidence(True, present, text, numbers, m.backward_site)


class TrainingStalled(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Over the last probed iterations (a third of them, at least 4 and at most 10): the loss
    moves less than `stall-loss-change` of its value, has not fallen below half its first
    value, and each backward's own gradient (what it added, not the `.grad` sum a missing
    `zero_grad()` keeps) has a norm of at most `stall-grad-ratio` times the largest of the
    run. The finding points at the `backward()` call and names the static findings of the
    script that explain the stall (softmax before cross-entropy, a learning rate far out of
    range, a saturated sigmoid stack, unnormalized inputs, a non-negative activation on the
    logits); the probe confirms those.

    ## Why is this bad?
    Training has stopped: no step changes the model any more, however long the run goes
    on. A too large step that killed every ReLU, probabilities fed to a loss that expects
    logits, or saturated activations leave the loss at chance level, and nothing in the
    log says so until the run is over.

    ## How to fix
    Fix the cause the finding names: lower the learning rate, feed raw logits to
    `CrossEntropyLoss`, use ReLU between layers, normalize the inputs. Without a named
    cause, plot the per-layer gradients (`trainlint probe --plot grad.png`) to find where
    they vanish.

    ## Evidence
    `trainlint probe tests/fixtures/probe/masked_lr.py` (SGD lr=5 and no `zero_grad()`:
    the loss sits at ln 10 from the fifth step on, every step's own gradient is 0) reports
    it and confirms TL408; `tests/fixtures/probe/healthy.py` and the healthy scripts of
    benchmarks/probe_cases/ never report it.
    """

    code = "TL912"
    name = "training-stalled"
    severity = Severity.WARNING
    summary = ("the loss does not change over the last probed steps and each step's own gradient has collapsed to "
               "(near) zero; names the static finding that explains it")
    seeds = ()
    runtime = True
    options = {
        "stall-loss-change": 1e-3,  # over the last iterations the loss moves less than this share of its value ...
        "stall-grad-ratio": 1e-3,  # ... and each step's own gradient norm is at most this share of the run's largest
    }
    measure = staticmethod(measure)
    #: The static findings that explain a stall: the finding names them, and they are confirmed by it.
    explains = {
        "TL302": "softmax before cross-entropy",
        "TL408": "a learning rate far out of range",
        "TL201": "a saturated sigmoid stack",
        "TL102": "unnormalized inputs",
        "TL306": "a non-negative activation on the logits",
    }
