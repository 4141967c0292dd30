from trainlint.finding import Severity
from trainlint.probe.measurements import Band, Evidence, Measurements
from trainlint.probe.numbers import finite, fmt, median
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL903's evidence: what the probe measured for it."""
    ratios = [x for x in m.r.ratios if finite(x)]
    if not ratios:
        return Evidence(False, message="fewer than two weight layers got gradients")
    typical = median(ratios)
    first, last = (m.r.ratio_layers or ["first", "last"])[:2]
    layers = {layer.name: layer for layer in m.r.layers}
    text = (f"gradient norm of the first weight layer ({first}) / last ({last}): median {fmt(typical)} over "
            f"{len(ratios)} iterations (threshold {fmt(m.t.vanishing_ratio)}; healthy nets: 0.02–3)")
    site = layers[first].site if first in layers else None
    return Evidence(True, typical < m.t.vanishing_ratio, text,
                    {"ratio": typical, "first_layer": first, "last_layer": last, "threshold": m.t.vanishing_ratio},
                    site)


def band(m: Measurements) -> list[Band]:
    """How a static prediction of vanishing gradients reads the ratio: confirmed below
    `vanishing-confirm`, far short of this rule's own threshold."""
    ratio = m.measure("TL903").numbers.get("ratio")
    return [] if ratio is None else [Band("first/last gradient ratio", ratio, m.t.vanishing_confirm,
                                          m.t.vanishing_healthy)]


class VanishingGradients(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Divides the gradient norm of the first weight layer (in forward order) by that of the
    last one after each `backward()` and reports when the median over the probed
    iterations is below `vanishing-ratio`. Healthy nets measure 0.02–3; a 10-layer sigmoid
    stack about 1e-8. The finding points at the first layer's construction.

    ## Why is this bad?
    The first layers learn nothing: their updates are orders of magnitude smaller than the
    last layer's, so the network behaves like a shallow one and the loss stalls on a
    plateau (seed 000 §2.3 and §2.5, seed 001 §4 and §7, seed 003 §10). Sigmoid/tanh between
    layers multiply the gradient by at most 0.25 per layer; deep stacks without
    normalization or residual connections do the same.

    ## How to fix
    Use ReLU-family activations between layers, add BatchNorm/LayerNorm after the
    convolutions or linear layers, use residual connections in deep networks, and
    initialize with `kaiming_normal_`/`xavier_uniform_` to match the activation.

    ## Evidence
    `trainlint probe tests/fixtures/probe/sigmoid_deep.py` (an MLP with sigmoid between
    ten linear layers) reports a ratio near 1e-8; the healthy fixture measures about 0.5.
    The same measurement confirms TL201 sigmoid-in-deep-stack and TL204
    deep-conv-without-normalization.
    """

    code = "TL903"
    name = "vanishing-gradients"
    severity = Severity.WARNING
    summary = "first-layer gradient norm orders of magnitude below the last layer's"
    seeds = ("000 §2.3", "000 §2.5", "001 §4", "001 §7", "003 §10")
    runtime = True
    options = {
        "vanishing-ratio": 1e-4,  # the first / last weight layer's gradient norm (median) below this
        # verdict band of TL201/TL204: confirmed below this ratio ...
        "vanishing-confirm": 1e-3,
        # ... not confirmed from this one up (healthy nets: 0.02-3), inconclusive between
        "vanishing-healthy": 1e-2,
    }
    measure = staticmethod(measure)
    # sigmoid/tanh stacks (TL201) and deep unnormalized conv stacks (TL204) predict it
    confirms = ("TL201", "TL204")
    banded = ("TL201", "TL204")
    band = staticmethod(band)
