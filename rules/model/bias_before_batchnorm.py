from collections.abc import Iterator

import libcst as cst

from trainlint.facts import BIAS_POSITION, Element, ElementKind, FileFacts, has_bias, keyword_arg, positional
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Replacement, Report, Rule


class BiasBeforeBatchNorm(Rule):
    """
    ## What it does
    Finds a `Conv`/`Linear` layer built with a bias (the default) whose output goes
    straight into a `BatchNorm` layer, in an `nn.Sequential` or in `forward()`.

    ## Why is this bad?
    Batch normalization subtracts the per-channel mean, so a per-channel bias added just
    before it is cancelled exactly: the parameter gets zero gradient, costs memory and
    optimizer state, and receives weight decay for nothing. BatchNorm's own `beta` is the
    bias. Every reference ResNet builds its convolutions with `bias=False`.

    ## How to fix
    Build the layer with `bias=False`.

    ## Fix safety
    Safe for what the model computes (train and eval outputs are unchanged), but the
    layer's `bias` disappears from the `state_dict`: loading an old checkpoint needs
    `strict=False`.
    """

    code = "TL205"
    name = "bias-before-batchnorm"
    severity = Severity.INFO
    summary = "a Conv/Linear bias right before BatchNorm is cancelled by it"
    default_enabled = False
    fix_applicability = Applicability.SAFE

    bad = [
        Bad(
            """
            import torch.nn as nn

            def conv_bn(c_in, c_out, stride=1):
                return nn.Sequential(
                    nn.Conv2d(c_in, c_out, 3, stride, 1),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                )
            """,
            5,
            fixed="""
            import torch.nn as nn

            def conv_bn(c_in, c_out, stride=1):
                return nn.Sequential(
                    nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                )
            """,
        ),
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class BasicBlock(nn.Module):
                def __init__(self, planes):
                    super().__init__()
                    self.conv1 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=True)
                    self.bn1 = nn.BatchNorm2d(planes)
                    self.fc = nn.Linear(planes, planes)
                    self.bn2 = nn.BatchNorm1d(planes)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    return self.bn2(self.fc(out.mean((2, 3))))
            """,
            7, 9,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F

            class BasicBlock(nn.Module):
                def __init__(self, planes):
                    super().__init__()
                    self.conv1 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(planes)
                    self.fc = nn.Linear(planes, planes, bias=False)
                    self.bn2 = nn.BatchNorm1d(planes)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    return self.bn2(self.fc(out.mean((2, 3))))
            """,
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            def conv_bn(c_in, c_out):
                return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
            """
        ),
        Good(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1)
                    self.bn = nn.BatchNorm2d(c)

                def forward(self, x):
                    y = self.conv(x)
                    return self.bn(y) + y
            """,
            note="the biased output is also used without the norm",
        ),
        Good(
            """
            import torch.nn as nn

            stem = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1),
                nn.ReLU(),
                nn.BatchNorm2d(32),
                nn.Conv2d(32, 32, 3, padding=1),
                nn.GroupNorm(8, 32),
            )
            """,
            note="a ReLU between them; GroupNorm does not cancel a per-channel bias",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        # what consumes each biased layer's output: the next module of its stack, or
        # whatever forward() does with it; the bias is dead only if every consumer is a BatchNorm
        layers: dict[int, Element] = {}
        consumers: dict[int, list[Element | None]] = {}
        stacks = [seq for _, seq in facts.stacks.all_sequentials()]
        for module_class in facts.module_classes:
            stacks.extend(module_class.stacks.values())
            for key, used_by in module_class.forward_paths.consumers.items():
                consumers.setdefault(key, []).extend(used_by)
        for seq in stacks:
            for element, after in zip(seq, seq[1:]):
                if element.kind == ElementKind.WEIGHT and element.call is not None:
                    layers[id(element.call)] = element
                    consumers.setdefault(id(element.call), []).append(after)
            if seq and seq[-1].kind == ElementKind.WEIGHT and seq[-1].call is not None:
                layers[id(seq[-1].call)] = seq[-1]
        for key, element in layers.items():
            used_by = consumers.get(key)
            if not used_by or not all(c is not None and c.is_batch_norm for c in used_by):
                continue
            if has_bias(element) is not True:
                continue
            call = element.call
            assert call is not None
            fixed = _without_bias(element)
            yield self.report(
                call,
                f"the bias of `{facts.code(call.func)}` is cancelled by the BatchNorm right after it; build it with bias=False",
                fix=self.fix("Build the layer with `bias=False`", Replacement(call, fixed)) if fixed else None,
                first_line_only=True,
            )


def _without_bias(element: Element) -> cst.Call | None:
    call = element.call
    assert call is not None
    false = cst.Name("False")
    arg = keyword_arg(call, "bias")
    if arg is not None:
        return call.with_deep_changes(arg, value=false)
    args = list(call.args)
    if len(positional(call)) > BIAS_POSITION[str(element.qualname)]:
        return None  # a positional bias: rare enough to leave to the user
    new = cst.Arg(
        value=false,
        keyword=cst.Name("bias"),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        new = new.with_changes(comma=last.comma)
    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new])
