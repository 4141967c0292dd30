from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import finite, fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL901's evidence: what the probe measured for it."""
    if not m.backward:
        return Evidence(False, message="no backward() call was made")
    loss = m.r.nonfinite_loss
    grad = m.r.nonfinite_grad
    act = m.r.nonfinite_activation
    if not loss and not grad:
        finite_losses = [x for x in m.losses if finite(x)]
        return Evidence(True, message=f"loss and gradients finite over {m.backward} iterations"
                        + (f" (loss {fmt(finite_losses[0])} → {fmt(finite_losses[-1])})" if finite_losses else ""))
    parts = []
    if loss:
        parts.append(f"the loss is {loss.value} at iteration {loss.iteration}")
    if grad:
        parts.append(f"gradients of {grad.count} layer{'s' if grad.count != 1 else ''} are non-finite at "
                     f"iteration {grad.iteration} (first: `{grad.layers[0]}`)")
    site = m.backward_site
    if act:
        origin = f"module `{act.module}` ({act.type})"
        if act.inputs_finite is False:
            parts.append(f"the inputs of {origin} were already non-finite at iteration {act.iteration}")
        else:
            parts.append(f"the first non-finite activation is the output of {origin} at iteration {act.iteration}")
        site = act.site or site
    first_finite = next((x for x in m.losses if finite(x)), None)
    if first_finite is not None:
        parts.append(f"first loss {fmt(first_finite)}")
    numbers = {"loss": loss, "grad": grad, "activation": act}
    return Evidence(True, True, "; ".join(parts), {k: v.to_json() if v else None for k, v in numbers.items()}, site)


class NonFiniteLoss(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Reports a loss or a layer's gradient that is NaN or Inf within the probed steps, and
    names the first module whose output turned non-finite (or says that its inputs already
    were). The finding points at that module's construction, else at the `backward()` call.

    ## Why is this bad?
    One NaN in the loss poisons every weight at the next optimizer step: from then on the
    model outputs NaN and the loss never comes back (seed 004: a loss that grows to inf
    every epoch). It comes from a learning rate that is far too large (seed 002 §1.1), a
    `log`/`sqrt`/division of values that can be zero or negative, or inputs that already
    hold NaN.

    ## How to fix
    Look at the module the message names: clamp the argument of `log`/`sqrt`
    (`x.clamp_min(1e-6)`), add an epsilon to divisions, use the numerically stable loss
    (`CrossEntropyLoss` on logits, `BCEWithLogitsLoss`). If the loss first grows and then
    turns non-finite, lower the learning rate and clip gradients
    (`torch.nn.utils.clip_grad_norm_`). `torch.autograd.set_detect_anomaly(True)` shows
    the backward operation that produced the first NaN.

    ## Evidence
    `trainlint probe tests/fixtures/probe/nan_module.py` (a custom layer takes the `log`
    of negative values) reports it on the first iteration, naming `LogFeatures`.
    There is no threshold: any NaN or Inf is reported.
    """

    code = "TL901"
    name = "non-finite-loss"
    severity = Severity.ERROR
    summary = "loss or a gradient is NaN/Inf within the probed steps"
    seeds = ("004", "002 §1.1")
    runtime = True
    measure = staticmethod(measure)
