"""How a fix writes a reference to an object (`copy.deepcopy`, `torch.nn.ModuleList`), after
ruff's Importer: reuse a binding the module already has for that object (`import copy`,
`import copy as cp`, `from copy import deepcopy`), else import the module under its own
name when that name is free in the whole file; never a name that something else binds too
(a later `from copy import copy`, a parameter, a `global`, a star import).

Every name a fix writes is listed with the object it must mean (`Reference.names`): the
fixer checks them in the fixed text (trainlint.resolve) before it writes anything.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from trainlint.resolve import ModuleNames, import_bindings, scope_bindings


@dataclass(frozen=True)
class Reference:
    """`text` to write where the object is used; `inserts`: (node, its new text) that add the
    import, if any (a rule makes them Replacements); `names`: (spelling, qualified name) of
    what the fix writes, for the fixer's check."""

    text: str
    inserts: tuple[tuple[cst.CSTNode, str], ...] = ()
    names: tuple[tuple[str, str], ...] = ()


def _module_bound_once(names: ModuleNames, local: str) -> str | None:
    """What `local` means when the module binds it only by imports of one object, and no other
    scope binds it: then it means that everywhere the module's code runs after the import."""
    bindings = names.module.get(local, [])
    meanings = set()
    for node in bindings:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            return None
        meanings |= {qual for bound, qual in import_bindings(node) if bound == local}
    if len(meanings) != 1 or None in meanings:
        return None
    return meanings.pop()


class Importer:
    """One per file and fix-building rule: what the file binds, in CPython's tree of its text."""

    def __init__(self, source: str, module: cst.Module) -> None:
        from trainlint.source import python_ast

        self.module = module
        self.tree = python_ast(source)
        self.names = ModuleNames(self.tree)
        # every identifier the file binds or reads, in any scope: a name outside it is free
        self.mentioned: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name):
                self.mentioned.add(node.id)
            elif isinstance(node, (*_SCOPES,)):
                self.mentioned |= set(scope_bindings(node))
        self.mentioned |= set(self.names.module)
        # names bound in some function, class or comprehension scope (not the module's)
        self.bound_inside = set()
        for node in ast.walk(self.tree):
            if isinstance(node, _SCOPES) and not isinstance(node, ast.Module):
                self.bound_inside |= set(self.names.bindings_of(node))

    def reference(self, qualname: str, at: cst.CSTNode, *, may_import: bool = True) -> Reference | None:
        """How to write `qualname` at `at` (a node of the file's tree); None when no spelling is safe."""
        if self.names.star_import():
            return None
        path = _path_to(self.module, at)
        if path is None:
            return None
        at_import = not any(isinstance(node, (cst.FunctionDef, cst.Lambda)) for node in path)
        use_top = self.module.body.index(path[0]) if path[0] in self.module.body else len(self.module.body)
        best: str | None = None
        for local in sorted(self.names.module):
            if local in self.bound_inside:
                continue
            meaning = _module_bound_once(self.names, local)
            if meaning is None:
                continue
            if meaning == qualname:
                spelled = local
            elif qualname.startswith(meaning + "."):
                spelled = local + qualname[len(meaning):]
            else:
                continue
            if at_import and not self._imported_before(local, use_top):
                continue
            if best is None or len(spelled) < len(best):
                best = spelled
        if best is not None:
            return Reference(best, (), ((best, qualname),))
        if not may_import:
            return None
        module_name, _, _ = qualname.rpartition(".")
        top = (module_name or qualname).split(".", 1)[0]
        if not module_name or "." in module_name or top in self.mentioned:
            return None  # `import a.b` binds `a`: only plain top-level modules are imported here
        first = self._first_import()
        if first is None or (at_import and first[0] > use_top):
            return None
        index, statement = first
        spelled = qualname
        insert = (statement, f"import {module_name}\n" + self.module.code_for_node(statement))
        return Reference(spelled, (insert,), ((spelled, qualname),))

    def _imported_before(self, local: str, use_top: int) -> bool:
        for index, stmt in enumerate(self.module.body):
            if index >= use_top:
                return False
            if isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(small, (cst.Import, cst.ImportFrom)) and local in _cst_bound(small) for small in stmt.body
            ):
                return True
        return False

    def _first_import(self) -> tuple[int, cst.CSTNode] | None:
        """The first module-level import that is not `from __future__`: the new one goes before it."""
        for index, stmt in enumerate(self.module.body):
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and small.module is not None and \
                        self.module.code_for_node(small.module) == "__future__":
                    continue
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    return index, small
        return None


_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _cst_bound(node: cst.Import | cst.ImportFrom) -> set[str]:
    if isinstance(node.names, cst.ImportStar):
        return set()
    out = set()
    for alias in node.names:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            out.add(alias.asname.name.value)
        else:
            name = alias.name
            while isinstance(name, cst.Attribute):
                name = name.value
            if isinstance(name, cst.Name):
                out.add(name.value)
    return out


def _path_to(module: cst.Module, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The nodes from a module statement down to `target` (identity), or None."""
    stack: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = [(stmt, (stmt,)) for stmt in reversed(module.body)]
    while stack:
        node, path = stack.pop()
        if node is target:
            return list(path)
        for child in reversed(node.children):
            stack.append((child, (*path, child)))
    return None
