"""Facts about nn.Module classes: layers built in __init__, what forward() does.

Everything here is read from the class's source; nothing is imported or executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import CallInfo, ClassInfo
from trainlint.facts.forward import ForwardPaths
from trainlint.facts.heads import head_facts
from trainlint.facts.modes import class_behaves_differently_in_eval
from trainlint.facts.stacks import Seq
from trainlint.facts.syntax import dotted
from trainlint.facts.vocabulary import PARAMETER
from trainlint.facts.walk import walk
from trainlint.index import MODULE_BASES, ClassSummary

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

    def _reachable_from(self, start: str, inherited: bool = False) -> list[cst.FunctionDef]:
        """`start` and the methods it calls through `self.`, transitively; with `inherited`,
        methods are looked up as Python does for an instance of this class, through its
        base classes in the file (a base's forward() calling a hook this class overrides)."""
        method = self._resolved if inherited else self.method
        first = method(start)
        if first is None:
            return []
        seen = {id(first)}
        order = [first]
        i = 0
        while i < len(order):
            func = order[i]
            i += 1
            for call in self.facts.calls_in(func):
                name = dotted(call.node.func)
                if name and name.startswith("self.") and name.count(".") == 1:
                    target = method(name[5:])
                    if target is not None and id(target) not in seen:
                        seen.add(id(target))
                        order.append(target)
        return order

    def _resolved(self, name: str) -> cst.FunctionDef | None:
        """The method `name` of an instance: this class's own, else the nearest base's in the file."""
        return next((cls.methods[name] for cls in self.facts.class_and_bases(self.info) if name in cls.methods), None)

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
    def forward_paths(self) -> ForwardPaths:
        """What forward() does to its input: the paths to its outputs, gates, tensors stored on self."""
        return ForwardPaths(self.facts, self.info, self.stacks)

    @property
    def only_torch_bases(self) -> bool:
        """Every base is nn.Module (or Lightning's module): no parent class of the project uses its layers."""
        return all(base in MODULE_BASES for base in self.info.base_names)

    @cached_property
    def constructed_in_forward(self) -> list[CallInfo]:
        """Module constructors called on every forward() (seed 004's nn.Conv2d).

        Lazy construction that happens once is left out: a method behind a caching
        decorator (`@singleton("projector")`, `@lru_cache`), or a constructor under
        `if self.x is None:` / `if not hasattr(self, "x"):`. Models that build a layer
        lazily run one forward before creating the optimizer (BYOL, DINO).
        """
        found = []
        own = {id(node) for node in self.info.methods.values()}
        # a base's forward() may call a method this class overrides; the base's own methods
        # are reported with the base
        for func in self._reachable_from("forward", inherited=True):
            if id(func) not in own:
                continue
            calls = [c for c in self.facts.calls_in(func) if self.facts.is_module_class(c.qualname)]
            if not calls or any(_caching_decorator(d) for d in func.decorators):
                continue
            lazy = _calls_under_lazy_guards(func)
            found.extend(c for c in calls if id(c.node) not in lazy)
        return found

    @cached_property
    def has_parameters(self) -> bool:
        """Whether instances own weights: __init__ (or a builder it calls) constructs a layer
        with parameters or an nn.Parameter, however the layers are then stored."""
        in_progress = self.facts.__dict__.setdefault("_has_parameters_in_progress", set())
        if self.name in in_progress:
            return False  # a class that builds itself: decided by its other layers
        in_progress.add(self.name)
        try:
            return any(
                call.qualname in PARAMETER
                or self.facts.class_has_parameters(call.qualname)
                for func in self._init_and_builders()
                for call in self.facts.calls_in(func)
            )
        finally:
            in_progress.discard(self.name)

    def _init_and_builders(self) -> list[cst.FunctionDef]:
        """__init__'s methods plus the file's top-level functions they call (layer builders)."""
        builders = {f.name: f.node for f in self.facts.collected.functions if f.cls is None and f.parent is None}
        order = list(self.init_functions)
        seen = {id(f) for f in order}
        i = 0
        while i < len(order):
            for call in self.facts.calls_in(order[i]):
                target = builders.get(dotted(call.node.func) or "")
                if target is not None and id(target) not in seen:
                    seen.add(id(target))
                    order.append(target)
            i += 1
        return order

    def summary(self) -> ClassSummary:
        return ClassSummary(
            name=self.name,
            path=self.facts.path,
            module=self.facts.module_name,
            bases=self.info.base_names,
            facts={
                "has_parameters": self.has_parameters,
                "mode_dependent": class_behaves_differently_in_eval(self.facts, self.name),
                **head_facts(self.facts.losses.flow.class_head(self.info)),
            },
        )


def _caching_decorator(decorator: cst.Decorator) -> bool:
    """Any decorator but torch's own (`@torch.no_grad()`, `@torch.jit.ignore`) may cache the result."""
    target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
    return not (dotted(target) or "").startswith("torch.")


def _is_lazy_guard(test: cst.BaseExpression) -> bool:
    """`x is None`, `not hasattr(self, "x")`, `"x" not in self.__dict__`, `not self.built`."""
    code = cst.Module([]).code_for_node(test)
    return " is None" in code or "hasattr(" in code or " not in " in code or code.startswith("not self.")


def _calls_under_lazy_guards(func: cst.FunctionDef) -> set[int]:
    found: set[int] = set()

    class Guards(cst.CSTVisitor):
        depth = 0

        def visit_If(self, node: cst.If) -> None:
            if _is_lazy_guard(node.test):
                self.depth += 1

        def leave_If(self, node: cst.If) -> None:
            if _is_lazy_guard(node.test):
                self.depth -= 1

        def visit_Call(self, node: cst.Call) -> None:
            if self.depth:
                found.add(id(node))

    walk(func, Guards())
    return found


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


__all__ = ["Layer", "ModuleClass", "build_module_classes"]
