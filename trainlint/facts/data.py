"""Facts about the data pipeline: datasets, transform pipelines, DataLoaders, and for
each whether it serves training or evaluation.

Whether a loader feeds training decides most data rules (an unshuffled validation
loader is right, an unshuffled training loader is seed 000's bug), so the decision
lives here, once. It is taken from evidence in a fixed order, the most specific first:

1. the object's own name: `train_loader = ...`, `{"val": Compose(...)}`, `train_dataloader=...`;
2. what it is built from: the dataset a loader wraps (`train=False`, `split="val"`,
   `ImageFolder(valdir)`), the datasets a transform pipeline is given to;
3. the function it is built in (`def get_val_loader`, `def evaluate`);
4. how it is used: iterated in a loop that calls `backward()` and `step()`, passed to
   `train(...)`, `evaluate(...)` or a function decorated with `@torch.no_grad()`;
5. the file's name, for evaluation only (`eval.py`, `test_model.py`).

The first level that says something decides; a name that says both (`train_eval_loader`)
decides "unknown". A training role read from anything but the object's own name is
dropped when a later level says otherwise (`loader = DataLoader(train_set)` inside
`def evaluate()` scores the training set). Use overrides names in two cases: a loader
only used for evaluation is an evaluation loader whatever its name, and a loader only
used for one look (`next(iter(loader))`) serves neither. When the evidence disagrees,
the role stays unknown and the rules stay silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import libcst as cst

from trainlint.facts.collect import CallInfo
from trainlint.facts.data_classes import feeds_raw_pixels, rescales_pixels
from trainlint.facts.glances import Glances
from trainlint.facts.kinds import DataRole
from trainlint.facts.normalization import is_sub_div_chain, normalizes_by_hand
from trainlint.facts.roles import RoleEvidence, decide, split_words
from trainlint.facts.syntax import dotted, is_none, keyword, method_name, number
from trainlint.facts.vocabulary import (
    CLASSIFICATION_LOSSES, COLOR_JITTER, DATASET_VIEWS, FLOAT_CONVERSIONS, FOLDER_DATASETS, IMAGE_TARGET_CALLS, INFERENCE_CALLS, INPUT_NORM_LAYERS,
    NORMALIZE_FUNCTIONS, NORMALIZING, RANDOM_AUGMENTATIONS, SELF_NORMALIZING_MODELS, TO_TENSOR,
)

if TYPE_CHECKING:
    from trainlint.facts import FileFacts

Kind = Literal["map", "iterable"]

MIXED = "\0mixed"  # the name context of an object built in a comprehension over splits
# Words that name a pipeline for labels rather than images (`transform_mask`, `gt_transform`).
_TARGET_WORDS = frozenset({"mask", "masks", "target", "targets", "label", "labels", "gt", "seg", "depth", "edge", "edges"})
# `model.eval()` says a model is run; loading weights alone does not (a training script
# resumes from a checkpoint, a helper module loads a pretrained backbone).
INFERENCE_METHODS = frozenset({"eval"})


class _Decided:
    """A dataset, pipeline or loader: serves training or evaluation, as its evidence says."""

    evidence: list[RoleEvidence]

    @cached_property
    def decision(self) -> RoleEvidence | None:
        return decide(self.evidence)

    @property
    def role(self) -> DataRole | None:
        return self.decision.role if self.decision else None

    @property
    def role_reason(self) -> str:
        return self.decision.reason if self.decision else ""


@dataclass(eq=False)
class Dataset(_Decided):
    node: cst.BaseExpression
    qualname: str | None
    kind: Kind | None
    names: list[str] = field(default_factory=list)
    #: a local Dataset whose __getitem__ draws random samples: its order does not matter
    samples_randomly: bool = False
    is_image: bool = False
    evidence: list[RoleEvidence] = field(default_factory=list)

    @property
    def named_for_evaluation_over_training_split(self) -> str | None:
        """`val_set = CIFAR10(root, train=True)`: the dataset's own name says validation/test
        while what it is built from says the training split; the evidence of the latter, or None."""
        named = {e.role for e in self.evidence if e.level == 1}
        built = [e for e in self.evidence if e.level == 2]
        if named != {DataRole.EVAL} or not built or any(e.role != DataRole.TRAIN for e in built):
            return None
        if any("[" in e.reason for e in built):
            return None  # Hugging Face's split="train[:5%]" holds out a slice of the training split
        return built[0].reason

    @property
    def from_folders(self) -> bool:
        """An ImageFolder/DatasetFolder: it lists its samples class by class, folder by folder."""
        return self.qualname in FOLDER_DATASETS


@dataclass(eq=False)
class Step:
    node: cst.BaseExpression
    qualname: str | None
    call: cst.Call | None
    #: appended to the pipeline's list under an `if` (`if is_train: t.append(RandomCrop(...))`)
    conditional: bool = False

    @property
    def makes_float(self) -> bool:
        if self.qualname not in FLOAT_CONVERSIONS:
            return False
        if self.qualname == TO_TENSOR or self.call is None:
            return True
        # ToDtype(torch.float32, scale=True), ConvertImageDtype(torch.float); not ToDtype(torch.uint8)
        dtype = keyword(self.call, "dtype")
        if dtype is None and self.call.args and self.call.args[0].keyword is None:
            dtype = self.call.args[0].value
        name = dotted(dtype) if dtype is not None else None
        return name is None or any(w in name for w in ("float", "half", "double"))

    @property
    def is_random(self) -> bool:
        if self.qualname not in RANDOM_AUGMENTATIONS or self.call is None or self.conditional:
            return False  # a step added under an `if` may be the training branch's
        for arg in self.call.args:
            if arg.keyword is not None and arg.keyword.value == "p" and number(arg.value) == 0:
                return False
        if self.qualname == COLOR_JITTER and not self.call.args:
            return False  # ColorJitter() changes nothing
        return True


@dataclass(eq=False)
class Pipeline(_Decided):
    call: CallInfo
    steps: list[Step]
    #: every step is a torchvision transform whose effect is known
    transparent: bool
    names: list[str] = field(default_factory=list)
    datasets: list[Dataset] = field(default_factory=list)
    evidence: list[RoleEvidence] = field(default_factory=list)

    @property
    def node(self) -> cst.Call:
        return self.call.node

    @property
    def for_targets(self) -> bool:
        """A pipeline for masks or targets (`transform_mask`, `target_transform`): labels are
        converted to tensors, never normalized."""
        return any(w.lower() in _TARGET_WORDS for name in self.names for w in split_words(name))

    @property
    def makes_float_tensors(self) -> bool:
        return any(s.makes_float for s in self.steps)

    @property
    def normalizes(self) -> bool:
        return any(s.qualname in NORMALIZING for s in self.steps)

    @property
    def random_steps(self) -> list[Step]:
        return [s for s in self.steps if s.is_random]

    @property
    def evaluation_reason(self) -> str | None:
        """Why this pipeline transforms evaluation data, or None: its role, or a dataset of
        validation/test data it is given to (a shared or training pipeline used for test data)."""
        if self.role == DataRole.EVAL:
            return self.role_reason
        for dataset in self.datasets:
            if dataset.role == DataRole.EVAL:
                return f"given to a dataset {dataset.role_reason}"
        return None


@dataclass(eq=False)
class Loader(_Decided):
    call: CallInfo
    names: list[str]
    dataset: cst.BaseExpression | None
    datasets: list[Dataset]
    #: True/False for a literal, "unknown" for an expression, None when not given
    shuffle: bool | str | None
    sampler: bool
    batch_sampler: bool
    batch_size: cst.BaseExpression | None
    #: `**kwargs`/`*args` in the call: any argument may be hidden there
    opaque: bool
    evidence: list[RoleEvidence] = field(default_factory=list)
    #: a call that rebuilds the loader with its own sampler (Opacus' Poisson sampling)
    resampled_by: str | None = None

    @property
    def node(self) -> cst.Call:
        return self.call.node

    def has_argument(self, name: str) -> bool:
        return keyword(self.node, name) is not None

    @property
    def map_style(self) -> bool:
        """Every dataset it may wrap is known to be map-style (a torchvision dataset, TensorDataset, ...)."""
        return bool(self.datasets) and all(d.kind == "map" for d in self.datasets)

    @property
    def iterable(self) -> bool:
        return any(d.kind == "iterable" for d in self.datasets)

    @property
    def order_irrelevant(self) -> bool:
        """The dataset draws or shuffles its samples itself, or yields whole batches (`batch_size=None`)."""
        return any(d.samples_randomly for d in self.datasets) or is_none(self.batch_size)

    @property
    def over_constructed_data(self) -> bool:
        """Some dataset it wraps is built in this file (not a parameter of library code)."""
        return any(isinstance(d.node, cst.Call) for d in self.datasets)

    def describe(self, role: str) -> str:
        """`training DataLoader `train_loader`` or `training DataLoader (built in `train()`)`."""
        name = self.names[0] if self.names and self.names != [MIXED] else ""
        reason = self.role_reason
        if name and reason == f"named `{name}`":
            return f"{role} DataLoader `{name}`"
        return f"{role} DataLoader `{name}` ({reason})" if name else f"{role} DataLoader ({reason})"


@dataclass
class DataFacts:
    loaders: list[Loader] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    datasets: list[Dataset] = field(default_factory=list)
    facts: "FileFacts | None" = field(default=None, repr=False)
    #: a test suite's file: its loaders are deterministic on purpose, its pipelines test transforms
    is_test_code: bool = False

    @cached_property
    def inputs_normalized_elsewhere(self) -> bool:
        """Inputs are normalized outside the transform pipelines: a Normalize layer in the
        model, `(x - mean) / std` in forward() or the loop, torchvision's functional normalize."""
        if self.facts is None:
            return False
        steps = {id(s.node) for p in self.pipelines for s in p.steps}
        for call in self.facts.collected.calls:
            if call.qualname in NORMALIZE_FUNCTIONS and id(call.node) not in steps:
                return True
            if (call.qualname or "").startswith(SELF_NORMALIZING_MODELS):
                return True
            if call.qualname in INPUT_NORM_LAYERS and call.node.args and number(call.node.args[0].value) in (1, 3):
                return True  # nn.BatchNorm2d(3) as the model's first layer
            if is_sub_div_chain(call.node):
                return True
        return normalizes_by_hand(self.facts.collected)

    @cached_property
    def _glances(self) -> Glances | None:
        return Glances(self.facts) if self.facts is not None and self.facts.whole_program else None

    def only_looked_at(self, item: "Dataset | Loader | Pipeline") -> bool:
        """In a notebook, data that never reaches a model: a dataset or loader only shown
        (samples plotted, one batch taken, its length printed), a pipeline whose every
        dataset is (glances.py). Such data serves neither training nor evaluation."""
        glances = self._glances
        if glances is None:
            return False
        if isinstance(item, Pipeline):
            return bool(item.datasets) and all(glances.only_looked_at(d.node) for d in item.datasets)
        return glances.only_looked_at(item.node)

    def imports(self, package: str) -> bool:
        return self.facts is not None and any(
            bound == package or bound.startswith(package + ".") for bound in self.facts.names.bindings.values()
        )

    @cached_property
    def raw_pixel_datasets(self) -> list[tuple[str, cst.Call]]:
        """This file's Dataset classes that read images and return them as float tensors
        with no transform and no rescaling: (class name, the conversion call)."""
        if self.facts is None or not self.trains or rescales_pixels(self.facts.collected):
            return []  # a loop in another file may scale them
        found = []
        for info in self.facts.classes:
            conversion = feeds_raw_pixels(self.facts, info) if info.outer is None else None
            if conversion is not None:
                found.append((info.name, conversion))
        return found

    def all_datasets(self) -> list[Dataset]:
        """The datasets built in the file and those the loaders wrap, each once."""
        seen: dict[int, Dataset] = {}
        for dataset in [*self.datasets, *(d for loader in self.loaders for d in loader.datasets)]:
            seen.setdefault(id(dataset.node), dataset)
        return list(seen.values())

    def untransformed_twins(self, pipeline: Pipeline) -> list[Dataset]:
        """Validation/test datasets built with the same class as a training dataset that is
        given `pipeline` as `transform=`, but given no transform at all
        (`val_set = SliceDataset(val_files)`): their images reach the model as stored. A
        class that falls back to a pipeline of its own when none is given, a call that may
        pass one positionally, and a dataset whose attributes are set later (`val_set.transform
        = ...`) are not counted."""
        if self.facts is None:
            return []
        out = []
        for trained in pipeline.datasets:
            if not isinstance(trained.node, cst.Call) or trained.qualname is None or keyword(trained.node, "transform") is None:
                continue
            if self._defaults_a_transform(trained.qualname):
                continue
            positional = sum(1 for a in trained.node.args if a.keyword is None)
            for dataset in self.all_datasets():
                call = dataset.node
                if dataset.role != DataRole.EVAL or dataset.qualname != trained.qualname or not isinstance(call, cst.Call):
                    continue
                if any(a.star for a in call.args) or any(a.keyword is not None and "transform" in a.keyword.value for a in call.args):
                    continue
                if sum(1 for a in call.args if a.keyword is None) > positional:
                    continue  # SliceDataset(files, labels, val_tf)
                if any(self.resplit(name) for name in dataset.names):
                    continue
                out.append(dataset)
        return out

    def _defaults_a_transform(self, qualname: str) -> bool:
        """A Dataset class of this file whose `transform` is not None when none is passed
        (`transform=default_tf`, `self.transform = transform or ...`); unknown classes do not."""
        assert self.facts is not None
        cls = self.facts.local_class(qualname)
        init = cls.methods.get("__init__") if cls is not None else None
        if init is None:
            return False
        params = init.params
        for param in (*params.params, *params.kwonly_params):
            if param.name.value == "transform" and param.default is not None and not is_none(param.default):
                return True
        code = self.facts.code(init)
        return "transform or " in code or "transform is None" in code or "not transform" in code

    def resplit(self, name: str) -> bool:
        """Whether a dataset bound to `name` is cut down later: given to `Subset`/`random_split`,
        to a sampler or any call that names a split or indices, or an attribute of it reassigned
        (`val_set.samples = ...`). A copy of the training split with the evaluation transform,
        cut to the held-out indices, is the usual way to build a validation set."""
        if self.facts is None:
            return True
        for call in self.facts.collected.calls:
            if not any(_last(a.value) == name for a in call.node.args):
                continue
            callee = (dotted(call.node.func) or "").lower()
            if call.qualname in DATASET_VIEWS or any(w in callee for w in ("subset", "split", "sampler", "indices", "select")):
                return True
        for assign in self.facts.collected.assigns:
            for target in assign.targets:
                if isinstance(target, (cst.Attribute, cst.Subscript)) and _last(target.value) == name:
                    return True
        return False

    @cached_property
    def carries_state_across_batches(self) -> bool:
        """Truncated backpropagation through time: the hidden state of one batch starts the
        next (`hidden = repackage_hidden(hidden)`), so the batches must come in order."""
        return self.facts is not None and any(
            "repackage" in name or "detach_hidden" in name
            for name in (dotted(c.node.func) or "" for c in self.facts.collected.calls)
        )

    @cached_property
    def image_targets(self) -> bool:
        """The file trains on images as targets (reconstruction, generation, regression): it
        saves image grids, or computes a reconstruction loss (BCE, MSE, L1) whose target may
        be the images. A BCE/MSE on class labels (`F.one_hot(y)`, class indices) is a
        classifier's loss: its images do not reach the loss."""
        if self.facts is None:
            return False
        calls = [c for c in self.facts.collected.calls if c.qualname in IMAGE_TARGET_CALLS]
        if not calls:
            return False
        on_labels: dict[int, bool] = {}  # loss call or constructor -> every use of it is on labels
        for use in self.facts.losses.uses:
            labels = use.target.target in ("onehot", "index")
            for node in (use.call, use.options):
                if node is not None:
                    on_labels[id(node)] = on_labels.get(id(node), True) and labels
        return any(not on_labels.get(id(c.node), False) for c in calls)

    @cached_property
    def classification_loss(self) -> bool:
        return self.facts is not None and any(c.qualname in CLASSIFICATION_LOSSES for c in self.facts.collected.calls)

    @cached_property
    def trains(self) -> bool:
        """The file runs training steps: backward(), an optimizer, fit(), a Lightning training_step."""
        if self.facts is None:
            return False
        if any("training_step" in c.methods for c in self.facts.collected.classes):
            return True
        return any(
            method_name(c.node) in ("backward", "fit") or (c.qualname or "").startswith("torch.optim.")
            for c in self.facts.collected.calls
        )

    @cached_property
    def is_inference_script(self) -> bool:
        """The file evaluates or runs a trained model (eval(), no_grad, torch.jit.load) and trains nothing."""
        if self.facts is None or self.trains:
            return False
        return any(
            method_name(c.node) in INFERENCE_METHODS or c.qualname in INFERENCE_CALLS
            for c in self.facts.collected.calls
        )


def _last(expr: cst.BaseExpression) -> str | None:
    """`self.val_set` -> "val_set"."""
    name = dotted(expr)
    return name.rsplit(".", 1)[-1] if name else None


__all__ = ["DataFacts", "Dataset", "Kind", "Loader", "MIXED", "Pipeline", "Step"]
