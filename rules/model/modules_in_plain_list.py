from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, ModuleClass, dotted
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Importer, Replacement, Report, Rule

_REGISTERING = frozenset({"add_module", "register_module", "setattr", "register_parameter"})


class ModulesInPlainList(Rule):
    """
    ## What it does
    Finds layers with weights kept in a plain Python `list`, `tuple` or `dict` attribute
    in `__init__` (a literal, a comprehension, or an empty list filled with `append`),
    instead of `nn.ModuleList` / `nn.ModuleDict`.

    ## Why is this bad?
    `nn.Module` registers only sub-modules assigned as attributes or held by its
    containers. Layers in a plain list are invisible: `model.parameters()` does not
    return them, so the optimizer never updates their random weights; `model.to(device)`
    leaves them on the CPU; `state_dict()` does not save them; `model.eval()` does not
    switch their dropout and batch norm. The model trains, badly, with a frozen random
    part (seed 004 lists unregistered layers among the causes).

    ## How to fix
    Wrap the list in `nn.ModuleList(...)` (a dict in `nn.ModuleDict(...)`).

    ## Fix safety
    Safe: the container behaves like the list (indexing, iteration, `len`, `append`),
    and only adds the registration.
    """

    code = "TL207"
    name = "modules-in-plain-list"
    severity = Severity.ERROR
    summary = "layers kept in a plain list/dict attribute are never registered"
    seeds = ("004",)
    fix_applicability = Applicability.SAFE

    bad = [
        Bad(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x).relu()
                    return x
            """,
            6,
            fixed="""
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x).relu()
                    return x
            """,
        ),
        Bad(
            """
            import torch
            from torch import nn

            class MultiHead(nn.Module):
                def __init__(self, dim, tasks):
                    super().__init__()
                    self.heads = {"age": nn.Linear(dim, 1), "gender": nn.Linear(dim, 2)}
                    self.blocks = list()
                    for _ in range(4):
                        self.blocks.append(nn.Conv2d(dim, dim, 3, padding=1))

                def forward(self, x):
                    for block in self.blocks:
                        x = torch.relu(block(x))
                    x = x.mean((2, 3))
                    return {name: head(x) for name, head in self.heads.items()}
            """,
            7, 8,
            fixed="""
            import torch
            from torch import nn

            class MultiHead(nn.Module):
                def __init__(self, dim, tasks):
                    super().__init__()
                    self.heads = nn.ModuleDict({"age": nn.Linear(dim, 1), "gender": nn.Linear(dim, 2)})
                    self.blocks = nn.ModuleList()
                    for _ in range(4):
                        self.blocks.append(nn.Conv2d(dim, dim, 3, padding=1))

                def forward(self, x):
                    for block in self.blocks:
                        x = torch.relu(block(x))
                    x = x.mean((2, 3))
                    return {name: head(x) for name, head in self.heads.items()}
            """,
        ),
        Bad(
            """
            import torch.nn as nn

            from layer_norm_lstm import LayerNormLSTMCell

            class MetaOptimizer(nn.Module):
                def __init__(self, hidden_size, num_layers):
                    super().__init__()
                    self.lstms = []
                    for _ in range(num_layers):
                        self.lstms.append(LayerNormLSTMCell(hidden_size, hidden_size))
                    self.out = nn.Linear(hidden_size, 1)

                def forward(self, x, states):
                    for i, cell in enumerate(self.lstms):
                        x, states[i] = cell(x, states[i])
                    return self.out(x)
            """,
            8,
            fixed="""
            import torch.nn as nn

            from layer_norm_lstm import LayerNormLSTMCell

            class MetaOptimizer(nn.Module):
                def __init__(self, hidden_size, num_layers):
                    super().__init__()
                    self.lstms = nn.ModuleList()
                    for _ in range(num_layers):
                        self.lstms.append(LayerNormLSTMCell(hidden_size, hidden_size))
                    self.out = nn.Linear(hidden_size, 1)

                def forward(self, x, states):
                    for i, cell in enumerate(self.lstms):
                        x, states[i] = cell(x, states[i])
                    return self.out(x)
            """,
            note="a cell from a module this run does not read: named like an LSTMCell, it is taken to have weights",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
                    self.acts = [nn.ReLU(), nn.GELU()]

                def forward(self, x):
                    for layer, act in zip(self.layers, self.acts):
                        x = act(layer(x))
                    return x
            """,
            note="parameter-free modules in a list lose nothing",
        ),
        Good(
            """
            import torch.nn as nn

            class VGG(nn.Module):
                def __init__(self, cfg):
                    super().__init__()
                    self.layers = []
                    for v in cfg:
                        self.layers += [nn.Conv2d(3, v, 3, padding=1), nn.ReLU()]
                    self.features = nn.Sequential(*self.layers)

                def forward(self, x):
                    return self.features(x)
            """,
            note="the list is handed to nn.Sequential, which registers the layers",
        ),
        Good(
            """
            import torch.nn as nn

            class Towers(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.towers = [nn.Linear(8, 8) for _ in range(n)]
                    for i, tower in enumerate(self.towers):
                        self.add_module(f"tower{i}", tower)
                    self.shared = (self.towers[0],)

                def forward(self, x):
                    return sum(t(x) for t in self.towers)
            """,
            note="registered one by one with add_module",
        ),
        Good(
            """
            import torch.nn as nn

            from activations import Swish, HardMish

            class Head(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, 10)
                    self.acts = [Swish(), HardMish()]

                def forward(self, x, i):
                    return self.fc(self.acts[i](x))
            """,
            note="unread project classes not named like weight layers are not assumed to have weights",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for module_class in facts.module_classes:
            yield from self._check_class(facts, module_class)

    def _check_class(self, facts: FileFacts, module_class: ModuleClass) -> Iterator[Report]:
        functions = module_class.init_functions
        calls = [call for func in functions for call in facts.calls_in(func)]
        if any((dotted(c.node.func) or "").rsplit(".", 1)[-1] in _REGISTERING for c in calls):
            return
        assigned: dict[str, list[cst.Assign]] = {}
        for func in functions:
            for assign in facts.assigns_in(func):
                node = assign.node
                if isinstance(node, cst.Assign) and len(node.targets) == 1:
                    key = dotted(node.targets[0].target)
                    if key and key.startswith("self.") and key.count(".") == 1:
                        assigned.setdefault(key, []).append(node)
        for key, assigns in assigned.items():
            if len(assigns) != 1:
                continue  # rebuilt later in __init__, e.g. as nn.ModuleList(self.layers)
            value = assigns[0].value
            if not self._holds_weights(facts, key, value, calls):
                continue
            if any(self._mentions(arg.value, key) for c in calls for arg in c.node.args):
                continue  # handed to nn.Sequential(*self.layers), a container, a registering helper
            yield self.report(
                value,
                f"`{key}` keeps layers with weights in a plain {_kind(value)}: they are not registered, "
                "so the optimizer, .to(device) and state_dict() never see them",
                fix=self._fix(facts, value),
                first_line_only=True,
            )

    @staticmethod
    def _holds_weights(facts: FileFacts, key: str, value: cst.BaseExpression, calls) -> bool:
        if _empty_list(value):
            items = [
                c.node.args[0].value
                for c in calls
                if isinstance(c.node.func, cst.Attribute)
                and c.node.func.attr.value in ("append", "extend", "insert")
                and dotted(c.node.func.value) == key
                and c.node.args
            ]
            items = [i for item in items for i in (item.elements if isinstance(item, cst.List) else [item])]
            items = [getattr(i, "value", i) for i in items]
        elif isinstance(value, (cst.List, cst.Tuple)):
            items = [e.value for e in value.elements]
        elif isinstance(value, (cst.ListComp, cst.GeneratorExp)):
            items = [value.elt]
        elif isinstance(value, cst.Dict):
            items = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
        elif isinstance(value, cst.DictComp):
            items = [value.value]
        else:
            return False
        return any(
            isinstance(item, cst.Call) and facts.class_may_have_parameters(facts.qualname(item.func)) for item in items
        )

    @staticmethod
    def _mentions(node: cst.CSTNode, key: str) -> bool:
        if dotted(node) == key:  # type: ignore[arg-type]
            return True
        return any(ModulesInPlainList._mentions(child, key) for child in node.children)

    def _fix(self, facts: FileFacts, value: cst.BaseExpression):
        is_dict = isinstance(value, (cst.Dict, cst.DictComp))
        qualname = "torch.nn.ModuleDict" if is_dict else "torch.nn.ModuleList"
        reference = Importer(facts.source, facts.module).reference(qualname, value, may_import=False)
        if reference is None:
            return None
        container = reference.text
        if isinstance(value, cst.Dict) and not all(
            isinstance(e, cst.DictElement) and isinstance(e.key, (cst.SimpleString, cst.FormattedString)) for e in value.elements
        ):
            return None  # nn.ModuleDict wants string keys
        if _empty_list(value):
            new = f"{container}()"
        elif isinstance(value, cst.Tuple):
            new = f"{container}([{facts.code(cst.List(value.elements))[1:-1]}])"
        else:
            new = f"{container}({facts.code(value)})"
        return self.fix(f"Wrap in `{container}`", Replacement(value, new), names=reference.names)


def _empty_list(value: cst.BaseExpression) -> bool:
    """`[]`, `()` or `list()`: filled later with append."""
    if isinstance(value, (cst.List, cst.Tuple)):
        return not value.elements
    return isinstance(value, cst.Call) and dotted(value.func) == "list" and not value.args


def _kind(value: cst.BaseExpression) -> str:
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(value, cst.Tuple):
        return "tuple"
    return "list"
