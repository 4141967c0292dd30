from trainlint.finding import Severity
from trainlint.probe.thresholds import Thresholds
from trainlint.rule import Rule


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
    options = Thresholds.defaults("stall-loss-change", "stall-grad-ratio")
