"""Building the data facts (data.py) of a file: which calls make datasets, transform
pipelines and DataLoaders, what names they are bound to, and the evidence of the role
each serves, in the levels data.py describes.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from trainlint.facts.collect import CallInfo, FunctionInfo
from trainlint.facts.data import MIXED, DataFacts, Dataset, Kind, Loader, Pipeline, Step
from trainlint.facts.data_classes import MAY_NORMALIZE, OPENS_IMAGES, project_class_fact
from trainlint.facts.kinds import DataRole
from trainlint.facts.roles import RoleEvidence, word_evidence
from trainlint.facts.syntax import argument, boolean, dotted, is_false, is_none, keyword, method_name, string
from trainlint.facts.vocabulary import (
    COMPOSE, DATALOADER, DATASET_VIEWS, FLOAT_CONVERSIONS, FOLDER_DATASETS, HF_LOAD_DATASET, ITERABLE_BASES, ITERABLE_PACKAGES,
    MAP_DATASETS, NESTING, NO_GRAD, OPAQUE_STEPS, RANDOM_CALL_PREFIXES, TORCHVISION_DATASETS, TRANSFORMS,
    VIDEO_DATASETS,
)
from trainlint.facts.walk import walk

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

# Methods of dataset objects (Hugging Face datasets, WebDataset) that return a dataset of the same kind.
DATASET_METHODS = frozenset(
    {"map", "filter", "select", "shuffle", "with_format", "with_transform", "set_format", "remove_columns",
     "rename_column", "rename_columns", "cast_column", "train_test_split", "to_iterable_dataset", "decode",
     "to_tuple", "batched", "take", "skip", "shard"}
)
# Calls that rebuild a DataLoader with a sampler of their own.
RESAMPLING_CALLS = frozenset({"make_private", "make_private_with_epsilon", "from_data_loader"})

TRANSFORM_KEYWORDS = frozenset({"transform", "transforms", "target_transform"})
# Keyword arguments of dataset constructors that name the split; only literal values count
# (`train=is_train` says nothing).
SPLIT_KEYWORDS = frozenset({"train", "training", "is_train", "split", "image_set", "subset", "mode", "phase", "stage"})


def _name_evidence(names: list[str] | None, level: int, what: str) -> list[RoleEvidence]:
    if names is None:
        return []
    if names == [MIXED]:
        return [RoleEvidence(level, None, "built for several splits")]
    return [e for name in names for e in word_evidence(name, level, f"{what} `{name}`")]


def build_data_facts(facts: "FileFacts") -> DataFacts:
    return _Builder(facts).build()


class _Builder:
    def __init__(self, facts: "FileFacts") -> None:
        self.facts = facts
        self.calls_by_node: dict[int, CallInfo] = {id(c.node): c for c in facts.collected.calls}
        self.contexts: dict[int, list[str]] = {}
        self.bindings: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self.datasets: dict[int, Dataset] = {}
        self.is_test_code = facts.test_code
        #: list elements appended to a pipeline's list under an `if` (see _appended)
        self._conditional: set[int] = set()

    # entry -------------------------------------------------------------------
    def build(self) -> DataFacts:
        calls = self.facts.collected.calls
        loader_calls = [c for c in calls if c.qualname == DATALOADER]
        compose_calls = [c for c in calls if c.qualname in COMPOSE]
        out = DataFacts(facts=self.facts, is_test_code=self.is_test_code)
        if not loader_calls and not compose_calls and not any(c.qualname in FLOAT_CONVERSIONS for c in calls):
            return out
        self._index_assignments()
        self._index_keyword_contexts()
        for call in calls:
            if self._dataset_kind_of_call(call)[0] is not None or self._has_transform_argument(call):
                out.datasets.append(self._dataset(call))
        nested = {
            id(el.value)
            for c in compose_calls
            for el in _list_elements(c.node.args[0].value if c.node.args else None) or ()
            if isinstance(el.value, cst.Call)
        }
        out.pipelines = [self._pipeline(c, out.datasets) for c in compose_calls if id(c.node) not in nested]
        # `transform=transforms.ToTensor()`: one conversion given to a dataset without a Compose
        for call in calls:
            if call.qualname in FLOAT_CONVERSIONS and id(call.node) not in nested:
                bare = self._pipeline(call, out.datasets, bare=True)
                if bare.datasets:
                    out.pipelines.append(bare)
        out.loaders = [self._loader(c) for c in loader_calls]
        return out

    # name contexts -------------------------------------------------------------
    def _index_assignments(self) -> None:
        for assign in self.facts.collected.assigns:
            for target in assign.targets:
                self._bind(target, assign.node.value, assign.function)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression, function: FunctionInfo | None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
                for t, v in zip(elements, (e.value for e in value.elements)):
                    self._bind(t, v, function)
            else:
                for t in elements:
                    name = _target_name(t)
                    if name:
                        self._record(name, dotted(t) or name, value, function, unpacked=True)
            return
        name = _target_name(target)
        if name == MIXED:
            self._context(value, [MIXED])
            return
        if name:
            self._record(name, dotted(target) or "", value, function)

    def _record(self, name: str, full: str, value: cst.BaseExpression, function: FunctionInfo | None,
                unpacked: bool = False) -> None:
        if full:
            key = self._scope_key(full, function)
            self.bindings.setdefault(key, []).append(value)
        if not unpacked:
            self._context(value, [name])
        elif isinstance(value, cst.Call):
            # `train_set, val_set = random_split(...)`: the call serves both names
            self.contexts.setdefault(id(value), [MIXED])

    def _scope_key(self, full: str, function: FunctionInfo | None) -> tuple[int, str]:
        if full.startswith("self.") and function is not None and function.cls is not None:
            return (id(function.cls.node), full)
        return (id(function.node) if function is not None else 0, full)

    def _context(self, value: cst.BaseExpression, names: list[str]) -> None:
        """Record the name path of the calls an assigned value builds."""
        if isinstance(value, cst.Call):
            self.contexts.setdefault(id(value), names)
        elif isinstance(value, cst.Dict):
            for element in value.elements:
                if isinstance(element, cst.DictElement):
                    key = string(element.key)
                    self._context(element.value, [key] if key is not None else names)
        elif isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            for element in value.elements:
                self._context(element.value, names)
        elif isinstance(value, cst.IfExp):
            self._context(value.body, names)
            self._context(value.orelse, names)
        elif isinstance(value, (cst.DictComp, cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            for part in (getattr(value, "key", None), getattr(value, "value", None), getattr(value, "elt", None)):
                if part is not None:
                    self._context(part, [MIXED])

    def _index_keyword_contexts(self) -> None:
        for call in self.facts.collected.calls:
            for arg in call.node.args:
                if arg.keyword is not None and isinstance(arg.value, cst.Call):
                    self.contexts.setdefault(id(arg.value), [arg.keyword.value])

    def _values_of(self, expr: cst.BaseExpression, function: FunctionInfo | None) -> list[cst.BaseExpression]:
        """What a name may hold: its assignments in the function, the enclosing ones, the module."""
        full = dotted(expr)
        if full is None:
            return []
        scope = function
        while True:
            values = self.bindings.get(self._scope_key(full, scope))
            if values:
                return values
            if scope is None:
                return []
            scope = scope.parent

    # datasets -----------------------------------------------------------------
    def _dataset_kind_of_call(self, call: CallInfo) -> tuple[Kind | None, bool]:
        """(kind, samples_randomly) of the dataset a call constructs; (None, False) if not a dataset."""
        qualname = call.qualname
        if not qualname:
            return None, False
        if qualname.startswith(TORCHVISION_DATASETS) or qualname in MAP_DATASETS:
            return "map", False
        if qualname in ITERABLE_BASES or qualname.startswith(ITERABLE_PACKAGES):
            return "iterable", False
        if qualname == HF_LOAD_DATASET:
            streaming = keyword(call.node, "streaming")
            return ("iterable" if streaming is not None and not is_false(streaming) else "map"), False
        return self._local_dataset_class(qualname)

    def _local_dataset_class(self, qualname: str, seen: frozenset[str] = frozenset()) -> tuple[Kind | None, bool]:
        info = self.facts.local_class(qualname)
        if info is None or qualname in seen:
            return None, False
        kind: Kind | None = None
        for base in info.base_names:
            if base in ITERABLE_BASES or base.startswith(ITERABLE_PACKAGES):
                kind = "iterable"
            elif base in MAP_DATASETS:
                kind = kind or "map"
            else:
                kind = kind or self._local_dataset_class(base, seen | {qualname})[0]
        if kind is None and ("__getitem__" in info.methods or "__iter__" in info.methods):
            kind = "map" if "__getitem__" in info.methods else "iterable"
        getitem = info.methods.get("__getitem__")
        randomly = getitem is not None and any(
            (c.qualname or "").startswith(RANDOM_CALL_PREFIXES) for c in self.facts.calls_in(getitem)
        )
        return kind, randomly

    def _has_transform_argument(self, call: CallInfo) -> bool:
        return keyword(call.node, "transform") is not None

    def _dataset(self, call: CallInfo) -> Dataset:
        if id(call.node) in self.datasets:
            return self.datasets[id(call.node)]
        kind, randomly = self._dataset_kind_of_call(call)
        shuffle = keyword(call.node, "shuffle")
        if shuffle is not None and not is_false(shuffle):
            randomly = True  # the dataset shuffles itself (timm's NaFlex wrapper, many readers)
        qualname = call.qualname
        names = self.contexts.get(id(call.node), [])
        is_tv = bool(qualname and qualname.startswith(TORCHVISION_DATASETS))
        dataset = Dataset(
            node=call.node,
            qualname=qualname,
            kind=kind,
            names=names,
            samples_randomly=randomly,
            is_image=(is_tv and qualname not in VIDEO_DATASETS)
            or (not is_tv and project_class_fact(self.facts, qualname, OPENS_IMAGES) is True),
        )
        dataset.evidence = (
            _name_evidence(names, 1, "named")
            + self._construction_evidence(call)
            + self._function_evidence(call.function, 3)
        )
        self.datasets[id(call.node)] = dataset
        return dataset

    @staticmethod
    def _chained(dataset: Dataset, method: str) -> Dataset:
        if method == "to_iterable_dataset":
            return replace(dataset, kind="iterable")
        if method == "shuffle":
            return replace(dataset, samples_randomly=True)
        return dataset

    def _construction_evidence(self, call: CallInfo, level: int = 2) -> list[RoleEvidence]:
        out = []
        for i, arg in enumerate(call.node.args):
            given = arg.keyword.value if arg.keyword is not None else None
            flag = boolean(arg.value)
            positional_train = given is None and i == 1 and (call.qualname or "").startswith(TORCHVISION_DATASETS)
            if flag is not None and (given in ("train", "training", "is_train") or positional_train):
                # CIFAR10(root, train=False) or MNIST(root, False): the second positional argument is `train`
                out.append(RoleEvidence(level, DataRole.TRAIN if flag else DataRole.EVAL, f"`{given or 'train'}={flag}`"))
                continue
            if given in SPLIT_KEYWORDS:
                text = string(arg.value)
                if text is None and isinstance(arg.value, cst.FormattedString):
                    # split=f"train[:{n}%]": the literal parts, slice brackets kept
                    text = "".join(p.value for p in arg.value.parts if isinstance(p, cst.FormattedStringText))
                out += word_evidence(text, level, f"`{given}={text!r}`")
                continue
            # the pipeline's name says less than the split: `CIFAR10(train=False, transform=train_tf)` is test data
            is_transform = given in TRANSFORM_KEYWORDS or (
                given is None and i == 1 and call.qualname in FOLDER_DATASETS
            )
            weight = level + 1 if is_transform else level
            for word in _words_in(arg.value):
                out += word_evidence(word, weight, f"built from `{word}`")
        return out

    def _function_evidence(self, function: FunctionInfo | None, level: int) -> list[RoleEvidence]:
        if self.is_test_code:
            return []  # `def test_random_crop()` tests code; it does not evaluate a model
        while function is not None:
            found = word_evidence(function.name, level, f"built in `{function.name}()`")
            if found:
                return found
            function = function.parent
        return []

    def _file_evidence(self, level: int) -> list[RoleEvidence]:
        if self.is_test_code:
            return []
        stem = self.facts.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
        # a file named train.py also builds its validation loaders: only eval.py/test.py count
        return [e for e in word_evidence(stem, level, f"in `{stem}.py`") if e.role == DataRole.EVAL]

    def _datasets_of(
        self, expr: cst.BaseExpression | None, function: FunctionInfo | None, depth: int = 0
    ) -> list[Dataset]:
        """The datasets an expression may evaluate to, through names and wrappers."""
        if expr is None or depth > 4:
            return []
        if isinstance(expr, cst.Call):
            call = self.calls_by_node.get(id(expr))
            if call is None:
                return []
            method = method_name(expr)
            if method in DATASET_METHODS and self._dataset_kind_of_call(call)[0] is None:
                # load_dataset(...).map(...), wds.WebDataset(urls).shuffle(1000): the receiver decides
                return [self._chained(d, method) for d in self._datasets_of(expr.func.value, function, depth + 1)]
            dataset = self._dataset(call)
            inner: list[Dataset] = []
            if call.qualname in DATASET_VIEWS and expr.args:
                inner = self._datasets_of(expr.args[0].value, function, depth + 1)
            return [dataset, *inner]
        if isinstance(expr, cst.Subscript):
            found = self._datasets_of(expr.value, function, depth + 1)
            key = string(expr.slice[0].slice.value) if isinstance(expr.slice[0].slice, cst.Index) else None
            if key is None:
                return found
            # tokenized["train"]: the key names the split
            return [replace(d, names=[key], evidence=word_evidence(key, 1, f"`[{key!r}]`")
                            + [e for e in d.evidence if e.level > 1]) for d in found]
        out: list[Dataset] = []
        name = (dotted(expr) or "").rsplit(".", 1)[-1]
        for value in self._values_of(expr, function):
            for d in self._datasets_of(value, function, depth + 1):
                if name and (not d.names or d.names == [MIXED]):
                    # `train_set, val_set = random_split(...)`: each name is one split
                    d = replace(d, names=[name], evidence=_name_evidence([name], 1, "named")
                                + [e for e in d.evidence if e.level > 1])
                out.append(d)
        if not out and isinstance(expr, (cst.Name, cst.Attribute)) and dotted(expr):
            # a parameter or a name this file never assigns: its name is all we know
            name = dotted(expr).rsplit(".", 1)[-1]
            evidence = _name_evidence([name], 1, "named")
            out.append(Dataset(node=expr, qualname=None, kind=None, names=[name], evidence=evidence))
        return out

    # pipelines -----------------------------------------------------------------
    def _pipeline(self, call: CallInfo, datasets: list[Dataset], bare: bool = False) -> Pipeline:
        steps: list[Step] = []
        if bare:
            steps.append(Step(call.node, call.qualname, call.node))
            transparent = True
        else:
            transparent = self._collect_steps(call.node, call.function, steps, 0)
        names = self.contexts.get(id(call.node), [])
        # the datasets that are given this pipeline, directly or through a name
        users = []
        for dataset in datasets:
            # ImageFolder(root, transform): the transform is its second parameter
            position = 1 if dataset.from_folders else None
            transform = argument(dataset.node, "transform", position) if isinstance(dataset.node, cst.Call) else None
            if transform is None:
                continue
            ds_call = self.calls_by_node.get(id(dataset.node))
            scope = ds_call.function if ds_call else None
            if any(v is call.node for v in self._transforms_of(transform, scope)):
                users.append(dataset)
        owner = None if bare else self._dataset_class_owning(call)
        if owner is not None:
            users.append(owner)
        evidence = _name_evidence(names, 1, "named")
        for dataset in users:
            evidence += [RoleEvidence(2, e.role, f"used by a dataset {e.reason}") for e in dataset.evidence if e.level <= 2]
        evidence += self._function_evidence(call.function, 3)
        return Pipeline(call, steps, transparent, names, users, evidence)

    def _transforms_of(self, expr: cst.BaseExpression, scope: FunctionInfo | None, depth: int = 0) -> list:
        """What a dataset's `transform=` may be: the expression, what a name holds, the
        values of a dict it indexes (`data_transforms[split]`), what a function of this
        file returns (`build_transform(is_train)`)."""
        if depth > 3:
            return []
        if isinstance(expr, cst.Subscript):
            out = []
            for value in self._values_of(expr.value, scope):
                if isinstance(value, cst.Dict):
                    out += [e.value for e in value.elements if isinstance(e, cst.DictElement)]
            return out
        if isinstance(expr, cst.Call):
            out = [expr]
            for function, returned in self._returns_of(dotted(expr.func) or ""):
                out += self._transforms_of(returned, function, depth + 1)
            return out
        values = self._values_of(expr, scope)
        return [expr, *values] + [v for value in values if isinstance(value, cst.Call)
                                  for v in self._transforms_of(value, scope, depth + 1)[1:]]

    def _returns_of(self, callee: str) -> list[tuple[FunctionInfo, cst.BaseExpression]]:
        """The values `return` gives in the top-level function (or method, `self.f`) of that name."""
        name = callee.removeprefix("self.")
        out = []
        for function in self.facts.collected.functions:
            if function.name != name or "." in name or (function.cls is None) == callee.startswith("self."):
                continue
            finder = _Returns()
            walk(function.node.body, finder)
            out += [(function, value) for value in finder.values]
        return out

    def _dataset_class_owning(self, call: CallInfo) -> Dataset | None:
        """`self.transform = Compose([...])` in a Dataset class of the file: the class is the
        dataset the pipeline serves (its __getitem__ applies it)."""
        function = call.function
        names = self.contexts.get(id(call.node), [])
        if function is None or function.cls is None or not names or names == [MIXED]:
            return None
        bound_on_self = any(
            any(v is call.node for v in values) for (_, full), values in self.bindings.items() if full.startswith("self.")
        )
        kind = self._local_dataset_class(function.cls.name)[0]
        if not bound_on_self or kind is None:
            return None
        return Dataset(
            node=function.cls.node.name, qualname=function.cls.name, kind=kind, names=[function.cls.name],
            is_image=project_class_fact(self.facts, function.cls.name, OPENS_IMAGES) is True,
        )

    def _collect_steps(self, call: cst.Call, function: FunctionInfo | None, steps: list[Step], depth: int) -> bool:
        """Flatten a Compose (and RandomApply/RandomChoice) into its steps; False if a step is opaque."""
        if not call.args or depth > 4:
            return False
        first = call.args[0].value
        elements = _list_elements(first)
        if elements is None:
            values = self._values_of(first, function)
            if len(values) == 1 and isinstance(values[0], (cst.List, cst.Tuple)):
                elements = _list_elements(values[0])
            if elements is None:
                return False
            appended = self._appended(dotted(first) or "", function)
            transparent = appended is not None
            elements = elements + (appended or [])
        else:
            transparent = True
        for element in elements:
            if isinstance(element, cst.StarredElement):
                transparent = False
                continue
            value = element.value
            step_call = value if isinstance(value, cst.Call) else None
            if step_call is None and isinstance(value, (cst.Name, cst.Attribute)):
                bound = self._values_of(value, function)
                if len(bound) == 1 and isinstance(bound[0], cst.Call):
                    step_call = bound[0]
            qualname = self.facts.qualname(step_call.func) if step_call is not None else None
            steps.append(Step(value, qualname, step_call, conditional=id(element) in self._conditional))
            if qualname in NESTING and step_call is not None:
                transparent = self._collect_steps(step_call, function, steps, depth + 1) and transparent
            elif qualname and not qualname.startswith(TRANSFORMS) \
                    and project_class_fact(self.facts, qualname, MAY_NORMALIZE) is False:
                pass  # the project's own transform, read: it does not rescale (RandomNoise)
            elif not qualname or not qualname.startswith(TRANSFORMS) or qualname in OPAQUE_STEPS:
                transparent = False
        return transparent

    def _appended(self, name: str, function: FunctionInfo | None) -> list[cst.Element] | None:
        """The steps added to a list after it is built (`t.append(ToTensor())`, `t += [...]`);
        None when it is changed in a way that cannot be read. A step added under an `if`
        is marked conditional: the pipeline may or may not hold it."""
        added: list[cst.Element] = []
        scope = function.node if function else None
        under_if = _calls_under_if(scope) if scope is not None else set()
        for c in self.facts.calls_in(scope):
            target = c.node.func
            if not (isinstance(target, cst.Attribute) and dotted(target.value) == name):
                continue
            method = target.attr.value
            args = [a.value for a in c.node.args]
            if method == "append" and len(args) == 1:
                new = [cst.Element(args[0])]
            elif method == "insert" and len(args) == 2:
                new = [cst.Element(args[1])]
            elif method == "extend" and len(args) == 1 and isinstance(args[0], (cst.List, cst.Tuple)):
                new = list(args[0].elements)
            elif method in ("append", "extend", "insert", "__setitem__", "pop", "remove", "clear"):
                return None
            else:
                continue
            if id(c.node) in under_if:
                self._conditional.update(id(e) for e in new)
            added += new
        for a in self.facts.assigns_in(scope):
            if isinstance(a.node, cst.AugAssign) and dotted(a.node.target) == name:
                if not isinstance(a.node.value, (cst.List, cst.Tuple)):
                    return None
                added += list(a.node.value.elements)
        return added

    # loaders -------------------------------------------------------------------
    def _loader(self, call: CallInfo) -> Loader:
        node = call.node
        opaque = any(a.star for a in node.args)
        dataset = argument(node, "dataset", 0)
        shuffle_expr = argument(node, "shuffle", 2)
        shuffle: bool | str | None
        if shuffle_expr is None or is_none(shuffle_expr):
            shuffle = None
        elif boolean(shuffle_expr) is not None:
            shuffle = boolean(shuffle_expr)
        else:
            shuffle = "unknown"
        sampler = argument(node, "sampler", 3)
        batch_sampler = argument(node, "batch_sampler", 4)
        names = self.contexts.get(id(node), [])
        datasets = self._datasets_of(dataset, call.function)
        loader = Loader(
            call=call,
            names=names,
            dataset=dataset,
            datasets=datasets,
            shuffle=shuffle,
            sampler=sampler is not None and not is_none(sampler),
            batch_sampler=batch_sampler is not None and not is_none(batch_sampler),
            batch_size=argument(node, "batch_size", 1),
            opaque=opaque,
        )
        evidence = _name_evidence(names, 1, "named")
        for d in datasets:
            evidence += [RoleEvidence(2, e.role, f"its dataset is {e.reason}") for e in d.evidence if e.level <= 2]
        evidence += self._function_evidence(call.function, 3)
        evidence += self._usage_evidence(call, loader)
        evidence += self._file_evidence(5)
        loader.evidence = evidence
        return loader

    def _usage_evidence(self, call: CallInfo, loader: Loader) -> list[RoleEvidence]:
        bound = {self._bound_name(call)} - {None}
        if not bound:
            return []
        out = []
        iterated = False
        peeks = others = 0
        for loop in self.facts.collected.loops:
            if isinstance(loop.node, cst.For) and self._same_scope(call.function, loop.function) \
                    and bound & set(_names_in(loop.node.iter)):
                if _ends_with_break(loop.node):
                    peeks += 1  # `for x, _ in loader: show(x); break`
                    continue
                iterated = True
                if id(loop.node) in self._training_loops:
                    out.append(RoleEvidence(4, DataRole.TRAIN, "iterated in a loop that calls backward() and step()"))
        for other in self.facts.collected.calls:
            if other is call or not self._same_scope(call.function, other.function):
                continue
            if any(dotted(a.value) in bound for a in other.node.args):
                callee = dotted(other.node.func) or ""
                if callee == "iter" and id(other.node) in self._peeks:
                    peeks += 1
                    continue
                others += 1
                if callee.rsplit(".", 1)[-1] in RESAMPLING_CALLS:
                    loader.resampled_by = callee
                if self._without_grad(callee, call.function):
                    out.append(RoleEvidence(4, DataRole.EVAL, f"passed to `{callee}()`, which runs without gradients"))
                else:
                    out += word_evidence(callee.rsplit(".", 1)[-1], 4, f"passed to `{callee}()`")
        if peeks and not others and not iterated:
            # `images, _ = next(iter(loader))`: one batch to look at, nothing is trained on it
            out.append(RoleEvidence(0, None, "only one batch is taken"))
        uses = {e.role for e in out if e.level == 4}
        if uses == {DataRole.EVAL}:
            # named `train_...` but only ever evaluated on (features, training accuracy)
            out.append(RoleEvidence(0, DataRole.EVAL, next(e.reason for e in out if e.level == 4)))
        return out

    def _without_grad(self, callee: str, caller: FunctionInfo | None) -> bool:
        """Whether `callee` is a function of this file decorated with @torch.no_grad()/@inference_mode()."""
        name = callee.removeprefix("self.")
        for function in self.facts.collected.functions:
            if function.name != name or function.parent is not None:
                continue
            if (callee.startswith("self.")) != (function.cls is not None):
                continue
            for decorator in function.node.decorators:
                expr = decorator.decorator
                qualname = self.facts.qualname(expr.func if isinstance(expr, cst.Call) else expr)
                if qualname in NO_GRAD:
                    return True
        return False

    @cached_property
    def _peeks(self) -> set[int]:
        """The `iter(x)` calls of `next(iter(x))`."""
        return {
            id(c.node.args[0].value)
            for c in self.facts.collected.calls
            if dotted(c.node.func) == "next" and c.node.args and isinstance(c.node.args[0].value, cst.Call)
        }

    def _bound_name(self, call: CallInfo) -> str | None:
        for key, values in self.bindings.items():
            if any(v is call.node for v in values):
                return key[1]
        return None

    @staticmethod
    def _same_scope(defined: FunctionInfo | None, used: FunctionInfo | None) -> bool:
        if defined is None:
            return True  # a module-level loader is visible everywhere
        if used is not None and defined.cls is not None and used.cls is defined.cls:
            return True
        return used is defined

    @cached_property
    def _training_loops(self) -> set[int]:
        # backward() alone also computes input gradients (adversarial attacks, saliency on test data)
        with_backward, with_step = set(), set()
        for c in self.facts.collected.calls:
            method = method_name(c.node)
            if method == "backward":
                with_backward.update(id(loop) for loop in c.loops)
            elif method == "step":
                with_step.update(id(loop) for loop in c.loops)
        return with_backward & with_step


# small syntax helpers ---------------------------------------------------------
def _target_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute):
        return target.attr.value
    if isinstance(target, cst.Subscript):
        if len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
            key = string(target.slice[0].slice.value)
            return key if key is not None else MIXED
    return None



def _list_elements(expr: cst.BaseExpression | None) -> list | None:
    if isinstance(expr, (cst.List, cst.Tuple)):
        return list(expr.elements)
    return None








def _words_in(expr: cst.BaseExpression, depth: int = 0) -> list[str]:
    """Names and string pieces in a dataset's arguments: `traindir`, `"val"`, `f"{root}/train"`."""
    if depth > 3:
        return []
    if isinstance(expr, (cst.Name, cst.Attribute)):
        name = dotted(expr)
        return [name.rsplit(".", 1)[-1]] if name else []
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        text = string(expr)
        return [w for w in re.split(r"[^A-Za-z]+", text) if w] if text else []
    if isinstance(expr, cst.FormattedString):
        return [w for part in expr.parts if isinstance(part, cst.FormattedStringText)
                for w in re.split(r"[^A-Za-z]+", part.value) if w]
    if isinstance(expr, cst.BinaryOperation):
        return _words_in(expr.left, depth + 1) + _words_in(expr.right, depth + 1)
    if isinstance(expr, cst.Call):
        # os.path.join(root, "train"), Path(root) / "val"; not other constructors' arguments
        if depth == 0 and _is_path_call(expr):
            return [w for a in expr.args for w in _words_in(a.value, depth + 1)]
        return []
    return []


