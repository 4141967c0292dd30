from trainlint.finding import Severity
from trainlint.probe.measurements import Band, Evidence, Measurements
from trainlint.probe.numbers import as_float, fmean, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL909's evidence: what the probe measured for it."""
    batches, site = m.loader_summary()
    if not batches:
        return Evidence(False, message="no training DataLoader batch with float or uint8 inputs was seen")
    mean = fmean(as_float(b.mean) for b in batches)
    std = fmean(as_float(b.std) for b in batches)
    low = min(as_float(b.min) for b in batches)
    high = max(as_float(b.max) for b in batches)
    text = (f"first {len(batches)} training batches: input mean {fmt(mean)}, std {fmt(std)}, range "
            f"[{fmt(low)}, {fmt(high)}] (thresholds |mean| > {fmt(m.t.input_mean)}, std > {fmt(m.t.input_std)})")
    present = abs(mean) > m.t.input_mean or std > m.t.input_std
    return Evidence(True, present, text, {"mean": mean, "std": std, "min": low, "max": high, "batches": len(batches)},
                    site)


def band(m: Measurements) -> list[Band]:
    """How a pipeline that never normalizes (TL102) reads the inputs' mean and std."""
    numbers = m.measure("TL909").numbers
    if "mean" not in numbers:
        return []
    return [Band("input |mean|", abs(numbers["mean"]), m.t.input_mean_confirm, m.t.input_mean_healthy),
            Band("input std", numbers["std"], m.t.input_std_confirm, m.t.input_std_healthy)]


class InputsNotNormalized(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Wraps `DataLoader.__iter__` and computes the mean, std, min and max of the inputs of
    the first training batches (a loader counts as training only when `backward()` ran
    between its batches). Reported when |mean| exceeds `input-mean` or the std exceeds
    `input-std`, e.g. raw 0..255 pixels (mean about 128). The finding points at the
    DataLoader's construction.

    ## Why is this bad?
    Inputs far from zero mean and unit variance make the first layer's pre-activations
    huge: ReLUs die or sigmoids saturate, gradients of the first layer dominate, and the
    learning rate that suits the other layers is wrong for it, so training is slow or does
    not converge (seed 000 §2.1, seed 001 §11: "no normalization").

    ## How to fix
    Scale and standardize the inputs: `transforms.ToTensor()` (to [0, 1]) followed by
    `transforms.Normalize(mean, std)` with the dataset's statistics, or standardize
    tabular features with their training-set mean and std.

    ## Evidence
    `trainlint probe tests/fixtures/probe/raw_inputs.py` (uint8 pixels fed as floats
    without scaling) reports a mean near 128; the healthy fixture reports nothing. The same
    measurement confirms TL102 transforms-missing-normalize.
    """

    code = "TL909"
    name = "inputs-not-normalized"
    severity = Severity.WARNING
    summary = "first batches' input mean/std far from 0/1 (e.g. raw 0..255 pixels)"
    seeds = ("000 §2.1", "001 §11")
    runtime = True
    options = {
        "input-mean": 3.0,  # |mean| of the training inputs above this ...
        "input-std": 10.0,  # ... or their std above this
        # verdict band of TL102: confirmed from this |mean| up (0..1 pixels: ~0.45) ...
        "input-mean-confirm": 0.3,
        # ... not confirmed below this (with the std below input-std-healthy), inconclusive between
        "input-mean-healthy": 0.1,
        "input-std-confirm": 3.0,  # TL102 confirmed from this std up ...
        "input-std-healthy": 1.5,  # ... not confirmed below it
    }
    measure = staticmethod(measure)
    confirms = ("TL102",)
    banded = ("TL102",)
    band = staticmethod(band)
