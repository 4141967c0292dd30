"""Facts about nn.Module classes: layers built in __init__, what forward() does.

Everything here is read from the class's source; nothing is imported or executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import CallInfo, ClassInfo
from trainlint.facts.stacks import Flow, Seq
from trainlint.facts.torch_api import has_parameters
from trainlint.index import ClassSummary
from trainlint.names import dotted

if TYPE_CHECKING:
    from trainlint.facts import FileFacts


@dataclass(eq=False)
class Layer:
    """`self.<attr> = <constructor>(...)` in __init__ (or a helper it calls)."""

    attr: str
    qualname: str | None
    call: cst.Call
    statement: cst.CSTNode
    #: Layers built inline as arguments of a container (nn.Sequential(nn.Conv2d(...), ...)).
    children: list["Layer"] = field(default_factory=list)


@dataclass(eq=False)
class StoredOnSelf:
    """`self.<attr> = <value>` executed inside forward() or a method it calls."""

    attr: str
    value: cst.BaseExpression
    statement: cst.CSTNode
    function: cst.FunctionDef


@dataclass(eq=False)
class ModuleClass:
    info: ClassInfo
    facts: "FileFacts" = field(repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def node(self) -> cst.ClassDef:
        return self.info.node

    def method(self, name: str) -> cst.FunctionDef | None:
        return self.info.methods.get(name)

    @cached_property
    def init_functions(self) -> list[cst.FunctionDef]:
        """__init__ and the methods of this class it calls through `self.`, transitively."""
        return self._reachable_from("__init__")

    @cached_property
    def forward_functions(self) -> list[cst.FunctionDef]:
        """forward() and the methods of this class it calls through `self.`, transitively."""
        return self._reachable_from("forward")

    def _reachable_from(self, start: str) -> list[cst.FunctionDef]:
        first = self.method(start)
        if first is None:
            return []
        seen = {id(first)}
        order = [first]
        by_node = {id(node): node for node in self.info.methods.values()}
        i = 0
        while i < len(order):
            func = order[i]
            i += 1
            for call in self.facts.calls_in(func):
                name = dotted(call.node.func)
                if name and name.startswith("self.") and name.count(".") == 1:
                    target = self.method(name[5:])
                    if target is not None and id(target) not in seen and id(target) in by_node:
                        seen.add(id(target))
                        order.append(target)
        return order

    @cached_property
    def layers(self) -> dict[str, Layer]:
        layers: dict[str, Layer] = {}
        for func in self.init_functions:
            for assign in self.facts.assigns_in(func):
                node = assign.node
                if not isinstance(node, cst.Assign) or not isinstance(node.value, cst.Call):
                    continue
                for target in node.targets:
                    attr = _self_attr(target.target)
                    if attr is None:
                        continue
                    layer = self._layer(attr, node.value, node)
                    if layer is not None:
                        layers[attr] = layer
        return layers

    def _layer(self, attr: str, call: cst.Call, statement: cst.CSTNode) -> Layer | None:
        qualname = self.facts.qualname(call.func)
        if not self.facts.is_module_class(qualname):
            return None
        children = []
        for i, arg in enumerate(call.args):
            if isinstance(arg.value, cst.Call):
                child = self._layer(f"{attr}[{i}]", arg.value, statement)
                if child is not None:
                    children.append(child)
        return Layer(attr, qualname, call, statement, children)

    @cached_property
    def stacks(self) -> dict[str, Seq]:
        """`self.<attr>` -> the modules it holds in order (one for a single layer), from __init__."""
        return self.facts.stacks.attributes(self.init_functions, self.info)

    @cached_property
    def flow(self) -> Flow:
        """What forward() does to its input: the paths to its outputs, gates, tensors stored on self."""
        return Flow(self.facts, self.info, self.stacks)

    @cached_property
    def constructed_in_forward(self) -> list[CallInfo]:
        """Module constructors called while forward() runs (seed 004's nn.Conv2d)."""
        return [
            call
            for func in self.forward_functions
            for call in self.facts.calls_in(func)
            if self.facts.is_module_class(call.qualname)
        ]

    @cached_property
    def stored_in_forward(self) -> list[StoredOnSelf]:
        stored = []
        for func in self.forward_functions:
            for assign in self.facts.assigns_in(func):
                node = assign.node
                if isinstance(node, cst.Assign):
                    targets = [t.target for t in node.targets]
                elif isinstance(node, cst.AnnAssign):
                    targets = [node.target]
                else:
                    continue
                for target in targets:
                    attr = _self_attr(target)
                    if attr is not None and node.value is not None:
                        stored.append(StoredOnSelf(attr, node.value, node, func))
        return stored

    @cached_property
    def has_parameters(self) -> bool:
        """Whether instances own weights: a layer with parameters or an nn.Parameter."""
        if any(self.facts.class_has_parameters(layer.qualname) for layer in self.layers.values()):
            return True
        return any(
            call.qualname in ("torch.nn.Parameter", "torch.nn.parameter.Parameter")
            for func in self.init_functions
            for call in self.facts.calls_in(func)
        )

    def summary(self) -> ClassSummary:
        from trainlint.facts.heads import head_facts

        return ClassSummary(
            name=self.name,
            path=self.facts.path,
            module=self.facts.module_name,
            bases=self.info.base_names,
            facts={"has_parameters": self.has_parameters, **head_facts(self)},
        )


def _self_attr(target: cst.BaseExpression) -> str | None:
    if (
        isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value == "self"
    ):
        return target.attr.value
    return None


def build_module_classes(facts: "FileFacts") -> list[ModuleClass]:
    return [
        ModuleClass(info, facts)
        for info in facts.collected.classes
        if any(facts.is_module_class(base) for base in info.base_names)
    ]


def summarize(facts: "FileFacts") -> list[ClassSummary]:
    """What other files of the project may need to know about this file's classes."""
    return [mc.summary() for mc in facts.module_classes if mc.info.outer is None]


__all__ = ["Layer", "ModuleClass", "StoredOnSelf", "build_module_classes", "summarize", "has_parameters"]
