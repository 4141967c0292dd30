"""Where nodes are in the text: LibCST's PositionProvider, at a fraction of its cost.

PositionProvider generates the code while building a CodePosition per node and
splitting every token on newlines; that was half the time of checking a 330-line
script. Here the code generation counts characters only, and the few nodes that
carry findings are turned into (line, column) at the end. The ranges are the same as
PositionProvider's (syntactic: a statement starts at its code, not its comments);
tests/test_locate.py compares both on every node of real files.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange

from trainlint.facts.walk import children

_NEWLINE = re.compile(r"\r\n?|\n")


@dataclass(frozen=False)
class _OffsetState(CodegenState):
    offset: int = 0
    spans: dict = field(default_factory=dict)  # node -> (start offset, end offset)
    _stack: list = field(default_factory=list)

    def add_indent_tokens(self) -> None:
        self.tokens.extend(self.indent_tokens)
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    def pop_trailing_newline(self) -> None:
        """Keep it: offsets past the last line are counted against the full text."""

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        if node not in self.spans:
            self.spans[node] = (start, self.offset)

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: Optional[cst.CSTNode] = None,
        end_node: Optional[cst.CSTNode] = None,
    ) -> Iterator[None]:
        start = self.offset
        try:
            yield
        finally:
            end = self.offset
            if start_node is not None:
                start = self.spans[start_node][0]
            if end_node is not None:
                end = self.spans[end_node][1]
            self.spans[node] = (start, end)


def node_ranges(
    module: cst.Module, nodes: Iterable[cst.CSTNode], source: str | None = None
) -> dict[cst.CSTNode, CodeRange]:
    """The range of each of `nodes` (1-based lines, 0-based columns, as PositionProvider).

    With `source` (the text `module` was parsed from), only the top-level statements that
    hold one of `nodes` are generated, each placed in the text where its code occurs once
    (the module's code is the text); anything else generates the whole module."""
    nodes = list(nodes)
    if source is not None and not module.has_trailing_newline:
        # statements are generated with their newline; the whole-module path keeps it too
        source += module.default_newline
    found = _statement_spans(module, nodes, source) if source is not None else None
    if found is None:
        state = _OffsetState(default_indent=module.default_indent, default_newline=module.default_newline)
        module._codegen(state)
        code = "".join(state.tokens)
        spans = state.spans
    else:
        code, spans = source, found
    line_starts = [0] + [m.end() for m in _NEWLINE.finditer(code)]

    def position(offset: int) -> CodePosition:
        line = bisect_right(line_starts, offset)
        return CodePosition(line, offset - line_starts[line - 1])

    out = {}
    for node in nodes:
        span = spans.get(node)
        if span is not None:
            out[node] = CodeRange(position(span[0]), position(span[1]))
    return out


def _statement_spans(module: cst.Module, nodes: list[cst.CSTNode], source: str) -> dict | None:
    """Offsets of `nodes` from generating only the innermost statements that hold them (an
    enclosing one where a statement's code is not unique in the rest of the text); None
    when a node is outside every statement or no enclosing statement is unique (the
    caller then generates the whole module)."""
    if not nodes:
        return None
    wanted = {id(node) for node in nodes}
    chains = _chains(module, wanted)
    if len(chains) < len(wanted):
        return None
    holders: dict[int, tuple] = {}
    for chain in chains:
        holders.setdefault(id(chain[-1][0]), chain)
    spans: dict = {}
    cursor = 0
    last: int | None = None  # the statement placed last: later holders inside it are done
    for chain in sorted(holders.values(), key=lambda chain: chain[-1][2]):
        if last is not None and any(id(stmt) == last for stmt, _, _ in chain):
            continue
        for stmt, indent, _ in reversed(chain):
            state = _OffsetState(default_indent=module.default_indent, default_newline=module.default_newline)
            state.indent_tokens = list(indent)
            stmt._codegen(state)
            code = "".join(state.tokens)
            at = source.find(code, cursor)
            if at >= 0 and source.find(code, at + 1) < 0:
                break
        else:
            return None
        for node, (start, end) in state.spans.items():
            if id(node) in wanted:
                spans[node] = (start + at, end + at)
        cursor = at + len(code)
        last = id(stmt)
    return spans


def _chains(module: cst.Module, wanted: set[int]) -> list[tuple]:
    """For each node of `wanted` found, its enclosing statements, outermost first, each as
    (statement, the indentation it is generated under, its place in source order)."""
    found: dict[int, tuple] = {}
    order = 0
    # (node, the chain of statements around it, the indentation if node is a block's statement)
    stack: list = [(stmt, (), ()) for stmt in reversed(module.body)]
    while stack:
        node, chain, indent = stack.pop()
        if indent is not None:
            order += 1
            chain = chain + ((node, indent, order),)
        if id(node) in wanted and id(node) not in found:
            found[id(node)] = chain
            if len(found) == len(wanted):
                break
        if type(node) is cst.IndentedBlock:
            inner = chain[-1][1] + (module.default_indent if node.indent is None else node.indent,)
            stack.extend((stmt, chain, inner) for stmt in reversed(node.body))
        else:
            stack.extend((child, chain, None) for child in reversed(children(node)))
    return list(found.values())