def _is_path_call(call: cst.Call) -> bool:
    name = dotted(call.func) or ""
    return name.rsplit(".", 1)[-1] in ("join", "Path", "PurePath", "expanduser", "abspath", "format")


def _calls_under_if(function: cst.FunctionDef) -> set[int]:
    """The calls of a function's body that run only under an `if`."""
    finder = _UnderIf()
    walk(function.body, finder)
    return finder.calls


class _Returns(cst.CSTVisitor):
    def __init__(self) -> None:
        self.values: list[cst.BaseExpression] = []

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self.values.append(node.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False


class _UnderIf(cst.CSTVisitor):
    def __init__(self) -> None:
        self.depth = 0
        self.calls: set[int] = set()

    def visit_If(self, node: cst.If) -> None:
        self.depth += 1

    def leave_If(self, original_node: cst.If) -> None:
        self.depth -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested def has its own body

    def visit_Call(self, node: cst.Call) -> None:
        if self.depth:
            self.calls.add(id(node))


def _ends_with_break(loop: cst.For) -> bool:
    body = loop.body.body if isinstance(loop.body, cst.IndentedBlock) else []
    last = body[-1] if body else None
    return isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Break)


def _names_in(expr: cst.BaseExpression) -> list[str]:
    """Dotted names a loop iterates: `train_loader` in `enumerate(tqdm(train_loader))`."""
    out = []
    stack = [expr]
    while stack:
        node = stack.pop()
        name = dotted(node)
        if name is not None:
            out.append(name)
        elif isinstance(node, cst.Call):
            stack.extend(a.value for a in node.args)
    return out


__all__ = ["build_data_facts"]
