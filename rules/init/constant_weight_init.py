from collections.abc import Iterator

import libcst as cst

from trainlint.facts import ConstantInit, FileFacts, Guard, dotted, is_weight_layer
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class ConstantWeightInit(Rule):
    """
    ## What it does
    Finds initialization code that sets the weights of *every* layer of a kind to a
    constant: `nn.init.zeros_`, `ones_`, `constant_`, `.fill_(c)` or `.zero_()` on
    `m.weight` under `isinstance(m, nn.Linear)` / `nn.Conv2d` (in an `apply()` function
    or a loop over `modules()`), on every tensor of `model.parameters()`, or on
    `self.fc1.weight`, `self.fc2.weight`, ... one by one for every layer of a model class.

    ## Why is this bad?
    Units that start identical compute the same output and receive the same gradient,
    so they stay identical: a layer of 256 units learns like a layer of one, and with
    zeros the gradient to the layers below is zero as well. The loss sits still from
    the first step (seed 001 §2, seed 003 §5: a wrong initialization scheme that
    kept the loss high until it was replaced).

    Constant values are right for biases, for the scale of norm layers
    (`BatchNorm.weight = 1`), and for the deliberate zero init of one layer: a
    classifier head (`if name.startswith("head")`) or the last layer of a residual
    branch (`nn.init.zeros_(m.bn3.weight)`). None of these is reported.

    ## How to fix
    Use a random scheme for weights: `nn.init.kaiming_normal_(m.weight,
    nonlinearity="relu")` for ReLU networks, `xavier_uniform_` for tanh/sigmoid, or
    simply keep PyTorch's default initialization. Keep constants for biases.
    """

    code = "TL601"
    name = "constant-weight-init"
    severity = Severity.ERROR
    summary = "weights of every layer of a kind initialized to a constant"
    seeds = ("001 §2", "003 §5")

    bad = [
        Bad(
            """
            import torch
            import torch.nn as nn

            def init_weights(m):
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.constant_(m.weight, 0.01)
                    nn.init.zeros_(m.bias)

            model = Net()
            model.apply(init_weights)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            """,
            6,
        ),
        Bad(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
                    for m in self.modules():
                        if isinstance(m, nn.Linear):
                            m.weight.data.fill_(0)
                            m.bias.data.zero_()
            """,
            9,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 1))
            for p in model.parameters():
                nn.init.zeros_(p)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            """,
            6,
        ),
        Bad(
            """
            import torch.nn as nn

            class TwoLayerNet(nn.Module):
                def __init__(self, n_in, n_hidden, n_out):
                    super().__init__()
                    self.fc1 = nn.Linear(n_in, n_hidden)
                    self.fc2 = nn.Linear(n_hidden, n_out)
                    nn.init.zeros_(self.fc1.weight)
                    nn.init.zeros_(self.fc2.weight)

                def forward(self, x):
                    return self.fc2(self.fc1(x).relu())
            """,
            8, 9,
            note="one call per layer, for every layer of the model",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class TwoLayerNet(nn.Module):
                def __init__(self, n_in, n_hidden, n_out):
                    super().__init__()
                    self.fc1 = nn.Linear(n_in, n_hidden)
                    self.fc2 = nn.Linear(n_hidden, n_out)
                    nn.init.kaiming_normal_(self.fc1.weight)
                    nn.init.zeros_(self.fc2.weight)
                    nn.init.zeros_(self.fc2.bias)

                def forward(self, x):
                    return self.fc2(self.fc1(x).relu())
            """,
            note="only the output layer starts at zero: the hidden layer below breaks the symmetry",
        ),
        Good(
            """
            import torch.nn as nn

            class ResNet(nn.Module):
                def __init__(self, block, layers, zero_init_residual=False):
                    super().__init__()
                    self._build(block, layers)
                    for m in self.modules():
                        if isinstance(m, nn.Conv2d):
                            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                            nn.init.constant_(m.weight, 1)
                            nn.init.constant_(m.bias, 0)
                    if zero_init_residual:
                        for m in self.modules():
                            if isinstance(m, Bottleneck):
                                nn.init.constant_(m.bn3.weight, 0)
            """,
            note="torchvision's ResNet: norm scales at 1, zero-init residual",
        ),
        Good(
            """
            import torch.nn as nn

            def init_weights_vit(module, name):
                if isinstance(module, nn.Linear):
                    if name.startswith("head"):
                        nn.init.zeros_(module.weight)
                        nn.init.zeros_(module.bias)
                    else:
                        nn.init.trunc_normal_(module.weight, std=0.02)
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)
                elif isinstance(module, nn.LayerNorm):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
            """,
            note="timm: only the classifier head starts at zero",
        ),
        Good(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.norm = nn.LayerNorm(dim)
                    self.fc1 = nn.Linear(dim, 4 * dim)
                    self.proj = nn.Linear(4 * dim, dim)
                    nn.init.zeros_(self.proj.weight)
                    nn.init.zeros_(self.proj.bias)

                def forward(self, x):
                    return x + self.proj(self.fc1(self.norm(x)).relu())
            """,
            note="zero init of the last layer of a residual branch",
        ),
        Good(
            """
            import torch.nn as nn

            for name, p in model.named_parameters():
                if "bias" in name:
                    nn.init.zeros_(p)
                elif p.dim() > 1:
                    nn.init.xavier_uniform_(p)
            """
        ),
        Good(
            """
            import torch

            def receptive_field(model, size=224):
                def weights_init(m):
                    if isinstance(m, torch.nn.Conv2d):
                        torch.nn.init.constant_(m.weight, 0.1)
                        torch.nn.init.zeros_(m.bias)

                model.apply(weights_init)
                x = torch.zeros(1, 3, size, size, requires_grad=True)
                model(x)[0, 0, size // 2, size // 2].backward()
                return x.grad.abs().sum(dim=1) > 0
            """,
            note="constant weights on purpose, to measure a receptive field: nothing is trained",
        ),
        Good(
            """
            import torch

            def _zero_model(model):
                for param in model.parameters():
                    with torch.no_grad():
                        param.zero_()

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            _zero_model(model)
            model.load_state_dict(torch.load("checkpoint.pt"))
            """,
            note="zeroing a model before loading weights (torch's FSDP tests): not an init",
        ),
        Good(
            """
            import torch
            from litgpt.lora import GPT as LoRAGPT

            def test_lora_mqa_gqa():
                model = LoRAGPT(config)
                attn = model.transformer.h[0].attn.qkv
                for p in attn.linear.parameters():
                    torch.nn.init.zeros_(p)
                torch.nn.init.ones_(attn.lora_B)
                out = attn(torch.randn(2, 30, 8))
                assert torch.count_nonzero(out[:, :, non_lora_ind]) == 0

            def test_lora_script(tmp_path):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            """,
            filename="tests/test_lora.py",
            note="litgpt tests/test_lora.py: a unit test sets known weights to check outputs, nothing is trained",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        inits = facts.inits.constant_inits
        whole_stacks = _whole_stack_inits(facts, inits)
        for init in inits:
            what = self._every_weight(facts, init) or whole_stacks.get(id(init.call))
            if what and _for_training(facts, init):
                code = facts.code(init.call)
                yield self.report(
                    init.call,
                    f"`{code}` sets {what} to a constant: units that start equal get equal gradients and "
                    "stay equal; use a random init (kaiming_normal_, xavier_uniform_) for weights",
                    first_line_only=True,
                )

    def _every_weight(self, facts: FileFacts, init: ConstantInit) -> str | None:
        tensor = init.tensor
        if isinstance(tensor, cst.Attribute) and tensor.attr.value == "weight" and isinstance(tensor.value, cst.Name):
            owner = tensor.value.value
            kinds: list[str] = []
            for item in init.context:
                if isinstance(item, cst.For):
                    continue
                if _neutral(item, owner):
                    continue
                types = _isinstance_types(facts, item.test, owner)
                if types is None:
                    return None  # chosen by name, by a flag, ...: a deliberate choice
                if item.positive:
                    if not types or not all(is_weight_layer(t) for t in types):
                        return None
                    kinds = ["nn." + t.rsplit(".", 1)[-1] for t in types]
            return f"the weight of every {'/'.join(kinds)}" if kinds else None
        if isinstance(tensor, cst.Name):
            for i, item in enumerate(init.context):
                if isinstance(item, cst.For) and _iterates_parameters(item, tensor.value):
                    if any(isinstance(inner, Guard) for inner in init.context[i + 1 :]):
                        return None
                    if any(isinstance(outer, Guard) and not _neutral(outer, "") for outer in init.context[:i]):
                        return None
                    return f"every parameter of `{facts.code(item.iter)}`"
        return None


def _whole_stack_inits(facts: FileFacts, inits: list[ConstantInit]) -> dict[int, str]:
    """`nn.init.zeros_(self.fc1.weight)` ... one call per layer, for *every* layer with
    weights of a model class (at least two): id(init call) -> what it sets. One layer set
    to a constant among others that are not is the deliberate zero init of a head."""
    found: dict[int, str] = {}
    for module_class in facts.module_classes:
        layers = {
            name: stack for name, stack in module_class.stacks.items() if any(e.has_weights for e in stack)
        }
        if len(layers) < 2 or not all(len(stack) == 1 and stack[0].is_layer and stack[0].qualname for stack in layers.values()):
            continue
        constant: dict[str, ConstantInit] = {}
        for init in inits:
            if init.function is None or init.function.cls is not module_class.info or init.context:
                continue
            owner = dotted(init.tensor) or ""
            if owner.startswith("self.") and owner.endswith(".weight") and owner.count(".") == 2:
                constant.setdefault(owner.split(".")[1], init)
        if set(constant) != set(layers):
            continue
        names = ", ".join(f"`self.{name}`" for name in layers)
        for name, init in constant.items():
            found[id(init.call)] = f"the weight of `self.{name}`, as of every layer of {module_class.name} ({names}),"
    return found


def _isinstance_types(facts: FileFacts, test: cst.BaseExpression, owner: str) -> list[str] | None:
    """The classes of `isinstance(owner, ...)` / `type(owner) == ...`, or None for any other test."""
    if isinstance(test, cst.Call) and dotted(test.func) == "isinstance" and len(test.args) == 2:
        if dotted(test.args[0].value) != owner:
            return None
        spec = test.args[1].value
        elements = [e.value for e in spec.elements] if isinstance(spec, (cst.Tuple, cst.List)) else [spec]
        return [facts.qualname(e) or "" for e in elements]
    if (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, (cst.Equal, cst.Is))
        and isinstance(test.left, cst.Call)
        and dotted(test.left.func) == "type"
        and test.left.args
        and dotted(test.left.args[0].value) == owner
    ):
        return [facts.qualname(test.comparisons[0].comparator) or ""]
    return None


