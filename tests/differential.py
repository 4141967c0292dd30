"""The differential check of fixes (tests/test_fix_names.py on small files, benchmarks/
fix_differential.py on the corpora): apply every fix, safe and unsafe, with `--fix
--unsafe-fixes`'s own code, and judge each pass it accepts with CPython's own tools:

- the fixed text compiles;
- each name a fix wrote means the object the fix meant (trainlint.resolve, in the fixed text);
- nothing outside the fixed nodes changes: the two syntax trees are equal once the nodes
  inside each fix's edits are masked (on both sides, in the same order);
- a second `--fix` changes nothing.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field

from trainlint.fix import _offsets, _spans, fix_text, misread_names

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Differential:
    """What fixing one file gave: fixes applied per code, the fixer's refusals, broken promises."""

    applied: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)


def _compiles(text: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, "<fixed>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            return str(exc)
    return None


class _Mask(ast.NodeTransformer):
    """Replaces the fixed nodes of each span by one placeholder: the nodes inside the span (the
    first becomes the placeholder, the others go), or, when none fits inside (`Adam` -> `AdamW`
    rewrites a name inside `torch.optim.Adam`), the smallest node around it. A span of blanks
    or comments only (a `# noqa` removed) fixes no node. What remains must not change."""

    def __init__(self, text: str, tree: ast.AST, spans: list[tuple[int, int]]) -> None:
        self.starts = [0] + [m.end() for m in _LINE_END.finditer(text)]
        self.text = text
        self.seen: set[int] = set()
        self.inside: dict[int, int] = {}  # id(node) -> span
        self.around: dict[int, int] = {}
        ranges = [(node, self._range(node)) for node in ast.walk(tree)]
        ranges = [(node, r) for node, r in ranges if r is not None and r[0] < r[1]]
        for k, (start, end) in enumerate(spans):
            body = text[start:end].strip()
            if not body or body.startswith("#"):
                continue
            inner = [node for node, (a, b) in ranges if start <= a and b <= end]
            if inner:
                self.inside.update((id(node), k) for node in inner)
                continue
            outer = [(b - a, i, node) for i, (node, (a, b)) in enumerate(ranges) if a <= start and end <= b]
            if outer:
                self.around[id(min(outer)[2])] = k

    def _range(self, node: ast.AST) -> tuple[int, int] | None:
        if getattr(node, "end_lineno", None) is None:
            return None
        return self._offset(node.lineno, node.col_offset), self._offset(node.end_lineno, node.end_col_offset)

    def _offset(self, lineno: int, col: int) -> int:
        start = self.starts[lineno - 1]
        end = self.starts[lineno] if lineno < len(self.starts) else len(self.text)
        return start + len(self.text[start:end].encode("utf-8")[:col].decode("utf-8", "ignore"))

    def visit(self, node: ast.AST):
        k = self.around.get(id(node), self.inside.get(id(node)))
        if k is None:
            return self.generic_visit(node)
        if k in self.seen:
            return None
        self.seen.add(k)
        placeholder = ast.Name(id=f"__fixed_{k}__", ctx=ast.Load())
        return ast.Expr(placeholder) if isinstance(node, ast.stmt) else placeholder


def masked_dump(text: str, spans: list[tuple[int, int]]) -> str:
    tree = ast.parse(text)
    return ast.dump(_Mask(text, tree, spans).visit(tree), include_attributes=False)


def differential(engine, text: str, path: str, *, index=None, module_name: str = "", package: str = "") -> Differential:
    """Fix `text` as `--fix --unsafe-fixes` does and judge every pass the fixer accepted; then
    the fixed text must compile and fixing it again must change nothing."""
    out = Differential()

    def judge(before: str, after: str, applied: list, placed: dict) -> None:
        starts = _offsets(before)
        old = [(s, e) for f, _ in applied for s, e, _ in _spans(starts, f.fix.edits)]
        new = [span for f, _ in applied for span in placed[id(f)]]
        if masked_dump(before, old) != masked_dump(after, new):
            out.broken.append(f"{path}: the fixes for {sorted({f.code for f, _ in applied})} change code outside "
                              "the nodes they fix")
        for wrong in misread_names(after, [(f, placed[id(f)]) for f, _ in applied]):
            out.broken.append(f"{path}: {wrong}")

    options = {"index": index, "module_name": module_name, "package": package}
    outcome = fix_text(engine, text, path, unsafe=True, on_pass=judge, **options)
    if outcome.problem:
        out.refused.append(outcome.problem)
        if outcome.fixed != text:
            out.broken.append(f"{path}: a refused fix changed the text")
        return out
    out.applied.update(outcome.applied_codes)
    if outcome.changed:
        problem = _compiles(outcome.fixed)
        if problem is not None:
            out.broken.append(f"{path}: the fixed file does not compile: {problem}")
        if fix_text(engine, outcome.fixed, path, unsafe=True, **options).changed:
            out.broken.append(f"{path}: a second --fix changes the file again")
    return out
