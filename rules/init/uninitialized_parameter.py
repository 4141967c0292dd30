from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class UninitializedParameter(Rule):
    """
    ## What it does
    Finds `nn.Parameter(torch.empty(...))` or `nn.Parameter(torch.Tensor(out, in))`
    stored on a module when nothing in the file ever fills it: no `nn.init.*_` call on
    it, no in-place `uniform_`/`normal_`/`copy_`, and no `reset_parameters()` /
    `_init_weights()` / `self.apply(...)` in its class.

    ## Why is this bad?
    `torch.empty` and the legacy `torch.Tensor(sizes)` constructor allocate memory
    without writing to it. The parameter starts with whatever bytes were there: often
    zeros (every unit equal), sometimes huge values or NaN, and different on every
    run. Training diverges or does not move, and not reproducibly (seed 001 §2).

    ## How to fix
    Initialize it right after creating it, as torch's own layers do in
    `reset_parameters()`: `nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))`,
    `nn.init.trunc_normal_(self.pos_embed, std=0.02)`, or create it with values
    (`torch.randn(...) * 0.02`, `torch.zeros(...)` for a bias).
    """

    code = "TL602"
    name = "uninitialized-parameter"
    severity = Severity.ERROR
    summary = "a parameter allocated with torch.empty / torch.Tensor(sizes) is never initialized"
    seeds = ("001 §2",)

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn

            class GraphConvolution(nn.Module):
                def __init__(self, in_features, out_features):
                    super().__init__()
                    self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
                    self.bias = nn.Parameter(torch.FloatTensor(out_features))

                def forward(self, x, adj):
                    return torch.spmm(adj, x @ self.weight) + self.bias
            """,
            7,
            8,
        ),
        Bad(
            """
            import torch
            from torch import nn

            class Attention(nn.Module):
                def __init__(self, dim, num_heads=8, window=7):
                    super().__init__()
                    self.qkv = nn.Linear(dim, dim * 3)
                    self.rel_bias = nn.Parameter(torch.empty(num_heads, 2 * window - 1, 2 * window - 1))

                def forward(self, x):
                    return self.qkv(x) + self.rel_bias.mean()
            """,
            8,
        ),
        Bad(
            """
            import math

            import torch
            import torch.nn as nn

            class GraphConvolution(nn.Module):
                def __init__(self, in_features, out_features):
                    super().__init__()
                    self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
                    self.reset_parameters()

                def reset_parameters(self):
                    stdv = 1.0 / math.sqrt(self.weight.size(1))
                    self.weight.data.uniform_(-stdv, stdv)

                def forward(self, x, adj):
                    return torch.spmm(adj, x @ self.weight)

            class GraphAttention(nn.Module):
                def __init__(self, in_features, out_features):
                    super().__init__()
                    self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
                    self.attention = nn.Linear(2 * out_features, 1)

                def forward(self, x, adj):
                    h = x @ self.weight
                    return torch.spmm(adj, h) * self.attention(torch.cat([h, h], 1)).sigmoid()
            """,
            22,
            note="the first class's reset_parameters fills its own self.weight, not the second class's",
        ),
    ]
    good = [
        Good(
            """
            import math
            import torch
            import torch.nn as nn

            class GraphConvolution(nn.Module):
                def __init__(self, in_features, out_features):
                    super().__init__()
                    self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
                    self.bias = nn.Parameter(torch.FloatTensor(out_features))
                    self.reset_parameters()

                def reset_parameters(self):
                    stdv = 1.0 / math.sqrt(self.weight.size(1))
                    self.weight.data.uniform_(-stdv, stdv)
                    self.bias.data.uniform_(-stdv, stdv)
            """,
            note="pygcn / pytorch/examples gcn",
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            from timm.layers import trunc_normal_

            class VisionTransformer(nn.Module):
                def __init__(self, embed_dim=768, num_patches=196):
                    super().__init__()
                    self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
                    self.pos_embed = nn.Parameter(torch.empty(1, num_patches + 1, embed_dim))
                    trunc_normal_(self.pos_embed, std=0.02)
                    nn.init.normal_(self.cls_token, std=1e-6)
            """,
            note="timm: empty then trunc_normal_",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class LayerNorm2d(nn.Module):
                def __init__(self, num_channels, eps=1e-6):
                    super().__init__()
                    self.weight = nn.Parameter(torch.empty(num_channels))
                    self.bias = nn.Parameter(torch.empty(num_channels))
                    self.eps = eps
                    self.reset_parameters()

                def reset_parameters(self):
                    nn.init.ones_(self.weight)
                    nn.init.zeros_(self.bias)
            """
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class Scale(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.gamma = nn.Parameter(torch.Tensor([1.0]))
                    self.register_buffer("mask", torch.empty(16, 16))
            """,
            note="torch.Tensor([...]) copies data; buffers are not parameters",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            def _create_basic_net():
                class Layer(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.layer_dummy_param = nn.Parameter(torch.empty(3, 5))
                        self.register_buffer("layer_dummy_buf", torch.zeros(1, 3, 3, 7))

                return Layer()
            """,
            note="a placeholder no method reads (torch's own test fixtures)",
        ),
        Good(
            """
            import torch

            class HooksModelTester(unittest.TestCase):
                def test_nested_hook(self):
                    class MyLinear(torch.nn.Module):
                        def __init__(self, device=None, dtype=None):
                            super().__init__()
                            self.centroid = torch.nn.Embedding(1, 2)
                            self.indices = torch.nn.Parameter(torch.empty((1, 2, 2), device=device, dtype=dtype))

                        def forward(self, x):
                            x = torch.abs(x + self.indices).long()
                            return (self.centroid.weight + x.sum(-1)).reshape(x.shape[:-1])

                    model = MyLinear()
                    model.save_pretrained(check_point)
                    reloaded = load_checkpoint_and_dispatch(MyLinear(), checkpoint=check_point)
                    torch.testing.assert_close(reloaded(x), model(x))
            """,
            filename="tests/test_accelerator.py",
            note="accelerate tests/test_accelerator.py: a fixture class in a unit test that trains nothing",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        found = facts.inits.empty_parameters
        if not found:
            return
        for parameter in found:
            if parameter.attr is None or parameter.attr in facts.inits.initialized_attributes_of(parameter.cls):
                continue
            if parameter.cls is not None and (
                facts.inits.in_untrained_test(parameter.cls.outer)
                or facts.inits.initializes_itself(parameter.cls)
                or not _plain_module(facts, parameter.cls)
                or not _used(facts, parameter)
            ):
                continue
            allocation = facts.code(parameter.call.func)
            yield self.report(
                parameter.parameter,
                f"`self.{parameter.attr}` is allocated with `{allocation}(...)` and never initialized: it holds "
                "whatever memory held; fill it with nn.init (e.g. kaiming_uniform_, trunc_normal_) in __init__ "
                "or reset_parameters()",
                first_line_only=True,
            )


def _plain_module(facts: FileFacts, cls) -> bool:
    """A class that derives from nn.Module directly: a project base class may initialize for it."""
    return all(base in ("torch.nn.Module",) for base in cls.base_names)


def _used(facts: FileFacts, parameter) -> bool:
    """Whether another method of the class reads the parameter: a placeholder that no
    forward() touches (test fixtures, dummies) holds garbage harmlessly."""
    needle = "self." + parameter.attr
    return any(
        needle in facts.code(method)
        for name, method in parameter.cls.methods.items()
        if name != "__init__"
    )
