import os
import re

from trainlint.finding import Finding, Severity
from trainlint.probe.measurements import Evidence, Measurements, same_file, shape, where
from trainlint.rule import Rule

#: torch's messages for a layer's weights on another device or of another dtype than its input
MISMATCH = re.compile(r"should be the same|same device|same dtype|share same datatype|expected scalar type",
                      re.IGNORECASE)


def crash_in_module_built_at(m: Measurements, site_file: str | None, rows: tuple[int, int] | None) -> Evidence | None:
    """The script died inside a module built at these lines, on a device or dtype mismatch.

    A layer that forward() builds is no part of the model, so model.to("cuda") or
    model.half() never reaches it: on the GPU the seed 004 ResNet dies at its first call."""
    exc = m.r.exception
    module = exc.module if exc else None
    site = module.site if module else None
    if (site is None or site_file is None or rows is None or not same_file(site.file, site_file)
            or not rows[0] <= site.line <= rows[1] or not MISMATCH.search(exc.message)):
        return None
    args = f"({module.args})" if module.args else ""
    held = f" holds its weights on {module.device} as {module.dtype}" if module.device else ""
    message = exc.message.splitlines()[0][:200]
    text = (f"the script raised {exc.type} inside the {module.type}{args} built at {where(site)}, which"
            f"{held}: {message} — built in forward(), it is not part of the model, so moving or casting "
            f"the model never reaches it")
    return Evidence(True, True, text, {"exception": exc.type, "module": module.type,
                                       "device": module.device, "dtype": module.dtype}, site)


def evidence_for(m: Measurements, finding: Finding) -> Evidence:
    """For a static finding (TL202, TL207): the parameters built at its lines, else in its file."""
    return measure(m, os.path.abspath(finding.path), (finding.location.row, finding.end_location.row))


def measure(m: Measurements, site_file: str | None = None, rows: tuple[int, int] | None = None) -> Evidence:
    """TL905's evidence: what the probe measured for it."""
    crash = crash_in_module_built_at(m, site_file, rows)
    if crash is not None:
        return crash
    if not m.backward:
        return Evidence(False, message="no backward() call was made")
    if not m.has_optimizer:
        return Evidence(False, message="the script built no torch.optim optimizer")
    entries = m.r.not_optimized
    if not entries:
        return Evidence(True, False, f"every parameter that received a gradient over {m.backward} iterations "
                                     "is in an optimizer param group")
    if site_file is not None:
        local = [e for e in entries if e.site and same_file(e.site.file, site_file)]
        if rows is not None:
            exact = [e for e in local if rows[0] <= e.site.line <= rows[1]]
            local = exact or local
        if not local:
            place = where(entries[0].site)
            return Evidence(True, False, f"{len(entries)} parameter(s) not optimized, but built elsewhere ({place})")
        entries = local
    numel = sum(e.numel for e in entries)
    names = ", ".join(f"{e.name} {shape(e.shape)}" for e in entries[:4])
    more = f" and {len(entries) - 4} more" if len(entries) > 4 else ""
    first = entries[0]
    module = f" ({first.module}({first.module_args}))" if first.module and first.module_args else ""
    text = (f"{len(entries)} parameter{'s' if len(entries) != 1 else ''} ({numel} values) received gradients "
            f"but are in no optimizer param group: {names}{more}{module}; seen on "
            f"{max(e.iterations for e in entries)} of {m.backward} iterations")
    return Evidence(True, True, text, {"parameters": [e.name for e in entries], "count": len(entries),
                                       "numel": numel}, first.site)


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
    measure = staticmethod(measure)
    # a layer built in forward() (TL202) or a parameter no optimizer holds (TL207): confirmed
    # by the parameters built at the static finding's lines
    confirms = ("TL202", "TL207")
    evidence_for = staticmethod(evidence_for)
