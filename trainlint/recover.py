"""Reading what does parse in a file CPython refuses, one statement at a time.

Real training code that does not parse is common: Python 2 (`print x`, `except E, e:`),
old PyTorch (`x.cuda(async=True)`, `async` is a keyword since 3.7), a post that lost its
indentation, a line half typed in the editor. One such statement used to hide the whole
file from every rule. Here the statement CPython rejects is taken out - its lines blanked,
so every other line keeps its number and its columns - and the text is compiled again,
at most MAX_ATTEMPTS times. A block header is replaced by a neutral header of the same
kind (`for _ in _:`), so its body stays in a block; a missing `:` on a header is added
instead, which keeps the loop a loop.

The engine still reports CPython's own verdict (TL000) on the text as written; the rest of
the findings come from the recovered text, none from a blanked row, and none carries a
fix: the text on disk is not the text that was analysed.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

from trainlint.source import python_ast

# Enough for a Python 2 script with a print in every function; a file with more broken
# statements than this is not worth guessing at (each attempt compiles the whole text).
MAX_ATTEMPTS = 20

# The indentation messages, where a `pass` at the statement's own indentation would be
# rejected again: the statement's lines become empty instead.
_INDENTATION = ("unexpected indent", "unindent does not match", "inconsistent use of tabs")
# "expected an indented block after 'for' statement on line 3": the header has no body.
_NO_BODY = re.compile(r"expected an indented block after .* on line (\d+)")
_KEYWORD = re.compile(r"[ \t]*(async[ \t]+)?([A-Za-z_]\w*)")
_DEF_NAME = re.compile(r"[ \t]*(?:async[ \t]+)?(def|class)[ \t]+([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Recovered:
    """The text that parses, and the rows (1-based) whose statements were taken out or changed."""

    text: str
    blanked: frozenset[int]


def recover(text: str, attempts: int = MAX_ATTEMPTS) -> Recovered | None:
    """The text with the statements CPython rejects blanked, or None: it parses as it is, or
    it does not parse after `attempts` blanked statements, or a rejected statement cannot be
    taken out (its lines are blank already)."""
    lines = text.splitlines(keepends=True)
    blanked: set[int] = set()
    colon_added: set[int] = set()
    statements = _Statements()
    for _ in range(attempts + 1):
        current = "".join(lines)
        try:
            python_ast(current)
        except SyntaxError as error:
            if not _take_out(lines, error, statements, blanked, colon_added):
                return None
            continue
        except (RecursionError, MemoryError, ValueError, OverflowError):
            return None
        return Recovered(current, frozenset(blanked)) if blanked else None
    return None


def _take_out(lines: list[str], error: SyntaxError, statements: _Statements, blanked: set[int],
              colon_added: set[int]) -> bool:
    """Replace the statement `error` points at; False when nothing could be changed."""
    message = error.msg or ""
    no_body = _NO_BODY.search(message)
    row = int(no_body.group(1)) if no_body else (error.lineno or 0)
    if not 1 <= row <= len(lines):
        row = len(lines)  # "unexpected EOF": the last statement
        if row == 0:
            return False
    first, last = statements.around(lines, row)
    indentation = isinstance(error, IndentationError) and not no_body and any(m in message for m in _INDENTATION)
    header = not no_body and _opens_block(lines, first, last)
    if header and message.startswith("expected ':'") and first not in colon_added:
        colon_added.add(first)
        replacement = [_with_colon(lines[last - 1])]
        first = last
    elif indentation:
        replacement = [_ending(line) for line in lines[first - 1 : last]]
    else:
        replacement = [_neutral(lines[first - 1], block=header)] + [_ending(line) for line in lines[first : last]]
    if replacement == lines[first - 1 : last]:
        return False
    lines[first - 1 : last] = replacement
    blanked.update(range(first, last + 1))
    return True


class _Statements:
    """The rows of each logical line (brackets and backslashes continue a line), as the
    tokenizer reads them. Read once: taking a statement out keeps every other statement's
    rows; read again only past where the tokenizer stopped (an unclosed string or bracket)."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.read_to = -1  # the last row the spans are known for; -1: not read yet

    def around(self, lines: list[str], row: int) -> tuple[int, int]:
        """(first, last) rows (1-based) of the statement that holds `row`; `row` alone where
        the tokenizer cannot tell."""
        if self.read_to < 0:
            near = _read_from_top_level(lines, row)  # the editor's case: one error, one statement
            if near is not None:
                return near
        if row > self.read_to:
            self._read(lines)
        for first, last in self.spans:
            if first <= row <= last:
                return first, last
        return row, row

    def _read(self, lines: list[str]) -> None:
        self.spans, first = [], None
        self.read_to = len(lines)
        try:
            for token in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
                if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                    continue
                if first is None:
                    first = token.start[0]
                if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                    self.spans.append((first, max(first, min(token.end[0], len(lines)))))
                    first = None
        except (tokenize.TokenError, IndentationError, SyntaxError):
            self.read_to = self.spans[-1][1] if self.spans else 0