def _neutral(guard: Guard, owner: str) -> bool:
    """Tests that do not choose which layers: `m.bias is not None`, `hasattr(m, "weight")`,
    `if __name__ == "__main__"`."""
    test = guard.test
    if isinstance(test, cst.Comparison) and dotted(test.left) == "__name__":
        return True
    if not guard.positive or not owner:
        return False
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        left = dotted(test.left) or ""
        return left.startswith(owner + ".") and isinstance(test.comparisons[0].operator, cst.IsNot)
    if isinstance(test, cst.Call) and dotted(test.func) == "hasattr" and test.args:
        return dotted(test.args[0].value) == owner
    return False


def _iterates_parameters(loop: cst.For, name: str) -> bool:
    target = loop.target
    names = [e.value for e in target.elements] if isinstance(target, cst.Tuple) else [target]
    if not any(isinstance(n, cst.Name) and n.value == name for n in names):
        return False
    it = loop.iter
    return (
        isinstance(it, cst.Call)
        and isinstance(it.func, cst.Attribute)
        and it.func.attr.value in ("parameters", "named_parameters")
    )


def _for_training(facts: FileFacts, init: ConstantInit) -> bool:
    """Constant weights are also used on purpose outside training (receptive-field
    probes, visualizations): report only inits in a model class, in an init function a
    model class applies, or in a file that builds an optimizer (a backward pass alone
    is also how receptive fields are measured)."""
    function = init.function
    if not init.by_init_function:
        # `p.zero_()` / `.fill_(c)` also reset models on purpose (tests, before loading
        # weights); as initialization they live in an init function
        name = function.name.lower() if function else ""
        if "init" not in name and "reset" not in name:
            return False
    if facts.inits.in_untrained_test(function):
        return False
    if function is not None and function.cls is not None:
        return True
    for other in facts.calls:
        qualname = other.qualname or ""
        if qualname.startswith("torch.optim."):
            return True
        if (
            function is not None
            and isinstance(other.node.func, cst.Attribute)
            and other.node.func.attr.value == "apply"
            and other.function is not None
            and other.function.cls is not None
            and any(dotted(arg.value) in (function.name, "self." + function.name) for arg in other.node.args)
        ):
            return True
    return False

