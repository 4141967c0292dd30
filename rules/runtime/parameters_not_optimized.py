from trainlint.finding import Severity
from trainlint.rule import Rule


class ParametersNotOptimized(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Before each `backward()` the probe walks the loss's autograd graph to its leaves: every
    `nn.Parameter` that receives a gradient, including ones built inside `forward()`. It
    reports those that are in no param group of any live optimizer, with their names,
    shapes and the module that holds them, and points at the line that built the layer.

    ## Why is this bad?
    These weights take part in every forward pass and get gradients, but no optimizer ever
    updates them: they stay at their random initial values. When a layer is built inside
    `forward()` they are even re-drawn on every call, so each batch goes through a
    different random projection and the loss does not fall or grows to inf (seed 004: the
    ResNet whose `forward()` builds the shortcut `nn.Conv2d`).

    ## How to fix
    Build every layer once in `__init__` and store it on `self` (in `nn.ModuleList` /
    `nn.ModuleDict` for collections); build the optimizer after the model is complete
    (after the first forward for lazy layers), from `model.parameters()`. A layer added
    later needs `optimizer.add_param_group(...)`.

    ## Evidence
    `trainlint probe tests/fixtures/probe/conv_in_forward.py` and
    `trainlint probe examples/buggy/probe_resnet.py` (the seed 004 ResNet) report the
    `nn.Conv2d` built in `forward()`. The same measurement confirms TL202
    module-created-in-forward and TL207 modules-in-plain-list. There is no threshold: one
    such parameter is reported.
    """

    code = "TL905"
    name = "parameters-not-optimized"
    severity = Severity.WARNING
    summary = "parameters that receive gradients but are in no optimizer param group (e.g. created in forward)"
    seeds = ("004",)
    runtime = True
