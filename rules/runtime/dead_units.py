from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import as_float, finite, fmean, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL904's evidence: what the probe measured for it."""
    constant = m.measure("TL911")
    if constant.observable and constant.present:  # identical inputs: units are all on or all off (TL911's echo)
        return Evidence(True, False, "not judged: the training inputs are constant (" + constant.message + ")")
    rows = []
    for act in m.r.activations:
        values = [as_float(v) for v in act.values if finite(v)]
        if values:
            # a ReLU's value already spans the last batches (dead: zero in every one of them);
            # a saturation share is one batch's, averaged over the last three
            share = values[-1] if act.kind == "relu" else fmean(values[-3:])
            rows.append((share, f"`{act.name}` ({act.type})", act.kind, act.site))
    layers = m.r.layers
    weight_layers = [layer for layer in layers if layer.zero_rows]
    for layer in weight_layers[:-1]:  # the output layer's rows are the classes
        values = [as_float(v) for v in layer.zero_rows if finite(v)]
        if values:
            rows.append((values[-1], f"`{layer.name}` ({layer.module})", "zero-gradient", layer.site))
    if not rows:
        return Evidence(False, message="no activation module and no weight layer gradient was seen")
    bad = sorted((r for r in rows if r[0] >= m.t.dead_fraction), key=lambda r: -r[0])
    worst = max(rows, key=lambda r: r[0])
    describe = {"relu": "dead (zero for every sample of the last 3 batches)",
                "sigmoid": "saturated (<0.01 or >0.99)", "tanh": "saturated (|x|>0.99)",
                "zero-gradient": "without gradient over the last 3 batches (dead units after it)"}
    if bad:
        head = bad[0]
        text = (f"{len(bad)} layer{'s' if len(bad) != 1 else ''} with ≥{fmt(m.t.dead_fraction * 100)}% units "
                f"dead or saturated; worst: {head[1]} {fmt(head[0] * 100)}% {describe[head[2]]}")
        return Evidence(True, True, text, {"layers": [{"name": b[1], "fraction": b[0], "kind": b[2]} for b in bad]},
                        head[3])
    return Evidence(True, False, f"at most {fmt(worst[0] * 100)}% units dead or saturated per layer ({worst[1]})",
                    {"max_fraction": worst[0]})


class DeadUnits(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    For each layer: the share of `nn.ReLU` units that are zero for every sample of each of
    the last 3 probed batches (batches of 8 or more; a unit is a feature of a `(N, F)`
    output and a channel of a convolution's output, so zero pixels before pooling are no
    dead unit), of `nn.Sigmoid` outputs saturated below 0.01 or above 0.99 and of `nn.Tanh`
    outputs with |x| > 0.99 (averaged over the last 3 iterations), and — for functional
    activations, which no module hook sees — the share of rows of each Linear/Conv weight
    whose own gradient was zero in each of the last 3 batches (not the output layer's).
    Reported when a layer's share reaches `dead-fraction`; the finding points at the
    layer's construction. Dropout and masking zero a live unit in one batch, never in
    three: they are not counted.

    ## Why is this bad?
    A dead ReLU unit outputs 0 for every input, so its gradient is 0 and it never
    recovers; a saturated sigmoid/tanh passes almost no gradient. When most units of a
    layer are dead the network has lost that capacity and the loss stalls (seed 001 §7:
    "a large share of neurons inactive"; seed 003 §10: the Dead ReLU problem).

    ## How to fix
    Lower the learning rate (a too large step pushes the biases far negative), initialize
    with `kaiming_normal_` for ReLU, normalize the inputs and add BatchNorm before the
    activation, or use `LeakyReLU`/`GELU`. For saturated sigmoid/tanh, use ReLU between
    layers and keep sigmoid for gates and outputs.

    ## Evidence
    `trainlint probe tests/fixtures/probe/exploding.py` (the ReLUs die after the first
    huge updates) and `tests/fixtures/probe/raw_inputs.py` (0..255 pixels) report it;
    `tests/fixtures/probe/healthy.py` and `tests/fixtures/probe/dropout_cnn.py` (Dropout(0.5)
    after 1024 sparse units, batches of 16: 55% of the rows are zero in a single batch) stay
    below the threshold, as do the healthy scripts of benchmarks/probe_cases/.
    """

    code = "TL904"
    name = "dead-units"
    severity = Severity.WARNING
    summary = "a large fraction of ReLU outputs are zero for the whole batch, or sigmoid/tanh outputs saturated"
    seeds = ("001 §7", "003 §10")
    runtime = True
    options = {
        "dead-fraction": 0.5,  # the share of a layer's units dead or saturated
    }
    measure = staticmethod(measure)
