from trainlint.finding import Severity
from trainlint.probe.thresholds import Thresholds
from trainlint.rule import Rule


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
    options = Thresholds.defaults("dead-fraction")
