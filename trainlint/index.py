"""The project-wide index of nn.Module classes, so one file is checked against another.

`train.py` that does `from models.net import Net` learns Net's head and layers from
`models/net.py` through this index. Summaries are small and picklable: they travel
between worker processes and into the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# Bases that make a class an nn.Module without reading its source.
MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.Sequential",
        "torch.nn.ModuleList",
        "torch.nn.ModuleDict",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pytorch_lightning.LightningModule",
        "pl.LightningModule",
    }
)


def is_torch_module_class(qualname: str) -> bool:
    """torch.nn.Conv2d, torch.nn.TransformerEncoderLayer, ...: a class of torch.nn."""
    if not qualname.startswith("torch.nn."):
        return False
    rest = qualname[len("torch.nn.") :]
    return "." not in rest and rest[:1].isupper() and rest not in NOT_MODULES


# Capitalized names in torch.nn that are not modules.
NOT_MODULES = frozenset({"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"})


# Packages that are never the project's own code: a class imported from one of them is
# never matched by name alone to a same-named class of the project (torchvision's ResNet
# is not pytorch-cifar's models/resnet.py).
LIBRARIES = frozenset(
    {
        "torch", "torchvision", "torchaudio", "torchtext", "timm", "transformers", "diffusers", "datasets",
        "accelerate", "peft", "lightning", "pytorch_lightning", "pl", "segmentation_models_pytorch",
        "efficientnet_pytorch", "pretrainedmodels", "torch_geometric", "dgl", "monai", "kornia", "mmcv", "mmdet",
        "mmseg", "detectron2", "fairseq", "open_clip", "clip", "tensorflow", "tf", "keras", "sklearn", "jax", "flax",
    }
)


#: The names training code gives a network (`model`, `net`, `netD`, `encoder`, `G`): a
#: parameter so named takes its class from the calls of its function (facts.callsites).
#: Here, free of LibCST, because the project run's text pre-filter reads it too.
MODEL_NAME_PATTERN = r"model|net|encoder|decoder|generator|discriminator|backbone|classifier|^[gd]$|^module$"


@dataclass(frozen=True)
class ClassSummary:
    name: str
    path: str  # the file, as given to the engine
    module: str  # the file's dotted path relative to the run's root ("models.net")
    bases: tuple[str, ...]
    #: Facts about the class that other files may ask for (see facts.modules.summarize).
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class CallSite:
    """A call, in one file, of a function another file of the project defines
    (`train_one_epoch(model, loader, ...)` in main.py, with `from engine import
    train_one_epoch`): what it passes, so the callee's check knows which class its `model`
    parameter holds (facts.callsites). Index-free: a function of the calling file alone."""

    path: str  # the calling file, as given to the engine
    module: str  # the calling file's module name
    target: str  # the function as the caller's imports name it ("engine.train_one_epoch")
    #: What the call passes, per argument: the classes it may hold, as the calling file's
    #: imports name them (`("models.Net",)`: `Net()`, `Net().to(device)`, or a name the
    #: file assigns `Net(...)` to), or None when it is no object the file constructs.
    positional: tuple  # of tuple[str, ...] | None, in order
    keywords: tuple  # of (name, tuple[str, ...] | None)
    starred: bool  # `*args` / `**kwargs`: what the call passes beyond the written arguments is unknown

    @property
    def function(self) -> str:
        return self.target.rpartition(".")[2]

    def passed(self, name: str, position: int) -> "tuple[str, ...] | None":
        """What the call passes for the parameter `name` at `position`; None if unknown."""
        for keyword, value in self.keywords:
            if keyword == name:
                return value
        if position < len(self.positional):
            return self.positional[position]
        return None


def import_folder(module: str, imported: str) -> str | None:
    """Where an import of `imported` finds the file whose module name is `module`, or None if
    it cannot: `engine` finds `proj.engine` from inside `.proj` (returned, dotted), `proj`
    finds it too when the package re-exports its names; `""`: from anywhere."""
    if not imported:
        return None
    own, tail = "." + module, "." + imported
    if own.endswith(tail):
        return own[: len(own) - len(tail)]
    parent = own.rpartition(".")[0]
    if parent.endswith(tail):
        return parent[: len(parent) - len(tail)]
    return None


class ProjectIndex:
    def __init__(self, summaries: list[ClassSummary] | None = None) -> None:
        self._by_name: dict[str, list[ClassSummary]] = {}
        #: call sites by the called function's name (CallSite.function)
        self._calls: dict[str, list[CallSite]] = {}
        for summary in summaries or []:
            self.add(summary)

    def add(self, summary: ClassSummary) -> None:
        self._by_name.setdefault(summary.name, []).append(summary)

    def add_call(self, site: CallSite) -> None:
        self._calls.setdefault(site.function, []).append(site)

    def remove_path(self, path: str) -> None:
        """Forget one file's classes and calls."""
        for table in (self._by_name, self._calls):
            for name, items in list(table.items()):
                kept = [item for item in items if item.path != path]
                if kept:
                    table[name] = kept
                else:
                    del table[name]

    def callers(self, module: str, function: str, *, path: str = "") -> tuple[CallSite, ...]:
        """The calls of `function` of the file whose module name is `module` (at `path`,
        whose own calls are not among them) that other files of the project make.

        A call names the function as its file's imports do: `engine.train_one_epoch` is
        a call of `train_one_epoch` of `proj/engine.py` (module `proj.engine`) when the
        caller is inside `proj` (as Python finds `engine` beside a script), and so is
        `proj.train_one_epoch` (a package that re-exports it)."""
        found = []
        for site in self._calls.get(function, ()):
            if site.path == path:
                continue
            folder = import_folder(module, site.target.rpartition(".")[0])
            # the caller must sit where its import finds this module: inside the folder the
            # import is relative to (examples/a/main.py's `engine` is examples/a/engine.py)
            if folder is None or (folder and not ("." + site.module).startswith(folder + ".")):
                continue
            found.append(site)
        return tuple(sorted(found, key=repr))

    def summaries(self) -> list[ClassSummary]:
        return [s for items in self._by_name.values() for s in items]

    def is_inherited(self, name: str) -> bool:
        """Whether some class of the project names `name` (by its last segment) as a base. A
        base in a library's namespace is the library's class (`class TransformerModel(
        nn.Transformer)` does not derive from the project's own `Transformer`), unless the
        project is that library."""
        bases = [base for items in self._by_name.values() for s in items for base in s.bases
                 if base.rpartition(".")[2] == name]
        if any(base.partition(".")[0] not in LIBRARIES for base in bases):
            return True
        libraries = {base.partition(".")[0] for base in bases}  # the project may be one of them
        return bool(libraries) and any(s.module.partition(".")[0] in libraries for s in self.summaries())

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def lookup(self, qualname: str, *, near: str = "") -> ClassSummary | None:
        """The class a qualified name refers to, matched on the module path's tail.

        `models.net.Net` matches a class Net in `.../models/net.py`; a bare `Net`
        matches when exactly one class of that name exists (or one beside `near`).
        """
        module, _, name = qualname.rpartition(".")
        candidates = self._by_name.get(name, [])
        if not candidates:
            return None
        if module:
            tail = "." + module
            matching = [s for s in candidates if ("." + s.module).endswith(tail)]
            if not matching:
                # `from models import Net`, re-exported by models/__init__.py
                matching = [s for s in candidates if ("." + s.module).rpartition(".")[0].endswith(tail)]
            if not matching and module.partition(".")[0] not in LIBRARIES:
                # The module is not in the run or is named otherwise than its file: the run's
                # root sits inside the package (`carla.models.catalog.ANN_TORCH` indexed as
                # `ANN_TORCH.model_ann`), a script imports `from model import Net` while the
                # class lives in `models/net.py`. A same-named class of the project is the
                # one meant, if the project has one (or one nearest the importing file).
                matching = candidates
            candidates = matching
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        if near:
            # as Python would resolve it for a script: the copy nearest to the importing file
            # (examples/buggy/train.py imports examples/buggy/models/net.py, not examples/fixed's)
            def shared(s: ClassSummary) -> int:
                return len(os.path.commonprefix([s.path.split("/"), near.split("/")]))

            best = max(shared(s) for s in candidates)
            nearest = [s for s in candidates if shared(s) == best]
            if len(nearest) == 1:
                return nearest[0]
        return None

    def is_module_class(self, qualname: str, *, near: str = "", _seen: frozenset[str] = frozenset()) -> bool:
        if qualname in MODULE_BASES or is_torch_module_class(qualname):
            return True
        summary = self.lookup(qualname, near=near)
        if summary is None or qualname in _seen:
            return False
        return any(
            self.is_module_class(base, near=summary.path, _seen=_seen | {qualname}) for base in summary.bases
        )
