from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements, shape
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL906's evidence: what the probe measured for it."""
    if not m.backward or not m.has_optimizer:
        return Evidence(False, message="no backward() call was made" if not m.backward else "no optimizer")
    entries = m.r.without_grad
    if not entries:
        return Evidence(True, False, f"every optimized parameter got a gradient within {m.backward} iterations")
    names = ", ".join(f"{e.name} {shape(e.shape)}" for e in entries[:4])
    more = f" and {len(entries) - 4} more" if len(entries) > 4 else ""
    return Evidence(True, True, f"{len(entries)} optimized parameter{'s' if len(entries) != 1 else ''} never got a "
                                f"gradient from the loss in {m.backward} iterations: {names}{more}",
                    {"parameters": [e.name for e in entries], "count": len(entries)}, m.optimizer_site)


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
    measure = staticmethod(measure)
    confirms = ("TL208",)  # a layer built in __init__ and never used: its parameters get no gradient
