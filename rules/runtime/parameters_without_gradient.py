from trainlint.finding import Severity
from trainlint.rule import Rule


class ParametersWithoutGradient(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Reports parameters that are in an optimizer (and require a gradient) but that no loss
    graph reached in any of the probed iterations, by name and shape. The finding points
    at the optimizer's construction.

    ## Why is this bad?
    A registered layer that never contributes to the loss is dead weight: it is saved,
    moved and weight-decayed but never trained, and under `DistributedDataParallel` it
    makes the run fail ("Expected to have finished reduction"). It usually means a layer
    defined in `__init__` but never called, a branch that is never taken, or an output
    that is computed and dropped; bugs in how gradients flow back keep the loss from
    falling (seed 001 §7).

    ## How to fix
    Call the layer in `forward()` or remove it; if it is used only in some phases, keep
    its parameters out of the optimizer for the others (or use
    `find_unused_parameters=True` under DDP); freeze parameters on purpose with
    `requires_grad_(False)`.

    ## Evidence
    `trainlint probe tests/fixtures/probe/resnet_seed004.py` (and
    `examples/buggy/probe_resnet.py`) reports it: the optimizer holds the `nn.Conv2d` that
    the warm-up forward built inside `forward()`, and every later forward replaces it, so
    those parameters never get a gradient. `tests/fixtures/probe/healthy.py` reports
    nothing. The same measurement confirms TL208 submodule-never-used. There is no
    threshold: one such parameter over all probed iterations is reported.
    """

    code = "TL906"
    name = "parameters-without-gradient"
    severity = Severity.WARNING
    summary = "registered parameters that get no gradient from the loss"
    seeds = ("001 §7",)
    runtime = True
