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
    """Offsets of `nodes` from generating only the top-level statements that hold them;
    None when a node is outside every statement or a statement's code is not unique in
    the text after the previous one (the caller then generates the whole module)."""
    if not module.has_trailing_newline or not nodes:
        return None
    wanted = {id(node) for node in nodes}
    holders: list[int] = []
    left = len(wanted)
    for i, stmt in enumerate(module.body):
        hits = _count_within(stmt, wanted)
        if hits:
            holders.append(i)
            left -= hits
            if left <= 0:
                break
    if left > 0:
        return None
    spans: dict = {}
    cursor = 0
    for i in holders:
        state = _OffsetState(default_indent=module.default_indent, default_newline=module.default_newline)
        module.body[i]._codegen(state)
        code = "".join(state.tokens)
        at = source.find(code, cursor)
        if at < 0 or source.find(code, at + 1) >= 0:
            return None
        for node, (start, end) in state.spans.items():
            if id(node) in wanted:
                spans[node] = (start + at, end + at)
        cursor = at + len(code)
    return spans


def _count_within(root: cst.CSTNode, wanted: set[int]) -> int:
    """How many distinct nodes of `wanted` are `root` or under it."""
    count = 0
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        key = id(node)
        if key in wanted and key not in seen:
            seen.add(key)
            count += 1
        stack.extend(children(node))
    return count
