"""Resolve what a name means through the file's imports, so rules match meaning.

`nn.Conv2d`, `torch.nn.Conv2d` and `from torch.nn import Conv2d as C` all resolve to
`torch.nn.Conv2d`. The table is filled during the engine's single traversal; LibCST's
QualifiedNameProvider would give the same answers at several times the cost.
"""

from __future__ import annotations

import libcst as cst

# torch and torchvision re-export their classes under shorter public paths; rules
# only ever name the public one.
_SUBMODULE_PREFIXES = (
    ("torch.nn.modules.", "torch.nn."),
    ("torch.utils.data.dataloader.", "torch.utils.data."),
    ("torch.utils.data.dataset.", "torch.utils.data."),
    ("torch.utils.data.sampler.", "torch.utils.data."),
    ("torch.utils.data.distributed.", "torch.utils.data."),
    ("torchvision.transforms.v2.", "torchvision.transforms."),
    ("torchvision.transforms.transforms.", "torchvision.transforms."),
)


def canonical(qualname: str) -> str:
    """Fold internal module paths onto public names: torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d."""
    for prefix, public in _SUBMODULE_PREFIXES:
        if qualname.startswith(prefix):
            rest = qualname[len(prefix) :]
            if prefix == "torch.nn.modules.":
                # drop the submodule (conv, linear, ...) but keep a bare class name
                head, _, tail = rest.partition(".")
                rest = tail or head
            return public + rest
    return qualname


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, None for anything else (calls, subscripts)."""
    # type() and not isinstance: LibCST's classes are ABCs, whose isinstance is slow, and
    # Name/Attribute have no subclasses.
    if type(node) is cst.Name:
        return node.value
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is cst.Name:
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _module_dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    return dotted(node) or ""


# What code pasted without its imports (a forum post, a snippet, a cell copied out of a
# notebook) means by these names: every tutorial and post imports them under these
# names, and nothing else in training code goes by them. Left out: `Dataset` (Hugging
# Face's `datasets` has one), `np`/`plt` (no rule needs them), `Variable`, `models`.
CONVENTIONAL_IMPORTS = {
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "optim": "torch.optim",
    "transforms": "torchvision.transforms",
    "DataLoader": "torch.utils.data.DataLoader",
}


class ImportTable:
    """Local name -> fully qualified name, for every import in the file."""

    __slots__ = ("bindings", "module_name", "package", "star")

    def __init__(self, module_name: str = "", package: str = "") -> None:
        self.bindings: dict[str, str] = {}
        self.star = False  # `from m import *`: any name may come from there
        # The file's own dotted name and package, used to resolve relative imports.
        self.module_name = module_name
        self.package = package

    def add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _module_dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings[alias.asname.name.value] = full
            else:
                top = full.split(".", 1)[0]
                self.bindings[top] = top

    def add_import_from(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self.star = True
            return
        base = _module_dotted(node.module)
        if node.relative:
            base = self._resolve_relative(len(node.relative), base)
        for alias in node.names:
            name = _module_dotted(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{base}.{name}" if base else name

    def _resolve_relative(self, level: int, base: str) -> str:
        parts = self.package.split(".") if self.package else []
        if level > 1:
            parts = parts[: len(parts) - (level - 1)] if len(parts) >= level - 1 else []
        prefix = ".".join(parts)
        if prefix and base:
            return f"{prefix}.{base}"
        return prefix or base

    def resolve_dotted(self, name: str) -> str:
        head, sep, rest = name.partition(".")
        bound = self.bindings.get(head)
        if bound is None:
            return name
        return canonical(f"{bound}{sep}{rest}" if sep else bound)

    def qualname(self, node: cst.BaseExpression) -> str | None:
        """The qualified name an expression refers to, or None if it is not a name."""
        name = dotted(node)
        if name is None:
            return None
        return self.resolve_dotted(name)

    def spelling(self, qualname: str) -> str | None:
        """How this file can write a qualified name with its imports (for fixes), if it can.

        `torch.nn.ModuleList` is `nn.ModuleList` after `import torch.nn as nn` or
        `from torch import nn`, `torch.nn.ModuleList` after `import torch`.
        """
        best: str | None = None
        for local, bound in self.bindings.items():
            if canonical(bound) == qualname:
                return local
            if qualname.startswith(bound + "."):
                candidate = local + qualname[len(bound) :]
                if best is None or len(candidate) < len(best):
                    best = candidate
        return best

    def assume_conventional(self, names) -> None:
        """Read `names` (of CONVENTIONAL_IMPORTS; used by the file, imported and bound nowhere
        in it) as the usual torch modules; not after a star import, which may bind them."""
        if self.star:
            return
        for name in names:
            self.bindings.setdefault(name, CONVENTIONAL_IMPORTS[name])

    def is_imported(self, local: str) -> bool:
        return local in self.bindings
