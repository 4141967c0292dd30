"""IPython syntax in a code cell, made Python of the same width: `%matplotlib inline`,
`!pip install x`, `?obj` and `obj?` become `0#...` (a statement that does nothing, so a magic
alone in a block leaves the block valid); `%time x = f()` becomes `if 1: x = f()`;
`files = !ls` becomes `files = ...`; a cell whose first row is indented loses that
indentation on every row that has it, as IPython's `leading_indent` does. Every other
character keeps its row and column. Cells in another language (`%%bash`, ...) are named.
"""

from __future__ import annotations

import re

# Cell magics whose body is Python (IPython runs it as such); ruff keeps the same list.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy", "skip"})
# Line magics followed by a statement that runs as written: `%time x = f()`.
_STATEMENT_MAGICS = frozenset({"time", "timeit", "prun"})
_TIMEIT_ARGUMENT_OPTIONS = frozenset("nrp")  # -n 10, -r3, -p 5 take a value
_COMPOUND = re.compile(r"(?:async|class|def|elif|else|except|finally|for|if|match|try|while|with)\b|@")
# `files = !ls`, `t = %timeit -o f()`: the value is a magic.
_ASSIGNED_MAGIC = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)(?=[!%][^=])")
_HELP = re.compile(r"^\s*(?:\?\??\s*[\w.*]+|[\w.*]+\s*\?\??|%(?:pinfo2?|psearch)\b.*)\s*$")
_INDENT = re.compile(r"[ \t]*")
# What decides whether a row leaves a statement open: escapes, quotes, comments, brackets.
_SIGNIFICANT = re.compile(r"""\\.|'''|\"\"\"|['"#()\[\]{}]""")
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")
_ROW = re.compile(r"[^\n]*\n|[^\n]+\Z")


def text_rows(text: str) -> list[str]:
    """The rows of `text` with their ends, counted as the module counts them: by `\\n`
    (str.splitlines also breaks at form feeds and other separators)."""
    return _ROW.findall(text)


def analysed_text(source: str) -> tuple[str, dict[int, str], str | None, str, frozenset[int]]:
    """(the cell's text with IPython syntax neutralized, the rewritten rows' originals, why
    the cell is not Python or None, the indentation taken off, the rows it was taken from)."""
    lines = text_rows(source)
    rewritten: dict[int, str] = {}
    indent = _INDENT.match(lines[0]).group() if lines else ""
    indented = set()
    if indent:  # as IPython's leading_indent: the first row's indentation off every row that has it
        for i, line in enumerate(lines):
            if line.startswith(indent):
                rewritten[i + 1] = line.rstrip("\r\n")
                lines[i] = line[len(indent):]
                indented.add(i + 1)
    done = set()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(None, 1)[0] if lines[first].strip() != "%%" else ""
        if name not in PYTHON_CELL_MAGICS:
            return "", {}, f"cell magic %%{name}", "", frozenset()
        rewritten.setdefault(first + 1, lines[first].rstrip("\r\n"))
        lines[first] = _comment(lines[first])
        done.add(first + 1)
    continued = False
    python, read = _Continuation(), 0
    for i, line in enumerate(lines):
        if i + 1 in done:
            continue
        body = line.rstrip("\r\n")
        if continued:  # the rows of a magic continued with a backslash
            rewritten.setdefault(i + 1, body)
            lines[i] = _continuation(line)
            continued = body.endswith("\\")
            continue
        new = _neutralized(body)
        if new is not None:
            # inside brackets, a string or after a backslash, `% x` is Python's modulo: IPython
            # reads magics only where a statement starts. The rows above are read only when a
            # row looks like IPython syntax (their magics are comments by now).
            for row in lines[read:i]:
                python.read(row.rstrip("\r\n"))
            read = i
            if python.inside:
                new = None
        if new is not None:
            rewritten.setdefault(i + 1, body)
            lines[i] = new + line[len(body):]
            continued = body.endswith("\\") and new.lstrip().startswith("0")
    text = "".join(lines)
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    return text, rewritten, None, indent, frozenset(indented)


