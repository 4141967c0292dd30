"""What a file does for training, computed once per file and shared by every rule.

`FileFacts` is the one API a rule reads: it holds the single traversal's results and
builds the richer facts (module classes, stacks, data pipelines, training loops, losses,
weight initialization) lazily, the first time a rule asks, once per file: a file no rule
asks about loops never pays for loop analysis. Every type a rule meets, and the syntax
helpers a rule needs to read a node, are exported here (`__all__`); the modules under
trainlint/facts/ are the implementation.

A fact reads the source text, the project index and the inputs given here (the file's
path, module name and whether it is test code): never the file system.
"""

from __future__ import annotations

from functools import cached_property

import libcst as cst

from trainlint.facts.callsites import call_sites, passed_classes
from trainlint.facts.collect import AssignInfo, CallInfo, ClassInfo, Collected, FunctionInfo, LoopInfo, collect
from trainlint.facts.data_classes import data_class_summaries
from trainlint.facts.data import DataFacts, Dataset, Loader, Pipeline, Step
from trainlint.facts.data_builder import build_data_facts
from trainlint.facts.forward import ForwardPath, ForwardPaths, Store
from trainlint.facts.inits import ConstantInit, EmptyParameter, Guard, InitFacts
from trainlint.facts.kinds import DataRole, ElementKind, EventKind, SchedulerKind
from trainlint.facts.loops import (
    Event,
    Loop,
    LoopEvents,
    LoopFacts,
    Optimizer,
    Scheduler,
    evaluation_loop,
    is_evaluation_function,
    is_optimizer_class,
    is_periodic,
    is_scheduler_class,
    same_model,
)
from trainlint.facts.loop_builder import build_loop_facts
from trainlint.facts.losses import LossFacts, LossUse
from trainlint.facts.modes import behaves_differently_in_eval
from trainlint.facts.modules import Layer, ModuleClass, build_module_classes
from trainlint.facts.roles import RoleEvidence, names_a_loader, says_only
from trainlint.facts.stacks import Element, Seq, Stacks, has_bias
from trainlint.facts.syntax import (
    argument,
    boolean,
    dotted,
    is_none,
    keyword,
    keyword_arg,
    last_name,
    method_name,
    number,
    positional,
    string,
)
from trainlint.facts.values import Value
from trainlint.facts.vocabulary import (
    BIAS_POSITION,
    CONV,
    RECURRENT,
    WEIGHT_LAYER_SUFFIXES,
    has_parameters,
    is_weight_layer,
)
from trainlint.facts.walk import walk
from trainlint.index import MODULE_BASES, CallSite, ClassSummary, ProjectIndex, is_torch_module_class
from trainlint.layout import is_test_module
from trainlint.names import ImportTable
from trainlint.source import class_rows, python_ast


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
        test_code: bool = False,
        python_classes: tuple[tuple[str, int, int], ...] | None = None,
    ) -> None:
        """`python_classes`: the file's class_rows, when the caller has them (trainlint.source.PythonView)."""
        self.path = path
        self.source = source
        self.module = module
        self.module_name = module_name
        self.index = index if index is not None else ProjectIndex()
        #: The file belongs to a test suite (a test module, or a file under the project's
        #: tests/ folder): decided by the caller, who knows the project's layout.
        self.test_code = test_code
        self._python_classes = python_classes
        self.collected: Collected = collect(module, ImportTable(module_name, package), source)
        self.names: ImportTable = self.collected.names

    # the traversal ---------------------------------------------------------------
    @property
    def calls(self) -> list[CallInfo]:
        """Every call of the file, in source order, with its qualified name, function and loops."""
        return self.collected.calls

    @property
    def assigns(self) -> list[AssignInfo]:
        """Every assignment (`=`, annotated, augmented), in source order."""
        return self.collected.assigns

    @property
    def classes(self) -> list[ClassInfo]:
        return self.collected.classes

    @property
    def functions(self) -> list[FunctionInfo]:
        return self.collected.functions

    @property
    def whole_program(self) -> bool:
        """A notebook: no other file imports it (a `.py` never imports a notebook), so every
        use of what it builds is in this file."""
        return self.path.endswith(".ipynb")

    @property
    def is_test_module(self) -> bool:
        """A test module by its own name (`test_*.py`, `*_test.py`, `conftest.py`)."""
        return is_test_module(self.path)

    # names -------------------------------------------------------------------
    def qualname(self, node: cst.BaseExpression) -> str | None:
        return self.names.qualname(node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def class_text(self, node: cst.ClassDef) -> str:
        """The source lines of a class of this file, decorators to last line: what a regex
        over the class reads. Cut from the text by CPython's positions, because generating
        a class's code from its LibCST tree costs about as much as parsing it."""
        span = self._class_spans.get(id(node))
        if span is None:
            return self.code(node)
        return "\n".join(self._lines[span[0] - 1 : span[1]])

    @cached_property
    def _lines(self) -> list[str]:
        return self.source.split("\n")

    @cached_property
    def _class_spans(self) -> dict[int, tuple[int, int]]:
        """id(LibCST ClassDef) -> its first and last row. Both trees list a file's classes in
        the same order (a class is a statement, never part of an expression); a file whose
        trees disagree (a text CPython refuses) gets no spans and falls back to codegen."""
        rows = self._python_classes
        if rows is None:
            try:
                rows = class_rows(python_ast(self.source, self.path))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return {}
        ours = self.collected.classes
        if len(rows) != len(ours) or any(row[0] != info.name for row, info in zip(rows, ours)):
            return {}
        return {id(info.node): (first, last) for info, (_, first, last) in zip(ours, rows)}

    @property
    def identifier_counts(self) -> dict[str, int]:
        """How often each identifier appears in the file, as a name or as an attribute
        (`self.test_loader` counts `test_loader`): once means bound and never read."""
        return self.collected.identifier_counts

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
    def module_classes(self) -> list[ModuleClass]:
        return build_module_classes(self)

    @cached_property
    def local_module_classes(self) -> dict[str, ModuleClass]:
        return {mc.name: mc for mc in self.module_classes}

    @cached_property
    def only_model_class(self) -> ClassInfo | None:
        """The file's one top-level nn.Module class, when it has exactly one: what a model
        received as a parameter holds when nothing in the file passes one (the training
        helpers of a file that defines its network)."""
        top = [
            mc.info for mc in self.module_classes
            if mc.info.outer is None and not _names_a_loss(mc.info.name) and not any(map(_names_a_loss, mc.info.base_names))
        ]
        return top[0] if len(top) == 1 else None

    @cached_property
    def call_sites(self) -> tuple[CallSite, ...]:
        """The file's calls of functions it imports from the project, with the classes each
        argument may hold: what the project index tells the called file (facts.callsites)."""
        return call_sites(self)

    def passed_classes(self, function: FunctionInfo, name: str, position: int) -> list[str | None]:
        """Per call of a top-level function of this file in another file of the project: the
        class its parameter `name` receives there, or None where that is not one known class
        (facts.callsites.passed_classes). Empty: no other file calls it."""
        return passed_classes(self, function, name, position)

    @cached_property
    def stacks(self) -> Stacks:
        """The layers every nn.Sequential / layer list of the file holds, in order."""
        return Stacks(self)

    @cached_property
    def layer_paths(self) -> list[ForwardPath]:
        """Every sequence of layers of the file, in order: what forward() of each module
        class runs from its input to each output, then each nn.Sequential's layers."""
        paths: list[ForwardPath] = []
        for module_class in self.module_classes:
            paths.extend(module_class.forward_paths.returns)
        paths.extend(seq for _, seq in self.stacks.all_sequentials())
        return paths

    def is_module_class(self, qualname: str | None, _seen: frozenset[str] = frozenset()) -> bool:
        """Whether a name refers to an nn.Module class: torch's, this file's or the project's."""
        if not qualname:
            return False
        if qualname in MODULE_BASES or is_torch_module_class(qualname):
            return True
        local = self.local_class(qualname)
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
        local = self.local_module_classes.get(qualname.rsplit(".", 1)[-1]) if self.local_class(qualname) else None
        if local is not None:
            return local.has_parameters
        summary = self.index.lookup(qualname, near=self.path)
        return bool(summary and summary.facts.get("has_parameters"))

    def class_may_have_parameters(self, qualname: str | None) -> bool:
        """`class_has_parameters`, or a class this run cannot read (no file of the project
        shows it) named like a torch weight layer (`LayerNormLSTMCell`, `MaskedConv2d`):
        for rules where such a layer would be reported as the torch layer would."""
        if self.class_has_parameters(qualname):
            return True
        if not qualname or self.local_class(qualname) or self.index.lookup(qualname, near=self.path):
            return False
        return qualname.rsplit(".", 1)[-1].endswith(WEIGHT_LAYER_SUFFIXES)

    def class_summaries(self) -> list[ClassSummary]:
        """What other files of the project may need to know about this file's module classes."""
        return [mc.summary() for mc in self.module_classes if mc.info.outer is None] + data_class_summaries(self)

    def is_inherited(self, name: str) -> bool:
        """Whether some class of this file or of the project names class `name` as a base."""
        if any(base.rsplit(".", 1)[-1] == name for info in self.classes for base in info.base_names):
            return True
        return self.index.is_inherited(name)

    def class_and_bases(self, cls: ClassInfo) -> list[ClassInfo]:
        """`cls`, then its first base class of this file, that one's, ...: where Python
        finds an instance's methods, as far as this file shows."""
        chain: list[ClassInfo] = []
        current: ClassInfo | None = cls
        while current is not None and all(current is not seen for seen in chain):
            chain.append(current)
            current = next((b for b in map(self.local_class, current.base_names) if b is not None), None)
        return chain

    def local_class(self, qualname: str) -> ClassInfo | None:
        """The top-level class of this file a qualified name refers to, or None."""
        if "." in qualname and not qualname.startswith(self.module_name + "."):
            return None
        name = qualname.rsplit(".", 1)[-1]
        for info in self.collected.classes:
            if info.name == name and info.outer is None:
                return info
        return None

    # data, loops, losses, initialization -------------------------------------
    @cached_property
    def data(self) -> DataFacts:
        """Datasets, transform pipelines and DataLoaders, each with the role it serves."""
        return build_data_facts(self)

    @cached_property
    def loops(self) -> LoopFacts:
        """Training and evaluation loops: the events of one iteration, in order."""
        return build_loop_facts(self)

    def behaves_differently_in_eval(self, model: str | None, at: cst.CSTNode | None = None) -> bool:
        """Whether train()/eval() changes what the model of that name computes (dropout, BatchNorm),
        where `at` runs it (a class redefined further down the file is read as defined there)."""
        return behaves_differently_in_eval(self, model, at)

    @cached_property
    def losses(self) -> LossFacts:
        """Every loss the file computes, with the values fed to it."""
        return LossFacts(self)

    @cached_property
    def inits(self) -> InitFacts:
        """Constant weight fills and parameters allocated without values."""
        return InitFacts(self)


def _names_a_loss(name: str) -> bool:
    """`FocalLoss`, `torch.nn.modules.loss._Loss`, `DiceCriterion`: a loss module, not a model."""
    return name.rsplit(".", 1)[-1].lower().endswith(("loss", "criterion"))


__all__ = [
    # the facts
    "FileFacts", "DataFacts", "InitFacts", "LoopFacts", "LossFacts", "Stacks",
    # what they hold
    "AssignInfo", "CallInfo", "ClassInfo", "ConstantInit", "DataRole", "Dataset", "Element", "ElementKind",
    "EmptyParameter", "Event", "EventKind", "ForwardPath", "ForwardPaths", "FunctionInfo", "Guard", "Layer",
    "Loader", "Loop", "LoopEvents", "LoopInfo", "LossUse", "ModuleClass", "Optimizer", "Pipeline", "RoleEvidence",
    "Scheduler", "SchedulerKind", "Seq", "Step", "Store", "Value",
    # questions about names and loops
    "evaluation_loop", "has_bias", "is_evaluation_function", "is_optimizer_class", "is_periodic", "is_scheduler_class",
    "is_weight_layer", "names_a_loader", "same_model", "says_only",
    # torch's names rules match on
    "BIAS_POSITION", "CONV", "RECURRENT",
    # reading syntax
    "argument", "boolean", "dotted", "is_none", "keyword", "keyword_arg", "last_name", "method_name", "number",
    "positional", "string",
]