def _read_from_top_level(lines: list[str], row: int) -> tuple[int, int] | None:
    """The statement that holds `row`, tokenized from the nearest line above it that starts at
    column 0 (a top-level statement, unless it is inside a string or brackets: then the
    tokens do not end cleanly at a line past `row`, and None says to read the whole text)."""
    start = row
    while start > 1 and (lines[start - 1][:1] in ("", " ", "\t", "\r", "\n", "#", ")", "]", "}")
                         or lines[start - 2].rstrip("\r\n").endswith("\\")):
        start -= 1
    first = None
    rest = iter(lines[start - 1 :])
    try:
        for token in tokenize.generate_tokens(lambda: next(rest, "")):
            if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                continue
            if token.type == tokenize.ENDMARKER:
                return None
            if first is None:
                first = token.start[0] + start - 1
            if token.type == tokenize.NEWLINE:
                last = token.end[0] + start - 1
                if last >= row:
                    return (first, last) if first <= row else None
                first = None
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return None


def _opens_block(lines: list[str], first: int, last: int) -> bool:
    """Whether the next line with code is indented deeper than the statement: its body."""
    own = _indent_width(lines[first - 1])
    for line in lines[last:]:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _indent_width(line) > own
    return False


def _neutral(line: str, *, block: bool) -> str:
    """A statement that says nothing, at the line's indentation: `pass`, or for a block
    header one of the same kind, so that its body and the clauses after it (`else:`,
    `except ...:`) still parse."""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    match = _KEYWORD.match(line)
    keyword = match.group(2) if match else ""
    clause = keyword in ("elif", "else", "except", "finally")
    if not block and not clause:
        head = "pass"
    elif keyword in ("def", "class"):
        named = _DEF_NAME.match(line)
        name = named.group(2) if named else "_"
        head = f"def {name}(*args, **kwargs):" if keyword == "def" else f"class {name}:"
    else:
        head = {
            "for": "for _ in _:", "while": "while _:", "if": "if _:", "elif": "elif _:", "else": "else:",
            "try": "try:", "except": "except Exception:", "finally": "finally:", "with": "with _:",
        }.get(keyword, "if _:")
        if not block:  # a one-line clause (`else: print x`) keeps its place among the others
            head += " pass"
    return indent + head + _ending(line)


def _with_colon(line: str) -> str:
    """The header's last line with a `:` before its comment and line ending."""
    body = line.rstrip("\r\n")
    code, hash_, comment = body.partition("#") if "#" in body and "'" not in body and '"' not in body else (body, "", "")
    return code.rstrip() + ":" + (" " + hash_ + comment if hash_ else "") + _ending(line)


def _ending(line: str) -> str:
    """The line's own line ending (the last line may have none)."""
    return line[len(line.rstrip("\r\n")) :]


def _indent_width(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


__all__ = ["MAX_ATTEMPTS", "Recovered", "recover"]
