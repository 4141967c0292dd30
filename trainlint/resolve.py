"""What a name means at a place in a module, read from CPython's own syntax tree.

Fixes that write a name (`copy.deepcopy(...)`, `nn.ModuleList(...)`) rely on it meaning a
given object where they write it. A re-parse and a re-check cannot see a name that now
means something else (`import copy` added above a later `from copy import copy`), so the
fixer asks this module, which knows nothing of the rules or of LibCST: every binding of
the name in the scopes that enclose the place, and at module level every binding must be
an import of the intended object (a star import, an assignment, a parameter, a `global`
that assigns it: the name is not what the fix meant).
"""

from __future__ import annotations

import ast
import re

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".", 1)[0]
                out.append((top, top))
        return out
    base = node.module or ""
    for alias in node.names:
        if alias.name == "*":
            out.append(("*", None))
        else:
            qual = f"{base}.{alias.name}" if base and not node.level else None  # relative: not a known object
            out.append((alias.asname or alias.name, qual))
    return out


def scope_bindings(scope: ast.AST) -> dict[str, list[ast.AST]]:
    """The names a scope binds itself (not its nested functions, classes or comprehensions),
    each with the nodes that bind it; `global`/`nonlocal` declarations are listed too."""
    found: dict[str, list[ast.AST]] = {}

    def add(name: str, node: ast.AST) -> None:
        found.setdefault(name, []).append(node)

    if isinstance(scope, _FUNCTIONS):
        args = scope.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                add(arg.arg, arg)
        body = [scope.body] if isinstance(scope, ast.Lambda) else scope.body
    elif isinstance(scope, _COMPREHENSIONS):
        body = [gen.target for gen in scope.generators]
    else:
        body = scope.body  # Module, ClassDef
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name, node)
            stack.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
            else:
                stack.extend((*node.bases, *(k.value for k in node.keywords)))
            continue
        if isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
            if isinstance(node, ast.Lambda):
                stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
            else:
                stack.append(node.generators[0].iter)  # evaluated in the enclosing scope
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, _ in import_bindings(node):
                add(name, node)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                add(name, node)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            add(node.name, node)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            add(node.name, node)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            add(node.rest, node)
        stack.extend(ast.iter_child_nodes(node))
    return found


class ModuleNames:
    """The bindings of a module's names, scope by scope, to ask what a name means where."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.top: dict[ast.AST, int] = {}
        for index, stmt in enumerate(tree.body):
            for node in ast.walk(stmt):
                self.top[node] = index
                for child in ast.iter_child_nodes(node):
                    self.parents[child] = node
        self._scopes: dict[ast.AST, dict[str, list[ast.AST]]] = {}
        self.module = self.bindings_of(tree)
        # `global x` in a function that assigns x binds the module's x
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                scope = self.scope_of(node)
                for name in node.names:
                    if len(self.bindings_of(scope).get(name, ())) > 1:
                        self.module.setdefault(name, []).append(node)

    def bindings_of(self, scope: ast.AST) -> dict[str, list[ast.AST]]:
        if scope not in self._scopes:
            self._scopes[scope] = scope_bindings(scope)
        return self._scopes[scope]

    def scope_of(self, node: ast.AST) -> ast.AST:
        """The innermost function, lambda, comprehension or class whose own scope holds `node`."""
        child, parent = node, self.parents.get(node)
        while parent is not None:
            if isinstance(parent, _FUNCTIONS) and child not in (*parent.args.defaults, *parent.args.kw_defaults) \
                    and not (isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in parent.decorator_list):
                return parent
            if isinstance(parent, _COMPREHENSIONS) and child is not parent.generators[0].iter:
                return parent
            if isinstance(parent, ast.ClassDef) and child in parent.body:
                return parent
            child, parent = parent, self.parents.get(parent)
        return self.tree

    def star_import(self) -> bool:
        return "*" in self.module

    def meaning(self, name: ast.Name) -> str | None:
        """The import a Name at its place refers to ("copy", "copy.deepcopy"); None when it is
        anything else, or not surely that import (bound otherwise too, or after a star import)."""
        scope = self.scope_of(name)
        while scope is not self.tree:
            own = self.bindings_of(scope).get(name.id)
            if own:
                if not any(isinstance(b, ast.Global) for b in own):
                    return None  # local, nonlocal, or a class attribute where the class body uses it
                break
            scope = self.scope_of(scope)
            while isinstance(scope, ast.ClassDef):  # a class body is no scope for what it encloses
                scope = self.scope_of(scope)
        if self.star_import():
            return None
        bindings = self.module.get(name.id, [])
        meanings = set()
        for node in bindings:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                return None
            meanings |= {qual for bound, qual in import_bindings(node) if bound == name.id}
        if len(meanings) != 1 or None in meanings:
            return None
        if _runs_at_import(self, name):  # module-level code runs in order: an import must come first
            if not any(self.top[node] < self.top.get(name, len(self.tree.body)) for node in bindings):
                return None
        return meanings.pop()


def _runs_at_import(names: ModuleNames, node: ast.AST) -> bool:
    """Whether `node` runs when the module is imported: no function or lambda encloses it."""
    parent = names.parents.get(node)
    while parent is not None:
        if isinstance(parent, _FUNCTIONS):
            return False
        parent = names.parents.get(parent)
    return True


def resolves(names: ModuleNames, expression: ast.expr, qualname: str) -> bool:
    """Whether a Name/Attribute chain (`copy.deepcopy`, `nn.ModuleList`) means `qualname` here."""
    parts: list[str] = []
    node = expression
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return False
    meaning = names.meaning(node)
    if meaning is None:
        return False
    return ".".join([meaning, *reversed(parts)]) == qualname


def names_in_span(tree: ast.Module, text: str, start: int, end: int, spelled: str) -> list[ast.expr]:
    """The Name/Attribute chains spelled `spelled` (`copy.deepcopy`) that lie in [start, end)
    of `text`, the outermost of each chain."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]  # lines as ast counts them
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Name, ast.Attribute)) or ast.unparse(node) != spelled:
            continue
        offset = _offset(text, starts, node.lineno, node.col_offset)
        if start <= offset < end:
            found.append(node)
    return found


def _offset(text: str, starts: list[int], lineno: int, col_offset: int) -> int:
    """ast's (line, UTF-8 byte column) -> an offset in `text`."""
    line_start = starts[lineno - 1] if lineno - 1 < len(starts) else len(text)
    line = text[line_start : starts[lineno] if lineno < len(starts) else len(text)]
    return line_start + len(line.encode("utf-8")[:col_offset].decode("utf-8", "ignore"))