class _Continuation:
    """Whether the next row continues a Python statement: an open bracket, a string that
    spans rows (triple-quoted, or a quoted one continued with a backslash), or a
    backslash at the end of the row. Read row by row from the neutralized text."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.backslash = False

    @property
    def inside(self) -> bool:
        return self.depth > 0 or self.quote is not None or self.backslash

    def read(self, row: str) -> None:
        n = len(row)
        for token in _SIGNIFICANT.finditer(row):
            text = token.group()
            if self.quote is not None:
                if text == self.quote:
                    self.quote = None
            elif text == "#":
                n = token.start()  # a comment ends the row; a backslash in it continues nothing
                break
            elif text in _OPENING:
                self.depth += 1
            elif text in _CLOSING:
                self.depth = max(0, self.depth - 1)
            elif text[0] != "\\":
                self.quote = text
        ends_in_backslash = row[:n].endswith("\\")
        if self.quote is not None and len(self.quote) == 1 and not ends_in_backslash:
            self.quote = None  # an unclosed 'string' ends with its row (a syntax error, not ours)
        self.backslash = ends_in_backslash and (self.quote is None or len(self.quote) == 1)


def _neutralized(line: str) -> str | None:
    """The line with its IPython syntax made Python of the same width; None if it has none."""
    stripped = line.lstrip()
    if not stripped or stripped[0] not in "%!?" and "?" not in stripped and "=" not in stripped:
        return None
    if _HELP.match(line):
        return _comment(line)
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("!") and not stripped.startswith("!="):
        return _comment(line)
    if stripped.startswith("%"):
        name, _, rest = stripped[1:].partition(" ")
        statement = _magic_statement(name.strip("%"), rest) if not stripped.startswith("%%") else None
        if statement is not None:
            prefix = len(stripped) - len(statement)
            if prefix >= len("if 1:") + 1:
                return indent + "if 1:".ljust(prefix) + statement
        return _comment(line)
    assigned = _ASSIGNED_MAGIC.match(line)
    if assigned:
        target = assigned.group(1)
        return target + "...".ljust(len(line) - len(target))
    return None


def _magic_statement(name: str, rest: str) -> str | None:
    """The statement after `%time`/`%timeit [-n 10 -r 3]`/`%prun`, if it is a simple one."""
    if name not in _STATEMENT_MAGICS:
        return None
    words = rest.split(" ")
    i = 0
    while i < len(words) and (not words[i] or words[i].startswith("-")):
        word = words[i]
        if len(word) == 2 and word[1] in _TIMEIT_ARGUMENT_OPTIONS:
            i += 1  # the option's value is the next word
        i += 1
    statement = " ".join(words[i:]).strip()
    if not statement or _COMPOUND.match(statement):
        return None
    return statement


def _comment(line: str) -> str:
    """The line as a statement of the same width that does nothing: `0#...` (a statement,
    so a magic that is the only body of a block leaves the block valid)."""
    stripped = line.lstrip()
    indent = len(line) - len(stripped)
    if not stripped:
        return line
    return line[:indent] + ("0#" + stripped[2:] if len(stripped) >= 2 else "0")


def _continuation(line: str) -> str:
    """A row that continues a magic (after a backslash), as a comment of the same width."""
    stripped = line.lstrip()
    indent = len(line) - len(stripped)
    return line[:indent] + "#" + stripped[1:] if stripped else line


def syntax_width(analysed: str, original: str) -> int:
    """How much of an analysed line stands for IPython syntax: the part that differs from
    the original (a statement magic's `if 1:` prefix, or a comment's whole line)."""
    common = 0
    for a, b in zip(analysed[::-1], original[::-1]):
        if a != b:
            break
        common += 1
    if analysed.lstrip().startswith(("#", "0#")) or analysed.strip() == "0":  # the whole row stood for it
        return len(analysed)
    return len(analysed) - common
