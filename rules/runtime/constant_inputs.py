from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import as_float, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL911's evidence: what the probe measured for it."""
    batches, site = m.loader_summary()
    if not batches:
        return Evidence(False, message="no training DataLoader batch with float inputs was seen")
    flat = [b for b in batches if as_float(b.std) < m.t.constant_std]
    return Evidence(True, len(flat) * 2 > len(batches),
                    f"{len(flat)} of the first {len(batches)} training batches have input std < {fmt(m.t.constant_std)}",
                    {"constant_batches": len(flat), "batches": len(batches)}, site)


class ConstantInputs(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Reports when more than half of the first training batches have an input std below
    `constant-std`: every sample of the batch is (nearly) the same tensor. The finding
    points at the DataLoader's construction.

    ## Why is this bad?
    Inputs without variance carry no information: the model can only learn the label
    frequencies and the loss stops at their entropy. It is the sign of a data-reading
    bug — an all-black image from a failed decode, a normalization that divides by the
    wrong statistics, the same buffer returned for every index (seed 001 §10: data read
    wrongly; seed 000 §2.1).

    ## How to fix
    Look at a batch: `x, y = next(iter(loader)); print(x.std(), x[0])`. Check the
    dataset's `__getitem__` (does it use the index?), the decoding, and the normalization
    statistics.

    ## Evidence
    `trainlint probe tests/fixtures/probe/constant_inputs.py` (a dataset whose image
    decoding fails silently and returns black images) reports it;
    `tests/fixtures/probe/healthy.py` reports nothing.
    """

    code = "TL911"
    name = "constant-inputs"
    severity = Severity.WARNING
    summary = "the first batches' inputs have (near) zero variance"
    seeds = ("001 §10", "000 §2.1")
    runtime = True
    options = {
        "constant-std": 1e-6,  # the std of a training batch's inputs below this
    }
    measure = staticmethod(measure)
