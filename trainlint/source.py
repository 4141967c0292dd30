"""Reading source files as Python does: bytes -> text, or a FileProblem that says why not.

Kept apart from the engine (and LibCST) so that a run answered by the cache imports neither.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class FileProblem(Exception):
    """The file cannot be analysed; the message says why, at a position."""

    def __init__(self, message: str, row: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column


class SyntaxProblem(FileProblem):
    """The parser rejects the text's syntax somewhere: the rest of it may still be read
    (trainlint.recover)."""


def source_encoding(data: bytes) -> tuple[str, bool]:
    """(encoding, starts with a UTF-8 BOM), as Python reads source: PEP 263 cookie, else UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", True
    for line in data.split(b"\n", 2)[:2]:
        match = _CODING.match(line)
        if match:
            return match.group(1).decode("ascii", "replace"), False
    return "utf-8", False


def decode_source(data: bytes) -> str:
    """Decode as Python does: a PEP 263 coding cookie in the first two lines, else UTF-8."""
    encoding, bom = source_encoding(data)
    if bom:
        data = data[3:]
    try:
        return data.decode(encoding)
    except LookupError:
        raise FileProblem(f"unknown source encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise FileProblem(f"cannot decode the file as {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start}", row) from None


_LATE_FUTURE = "from __future__ imports must occur at the beginning of the file"

# CPython 3.11 and 3.12 keep the AST converters' recursion depth in interpreter state: two
# threads converting at once fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905, fixed in 3.13). The language server's worker thread,
# the probe's threads and the tests' thread pools all compile: one at a time.
_AST_LOCK = threading.Lock()


def _fork_with_no_conversion_running() -> None:
    _AST_LOCK.acquire()


def _parent_after_fork() -> None:
    _AST_LOCK.release()


def _child_after_fork() -> None:
    # the child has one thread: a lock another thread of the parent held would never be released
    global _AST_LOCK
    _AST_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # the project's workers are forked, maybe while a thread parses
    os.register_at_fork(before=_fork_with_no_conversion_running, after_in_parent=_parent_after_fork,
                        after_in_child=_child_after_fork)


def compile_ast(source, filename: str, mode: str = "exec", flags: int = 0, *, dont_inherit: bool = True):
    """`compile()`, with the AST conversions of the process taken one at a time."""
    with _AST_LOCK:
        return compile(source, filename, mode, flags, dont_inherit=dont_inherit)


def cpython_tree(text: str, filename: str = "<source>", *, notebook_cells: bool = False):
    """CPython's syntax tree of `text` once CPython has compiled it, or the FileProblem that says
    why `python` would refuse the file: its parser's errors and its compiler's (`def f(x, x)`,
    `return` outside a function, `nonlocal` at module level), which LibCST's grammar accepts.
    This is the one test of "does the file parse" that the command line, the editor and the
    fixer share, so they report the same TL000. `notebook_cells`: the joined code cells of a
    notebook, compiled as IPython compiles each cell (`await` outside a function allowed, a
    `from __future__` import in a later cell too)."""
    import ast
    import warnings

    try:
        tree = python_ast(text, filename)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile_ast(tree, filename, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if notebook_cells else 0)
    except SyntaxError as exc:
        if notebook_cells and exc.msg == _LATE_FUTURE:
            return tree  # IPython compiles each cell on its own: a later cell may import from __future__
        # a statement Python refuses: the rest may still be read (trainlint.recover)
        raise SyntaxProblem(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise FileProblem("the file is nested too deeply to analyse") from None
    except ValueError as exc:  # NUL bytes, before Python 3.12
        raise FileProblem(f"cannot parse the file: {exc}") from None
    return tree


def class_rows(tree) -> tuple[tuple[str, int, int], ...]:
    """The classes of CPython's tree in source order (pre-order, as LibCST's walk meets them):
    name, first row (its first decorator's), last row."""
    rows = []

    def visit(body: list) -> None:
        for statement in body:
            if type(statement).__name__ == "ClassDef":
                rows.append((statement.name, min([statement.lineno, *(d.lineno for d in statement.decorator_list)]),
                             statement.end_lineno or statement.lineno))
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                inner = getattr(statement, field, None)
                if inner:
                    visit(inner)

    visit(tree.body)
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class PythonView:
    """What the analysis of a text needs from CPython besides LibCST's tree: whether `python`
    accepts it (cpython_tree's FileProblem, as kind, message, row, column) and the rows of its
    classes (class_rows). Small and plain, so that another process can compute it: the command
    line's workers get theirs from a process that ran while the main one imported LibCST."""

    problem: tuple[str, str, int, int] | None
    classes: tuple[tuple[str, int, int], ...]

    def raise_problem(self) -> None:
        """Raise the FileProblem cpython_tree raised for the text, if it did."""
        if self.problem is not None:
            kind, message, row, column = self.problem
            raise (SyntaxProblem if kind == "syntax" else FileProblem)(message, row, column)


def python_view(text: str, filename: str = "<source>") -> PythonView:
    """CPython's view of a module's text (not a notebook's cells)."""
    try:
        tree = cpython_tree(text, filename)
    except FileProblem as problem:
        kind = "syntax" if isinstance(problem, SyntaxProblem) else "file"
        return PythonView((kind, problem.message, problem.row, problem.column), ())
    return PythonView(None, class_rows(tree))


def python_ast(text: str, filename: str = "<source>"):
    """CPython's syntax tree of `text` (SyntaxError if it refuses it), without the
    SyntaxWarnings compiling prints (`1if x`, invalid escapes): they are the file's matter,
    and would land in trainlint's output or the editor's log.

    The last answer is remembered (per thread): a text CPython refuses is asked about by
    the editor's reparser, by the engine for its message and by the recovery, one after
    the other, and the recovered text by the recovery and the reparser."""
    last = getattr(_last, "answer", None)
    if last is not None and last[0] == filename and last[1] == text:
        if isinstance(last[2], SyntaxError):
            raise last[2].with_traceback(None)
        return last[2]
    import ast
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = compile_ast(text, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=False)
        except SyntaxError as error:
            _last.answer = (filename, text, error)
            raise
    _last.answer = (filename, text, tree)
    return tree


_last = threading.local()
