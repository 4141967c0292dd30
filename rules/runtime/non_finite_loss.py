from trainlint.finding import Severity
from trainlint.rule import Rule


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
