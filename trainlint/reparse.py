"""Re-parsing an edited file: LibCST parses only the top-level statements whose text changed.

In the editor a keystroke changes one statement, and LibCST's parse of the whole file was
over half of a re-lint. CPython's parser (several times faster) says where each top-level
statement's lines begin and end; each such chunk of lines is parsed by LibCST on its own,
or taken from the previous parse when its text is the same, and the statements are put
together into one Module: the same tree (`deep_equals`) as a parse of the whole text, so the
editor's findings are the command line's. Where that cannot be promised (indentation or
newlines that differ between chunks, a chunk LibCST parses differently alone, CPython and
LibCST disagreeing on the syntax), the whole text is parsed as before.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from trainlint.facts.walk import children
from trainlint.source import python_ast


class Reparser:
    """One per open document: `parse(text)` reuses the chunks of the last text that parsed."""

    def __init__(self, parse_whole: Callable[[str], cst.Module]) -> None:
        self._parse_whole = parse_whole
        self._chunks: dict[str, _Chunk] = {}
        self.reused = 0  # chunks taken from the last parse: for tests and benchmarks

    def parse(self, text: str, tree=None) -> cst.Module:
        """`tree`: CPython's syntax tree of `text`, when the caller has it already."""
        texts = _chunk_texts(text, tree)
        if texts is None or len(texts) < 2:
            return self._parse_whole(text)
        chunks = []
        used: set[int] = set()
        for chunk_text in texts:
            chunk = self._chunks.get(chunk_text)
            # a statement whose text comes twice (a pasted class) needs nodes of its own each
            # time: one node at two places of the tree is one finding, at one position
            if chunk is None or id(chunk) in used:
                try:
                    chunk = _Chunk(self._parse_whole(chunk_text))
                except Exception:  # LibCST refuses what CPython took: its error is the whole text's
                    return self._parse_whole(text)
            else:
                self.reused += 1
            used.add(id(chunk))
            chunks.append(chunk)
        joined = _join(chunks)
        if joined is None:
            return self._parse_whole(text)
        # the chunks of this text only: a file's worth of trees, not every version's
        self._chunks = dict(zip(texts, chunks))
        return joined


class _Chunk:
    """A chunk's tree, and the indentation LibCST read from it (None: it has no indented block)."""

    __slots__ = ("module", "indent")

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.indent = module.default_indent if _has_indented_block(module) else None


def _chunk_texts(text: str, tree=None) -> list[str] | None:
    """The text cut after each top-level statement's last line (with the indented comments
    after it; other comments and blank lines go with the next statement, the last statement
    takes the rest); None if CPython refuses the text."""
    if tree is None:
        try:
            tree = python_ast(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return None
    lines = text.splitlines(keepends=True)
    if not tree.body:
        return [text]
    cuts: list[int] = []
    for stmt in tree.body:
        start = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        end = _block_footer_end(lines, stmt.end_lineno or stmt.lineno)
        if cuts and start <= cuts[-1]:  # `a = 1; b = 2`: one line, one LibCST statement
            cuts[-1] = max(cuts[-1], end)
        else:
            cuts.append(end)
    cuts[-1] = len(lines)  # what follows the last statement is the module's footer
    chunks = []
    start = 0
    for end in cuts:
        chunks.append("".join(lines[start:end]))
        start = end
    return chunks if all(chunks) else None


def _block_footer_end(lines: list[str], end: int) -> int:
    """Past the indented comments and whitespace-only lines that follow a statement (empty
    lines between them too): LibCST gives them to the footer of the block they close."""
    last = end
    for number in range(end, len(lines)):
        line = lines[number]
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if line[:1] in (" ", "\t"):
            last = number + 1
    return last


def _join(chunks: list[_Chunk]) -> cst.Module | None:
    """One Module of the chunks' statements; None where it would not be the whole text's tree:
    LibCST takes the default indentation from the first indented block of the file and the
    default newline from its first line, and stores only what differs from them."""
    first, last = chunks[0].module, chunks[-1].module
    indent = next((c.indent for c in chunks if c.indent is not None), first.default_indent)
    newline = first.default_newline
    body: list = []
    for i, chunk in enumerate(chunks):
        module = chunk.module
        if chunk.indent not in (None, indent) or module.default_newline != newline:
            return None
        if i < len(chunks) - 1 and (module.footer or not module.has_trailing_newline):
            return None
        statements = list(module.body)
        if not statements:
            return None
        if i > 0 and module.header:
            statements[0] = statements[0].with_changes(leading_lines=(*module.header, *statements[0].leading_lines))
        body.extend(statements)
    return cst.Module(
        body=tuple(body),
        header=first.header,
        footer=last.footer,
        encoding=first.encoding,
        default_indent=indent,
        default_newline=newline,
        has_trailing_newline=last.has_trailing_newline,
    )


def _has_indented_block(module: cst.Module) -> bool:
    """Whether the tokenizer met an indent in this text (a `match` indents its cases)."""
    stack: list = list(module.body)
    while stack:
        node = stack.pop()
        if type(node) in (cst.IndentedBlock, cst.Match):
            return True
        stack.extend(children(node))
    return False
