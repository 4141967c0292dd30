import math

from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import as_float, finite, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL908's evidence: what the probe measured for it."""
    calls = [e for e in m.loss_calls("cross_entropy") if e.classes]
    if not calls:
        return Evidence(False, message="no cross_entropy call with class scores was seen")
    entry = calls[0]
    classes = entry.classes
    expected = math.log(classes)
    loss = as_float(entry.loss)
    text = (f"cross-entropy at the first step {fmt(loss)} vs ln({classes}) = {fmt(expected)} "
            f"(threshold {fmt(m.t.initial_loss_factor)}×)")
    # a non-finite first loss is TL901's
    present = finite(loss) and loss >= m.t.initial_loss_factor * expected and not m.probabilities(entry)
    return Evidence(True, present, text, {"loss": loss, "classes": classes, "expected": expected},
                    entry.site)


class InitialLossOff(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Reads the first `cross_entropy` call (`nn.CrossEntropyLoss` calls it) and reports
    when the loss is at least `initial-loss-factor` times ln(number of classes), the value
    a freshly initialized classifier should give. Not reported when the inputs are already
    probabilities (that is TL302's measurement) or the loss is non-finite (TL901's). The
    finding points at the loss call.

    ## Why is this bad?
    A fresh classifier should be unsure: uniform scores give exactly ln(C). A much larger
    first loss means confidently wrong logits from the start — huge initial weights, a
    missing normalization of the inputs, a final layer scaled up — and the first steps
    are spent undoing it, or the run diverges (seed 001 §2 and seed 003 §5: a bad
    initialization keeps the loss high for a long time).

    ## How to fix
    Use the default or a Kaiming/Xavier initialization (no constant or large-std init for
    the output layer; zero its bias), normalize the inputs, and pass raw logits to
    `CrossEntropyLoss`.

    ## Evidence
    `trainlint probe tests/fixtures/probe/raw_inputs.py` (0..255 pixels into a fresh
    CNN) reports a first loss far above ln(10); `tests/fixtures/probe/healthy.py` starts
    near ln(4) and reports nothing.
    """

    code = "TL908"
    name = "initial-loss-off"
    severity = Severity.WARNING
    summary = "cross-entropy at step 0 far from ln(num_classes)"
    seeds = ("001 §2", "003 §5")
    runtime = True
    options = {
        "initial-loss-factor": 3.0,  # cross-entropy at the first iteration above this multiple of ln(classes)
    }
    measure = staticmethod(measure)
