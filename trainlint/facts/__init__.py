"""What a file does for training, computed once per file and shared by every rule.

`FileFacts` holds the single traversal's results and builds the richer facts
(module classes, data pipelines, training loops) lazily, the first time a rule asks:
a file no rule asks about loops never pays for loop analysis.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import AssignInfo, CallInfo, Collected, collect
from trainlint.facts.vocabulary import has_parameters
from trainlint.index import ProjectIndex, is_torch_module_class, MODULE_BASES
from trainlint.names import ImportTable

if TYPE_CHECKING:
    from trainlint.facts.data import DataFacts
    from trainlint.facts.loops import LoopFacts
    from trainlint.facts.losses import LossFacts
    from trainlint.facts.modules import ModuleClass
    from trainlint.facts.stacks import Stacks


class FileFacts:
    def __init__(
        self,
        path: str,
        source: str,
        module: cst.Module,
        *,
        module_name: str = "",
        package: str = "",
        index: ProjectIndex | None = None,
    ) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.module_name = module_name
        self.index = index if index is not None else ProjectIndex()
        self.collected: Collected = collect(module, ImportTable(module_name, package))
        self.names: ImportTable = self.collected.names

    # names -------------------------------------------------------------------
    def qualname(self, node: cst.BaseExpression) -> str | None:
        return self.names.qualname(node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    # per-function views of the traversal ------------------------------------
    @cached_property
    def _by_function(self) -> tuple[dict, dict]:
        calls: dict[int, list] = {}
        assigns: dict[int, list] = {}
        for call in self.collected.calls:
            calls.setdefault(id(call.function.node) if call.function else 0, []).append(call)
        for assign in self.collected.assigns:
            assigns.setdefault(id(assign.function.node) if assign.function else 0, []).append(assign)
        return calls, assigns

    def calls_in(self, function: cst.FunctionDef | None) -> list[CallInfo]:
        """Calls made directly in a function's body (not in defs nested in it), in source order."""
        return self._by_function[0].get(id(function) if function is not None else 0, [])

    def assigns_in(self, function: cst.FunctionDef | None) -> list[AssignInfo]:
        return self._by_function[1].get(id(function) if function is not None else 0, [])

    # module classes ----------------------------------------------------------
    @cached_property
    def module_classes(self) -> list["ModuleClass"]:
        from trainlint.facts.modules import build_module_classes

        return build_module_classes(self)

    @cached_property
    def local_module_classes(self) -> dict[str, "ModuleClass"]:
        return {mc.name: mc for mc in self.module_classes}

    @cached_property
    def stacks(self) -> "Stacks":
        """The layers every nn.Sequential / layer list of the file holds, in order."""
        from trainlint.facts.stacks import Stacks

        return Stacks(self)

    def is_module_class(self, qualname: str | None, _seen: frozenset[str] = frozenset()) -> bool:
        """Whether a name refers to an nn.Module class: torch's, this file's or the project's."""
        if not qualname:
            return False
        if qualname in MODULE_BASES or is_torch_module_class(qualname):
            return True
        local = self._local_class(qualname)
        if local is not None:
            if qualname in _seen:
                return False
            return any(self.is_module_class(b, _seen | {qualname}) for b in local.base_names)
        return self.index.is_module_class(qualname, near=self.path)

    def class_has_parameters(self, qualname: str | None) -> bool:
        """Whether a module class owns weights; False when that cannot be known."""
        if not qualname:
            return False
        if has_parameters(qualname):
            return True
        local = self.local_module_classes.get(qualname.rsplit(".", 1)[-1]) if self._local_class(qualname) else None
        if local is not None:
            return local.has_parameters
        summary = self.index.lookup(qualname, near=self.path)
        return bool(summary and summary.facts.get("has_parameters"))

    def _local_class(self, qualname: str):
        if "." in qualname and not qualname.startswith(self.module_name + "."):
            return None
        name = qualname.rsplit(".", 1)[-1]
        for info in self.collected.classes:
            if info.name == name and info.outer is None:
                return info
        return None

    # data --------------------------------------------------------------------
    @cached_property
    def data(self) -> "DataFacts":
        from trainlint.facts.data import build_data_facts

        return build_data_facts(self)

    # training loops (the events of one iteration, in order) -----------------
    @cached_property
    def loops(self) -> "LoopFacts":
        from trainlint.facts.loops import build_loop_facts

        return build_loop_facts(self)

    # losses (what was fed to them) and model heads -----------------------------
    @cached_property
    def losses(self) -> "LossFacts":
        from trainlint.facts.losses import build_loss_facts

        return build_loss_facts(self)
