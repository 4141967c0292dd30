import re
from collections import Counter
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, ModuleClass
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

#: Ways a class reaches its sub-modules without naming them.
_DYNAMIC = frozenset(
    {"_modules", "children", "named_children", "modules", "named_modules", "__dict__", "get_submodule", "apply"}
)


class _SelfAttributes(cst.CSTVisitor):
    def __init__(self, selves: set[str]) -> None:
        self.selves = selves  # what the methods call their instance: `self`, sometimes `self_`
        self.counts: Counter[str] = Counter()
        self.dynamic = False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value in self.selves:
            self.counts[node.attr.value] += 1
            if node.attr.value in _DYNAMIC:
                self.dynamic = True

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in ("getattr", "setattr", "hasattr", "vars", "delattr"):
            if node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value in self.selves:
                self.dynamic = True


class SubmoduleNeverUsed(Rule):
    """
    ## What it does
    Finds a layer with weights assigned to `self` in `__init__` that no method of the
    class ever mentions again.

    Classes that reach their sub-modules dynamically (`getattr(self, name)`,
    `self.children()`, `self._modules`), classes without a `forward()` of their own,
    and classes that other classes of the file or project inherit from are not
    checked.

    ## Why is this bad?
    The layer's parameters are in `model.parameters()`, so the optimizer holds them,
    but they never take part in the loss: they get no gradient, are never trained,
    and weight decay shrinks them to zero. `DistributedDataParallel` stops with
    "Expected to have finished reduction in the prior iteration" because of them.
    Usually the layer was meant to be called in `forward()` and a typo or a
    refactoring left it out (a dropout or norm layer forgotten, a second block never
    applied).

    ## How to fix
    Call the layer in `forward()`, or delete it from `__init__`.
    """

    code = "TL208"
    name = "submodule-never-used"
    severity = Severity.WARNING
    summary = "a layer built in __init__ is never used"

    bad = [
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(1, 32, 3)
                    self.conv2 = nn.Conv2d(32, 64, 3)
                    self.bn2 = nn.BatchNorm2d(64)
                    self.fc = nn.Linear(64, 10)

                def forward(self, x):
                    x = F.relu(self.conv1(x))
                    x = F.relu(self.conv2(x))
                    return self.fc(x.mean((2, 3)))
            """,
            9,
        ),
        Bad(
            """
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self, vocab, dim):
                    super().__init__()
                    self.embed = nn.Embedding(vocab, dim)
                    self.pos = nn.Embedding(512, dim)
                    self.layers = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

                def forward(self, tokens):
                    return self.layers(self.embed(tokens))
            """,
            7,
        ),
        Bad(
            """
            import torch.nn as nn

            class Transformer(nn.Module):
                def __init__(self, dim, classes):
                    super().__init__()
                    self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 8), 6)
                    self.norm = nn.LayerNorm(dim)
                    self.head = nn.Linear(dim, classes)

                def forward(self, x):
                    return self.head(self.encoder(x).mean(1))
            """,
            7,
            files={
                "word_language_model/model.py": """
                    import torch.nn as nn

                    class TransformerModel(nn.Transformer):
                        def forward(self, src):
                            return super().forward(src, src)
                """
            },
            note="pytorch/examples: a model deriving from torch's nn.Transformer is no subclass of the project's"
                 " own Transformer, which may leave a layer unused",
        ),
    ]
    good = [
        Good(
            """
            import torch
            import torch.nn as nn

            class VAE(nn.Module):
                def __init__(self, dim, latent):
                    super().__init__()
                    self.encoder = nn.Linear(dim, 2 * latent)
                    self.decoder = nn.Linear(latent, dim)

                def encode(self, x):
                    return self.encoder(x).chunk(2, dim=-1)

                def decode(self, z):
                    return self.decoder(z)

                def forward(self, x):
                    mu, logvar = self.encode(x)
                    return self.decode(mu + (0.5 * logvar).exp() * torch.randn_like(mu)), mu, logvar
            """,
            note="used in other methods",
        ),
        Good(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    for i in range(depth):
                        setattr(self, f"layer{i}", nn.Linear(64, 64))
                    self.head = nn.Linear(64, 10)
                    self.aux = nn.Linear(64, 10)

                def forward(self, x):
                    for i in range(self.depth):
                        x = getattr(self, f"layer{i}")(x)
                    return self.head(x)
            """,
            note="attributes reached by name",
        ),
        Good(
            """
            import torch.nn as nn

            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.stem = nn.Conv2d(3, 64, 7, 2, 3)
                    self.fc = nn.Linear(64, 1000)

                def forward(self, x):
                    return self.stem(x)

            class Classifier(Backbone):
                def forward(self, x):
                    return self.fc(super().forward(x).mean((2, 3)))
            """,
            note="a subclass uses the layer",
        ),
        Good(
            """
            import torch.nn as nn

            class GPT(nn.Module):
                def __init__(self, vocab, dim):
                    super().__init__()
                    self.wte = nn.Embedding(vocab, dim)
                    self.lm_head = nn.Linear(dim, vocab, bias=False)
                    self.wte.weight = self.lm_head.weight

                def forward(self, idx):
                    return self.wte(idx) @ self.wte.weight.T
            """,
            note="a tied weight",
        ),
        Good(
            """
            import torch

            class Submodule(torch.nn.Module):
                def __init__(self, h: int):
                    super().__init__()
                    self.l = torch.nn.Linear(4, h * 2, bias=False)

                def forward(self, x):
                    # defined just because preprocessing fails otherwise
                    ...

            class MyModel(torch.nn.Module):
                def __init__(self, h: int):
                    super().__init__()
                    self.register_buffer("buf", torch.tensor(0))
                    self.l = torch.nn.Linear(2, h)
                    self.inner = Submodule(h)

                def forward(self):
                    # defined just because preprocessing fails otherwise
                    ...
            """,
            note="litgpt tests/ext_thunder: a fixture whose forward() is a stub computes nothing",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for module_class in facts.module_classes:
            forward = module_class.method("forward")
            if forward is None or _is_stub(forward) or facts.is_inherited(module_class.name):
                continue
            if not module_class.only_torch_bases:
                continue  # a parent class may use the layer
            yield from self._check_class(facts, module_class)

    def _check_class(self, facts: FileFacts, module_class: ModuleClass) -> Iterator[Report]:
        # a cheap text filter first (a second CST traversal costs as much as the first):
        # a layer the class's text mentions more than once is used
        text = _class_text(facts.source, module_class.name)
        candidates = {
            attr: layer
            for attr, layer in module_class.layers.items()
            if len(re.findall(rf"\bself\.{re.escape(attr)}\b", text)) <= 1
        }
        if not candidates:
            return
        selves = {f.params.params[0].name.value for f in module_class.info.methods.values() if f.params.params}
        visitor = _SelfAttributes(selves | {"self"})
        module_class.node.visit(visitor)
        if visitor.dynamic:
            return
        assigned: Counter[str] = Counter()
        for func in module_class.info.methods.values():
            for assign in facts.assigns_in(func):
                targets = assign.node.targets if isinstance(assign.node, cst.Assign) else [assign.node]
                for target in targets:
                    node = target.target
                    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
                        assigned[node.attr.value] += 1
        for attr, layer in candidates.items():
            if visitor.counts[attr] > assigned[attr]:
                continue
            if not _has_weights(facts, module_class, attr, layer.qualname):
                continue
            yield self.report(
                layer.statement,
                f"`self.{attr}` is built in __init__ but no method of {module_class.name} uses it: its weights "
                "never get a gradient (and DDP fails on unused parameters); call it in forward() or delete it",
                first_line_only=True,
            )


def _is_stub(function: cst.FunctionDef) -> bool:
    """`def forward(self): ...` / `pass` / `raise NotImplementedError`: the class computes nothing
    (a test fixture that only holds parameters, an abstract base), so no layer is "unused"."""
    body = function.body
    if not isinstance(body, cst.IndentedBlock):
        statements = [body]
    else:
        statements = list(body.body)
    smalls = []
    for stmt in statements:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        smalls.extend(stmt.body)
    for small in smalls:
        if isinstance(small, cst.Pass):
            continue
        if isinstance(small, cst.Expr) and isinstance(small.value, (cst.Ellipsis, cst.SimpleString, cst.ConcatenatedString)):
            continue
        if isinstance(small, cst.Raise) and small.exc is not None:
            exc = small.exc.func if isinstance(small.exc, cst.Call) else small.exc
            if isinstance(exc, cst.Name) and exc.value == "NotImplementedError":
                continue
        return False
    return True


def _class_text(source: str, name: str) -> str:
    """The source lines of every class called `name` (indentation decides where one ends)."""
    lines = source.splitlines()
    header = re.compile(rf"^([ \t]*)class {re.escape(name)}\b")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = header.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        while i < len(lines):
            line = lines[i]
            stripped = line.lstrip()
            if stripped and not stripped.startswith("#") and len(line) - len(stripped) <= indent:
                break
            out.append(line)
            i += 1
    return "\n".join(out)


def _has_weights(facts: FileFacts, module_class: ModuleClass, attr: str, qualname: str | None) -> bool:
    if facts.class_has_parameters(qualname):
        return True
    return any(e.has_weights for e in module_class.stacks.get(attr, ()))
