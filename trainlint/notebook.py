"""A Jupyter notebook read as one Python module, with a map from its rows to (cell, row).

Code cells are joined in order, so the model built in cell 5 is known in the loop of
cell 8; markdown and raw cells add nothing. IPython syntax is neutralized without moving
anything else: `%matplotlib inline` and `!pip install x` become comments of the same
width, `%time x = f()` becomes `if 1: x = f()`, so every other character keeps its row
and column and no rule needs to know it reads a notebook. Cells in another language
(`%%bash`, `%%writefile`, ...) and cells that do not parse are left out of the module
(their rows stay, blank), so one broken cell does not hide the findings of the others.

Writing back replaces only the `source` values of the cells that changed, in place in the
file's own JSON text: outputs, execution counts, ids, metadata, key order, indentation and
the final newline are the file's bytes, and an unchanged notebook gives its bytes back.
ruff's `ruff_notebook` crate is the model (cell numbers count every cell, 1-based).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field

from trainlint.source import FileProblem, python_ast

NOTEBOOK_SUFFIX = ".ipynb"

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
_ROW = re.compile(r"[^\n]*\n|[^\n]+\Z")


@dataclass
class Cell:
    """One code cell as analysed."""

    number: int  # 1-based over every cell of the notebook, as Jupyter and ruff count them
    source: str  # the cell's text as in the file
    text: str  # the cell as analysed: magics neutralized, ends with a newline
    start_row: int  # the module row of the cell's first row
    #: row in cell (1-based) -> the original line where the analysed line was rewritten
    rewritten: dict[int, str] = field(default_factory=dict)
    problem: FileProblem | None = None  # a syntax error, at its row and column in the cell
    #: the source value was a JSON string, not a list of lines
    as_string: bool = False
    #: the indentation of an indented first row, which IPython removes from every row that
    #: starts with it (`leading_indent`); the analysis sees those rows without it
    indent: str = ""
    indented: frozenset[int] = frozenset()

    def column_in_cell(self, row: int, column: int) -> int:
        return column + len(self.indent) if row in self.indented else column

    def column_in_module(self, row: int, column: int) -> int:
        return column - len(self.indent) if row in self.indented else column

    @property
    def rows(self) -> int:
        return self.text.count("\n")


@dataclass
class Notebook:
    """The module text of a notebook's Python code cells and the way back to the cells."""

    raw: str  # the file's JSON text
    #: the module (set from the cells): their analysed texts joined, a cell that does not parse as blank rows
    text: str = field(init=False)
    cells: list[Cell]  # the code cells that are analysed, in order
    skipped: list[tuple[int, str]]  # (cell number, why) of code cells left out
    language: str = "python"
    _starts: list[int] = field(default_factory=list, repr=False)
    #: (start, end) of each cell's "source" value in `raw`, by cell number
    _spans: dict[int, tuple[int, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._starts = [cell.start_row for cell in self.cells]
        self._parts = [_module_part(cell) for cell in self.cells]
        self.text = "".join(self._parts)

    @property
    def is_python(self) -> bool:
        return self.language == "python"

    def cell_at(self, row: int) -> Cell | None:
        """The cell holding module `row` (1-based)."""
        i = bisect_right(self._starts, row) - 1
        if i < 0:
            return None
        cell = self.cells[i]
        return cell if row < cell.start_row + cell.rows else None

    def locate(self, row: int, column: int) -> tuple[int, int, int]:
        """(cell number, row in the cell, column) of a module position. A position past the
        last row (the end of the module) is the end of the last cell."""
        cell = self.cell_at(row)
        if cell is None:
            if not self.cells:
                return 1, row, column
            # past the end of the module: the end of the last cell
            cell = next(c for c in reversed(self.cells) if c.rows or c is self.cells[0])
            return cell.number, max(cell.rows, 1), column if row == cell.start_row + max(cell.rows, 1) - 1 else 1
        row = row - cell.start_row + 1
        return cell.number, row, cell.column_in_cell(row, column)

    def module_row(self, number: int, row: int) -> int | None:
        """The module row of `row` in cell `number`; None for a cell that is not analysed."""
        for cell in self.cells:
            if cell.number == number:
                return cell.start_row + row - 1 if 1 <= row <= max(cell.rows, 1) else None
        return None

    def cell(self, number: int) -> Cell | None:
        return next((cell for cell in self.cells if cell.number == number), None)

    def first_code_cell(self) -> Cell | None:
        return self.cells[0] if self.cells else None

    def file_position(self, number: int, row: int, column: int) -> tuple[int, int] | None:
        """(row, column) in the notebook's JSON text of a position in cell `number`: where a
        GitHub annotation or a SARIF viewer, which show the file, can point."""
        cell = self.cell(number)
        span = self._spans.get(number)
        if cell is None or span is None:
            return None
        lines = _lines(cell.source)
        offset = sum(len(line) for line in lines[: row - 1]) + column - 1
        ensure_ascii = _escapes_non_ascii(self.raw)
        at = 0  # the cell text offset where the current element starts
        for quote, content in _string_elements(self.raw, *span):
            if offset < at + len(content) or offset == at + len(content) and not content.endswith("\n"):
                escaped = json.dumps(content[: max(offset - at, 0)], ensure_ascii=ensure_ascii)[1:-1]
                where = quote + 1 + len(escaped)
                line_start = self.raw.rfind("\n", 0, where) + 1
                return self.raw.count("\n", 0, where) + 1, where - line_start + 1
            at += len(content)
        return None

    # writing back ---------------------------------------------------------------
    def cell_source(self, cell: Cell, text: str) -> str:
        """The cell's source for its analysed `text`: the rows that were rewritten for the
        analysis get their IPython syntax back; FileProblem where an edit touched that syntax."""
        if text == self._parts[self.cells.index(cell)]:
            return cell.source
        if cell.problem is not None:
            raise FileProblem(f"a fix would change cell {cell.number}, which does not parse")
        old = _lines(cell.text)
        new = _lines(text)
        restored = _restore_lines(old, new, cell)
        out = "".join(restored)
        if not cell.source.endswith("\n") and out.endswith("\n"):
            out = out[:-1]
        return out

    def with_sources(self, sources: dict[int, str]) -> str:
        """The file's JSON text with the `source` of the cells in `sources` (by number)
        replaced, everything else byte for byte as it was."""
        pieces, last = [], 0
        for number in sorted(sources):
            cell = self.cell(number)
            if cell is None or sources[number] == cell.source:
                continue
            start, end = self._spans[number]
            pieces.append(self.raw[last:start])
            pieces.append(_format_source(sources[number], self.raw, start, end, cell.as_string))
            last = end
        pieces.append(self.raw[last:])
        return "".join(pieces)

    def split_rows(self, text: str) -> list[str]:
        """The cells' analysed texts in a module `text` whose edits added or removed no row
        (noqa comments): each cell keeps its number of rows."""
        lines = _lines(text)
        if len(lines) != sum(part.count("\n") for part in self._parts):
            raise FileProblem("the edits changed the number of rows")
        out, at = [], 0
        for part in self._parts:
            rows = part.count("\n")
            out.append("".join(lines[at:at + rows]))
            at += rows
        return out

    def with_text(self, text: str) -> str:
        """The file's JSON text for a module `text` made from this one's by edits that added
        or removed no row (noqa comments; fixes edit the cells' sources, see trainlint.fix)."""
        parts = self.split_rows(text)
        return self.with_sources({cell.number: self.cell_source(cell, part) for cell, part in zip(self.cells, parts)})


def _lines(text: str) -> list[str]:
    """The rows of `text` with their ends, counted as the module counts them: by `\\n`
    (str.splitlines also breaks at form feeds and other separators)."""
    return _ROW.findall(text)


def _module_part(cell: Cell) -> str:
    return "\n" * cell.rows if cell.problem else cell.text


def _restore_lines(old: list[str], new: list[str], cell: Cell) -> list[str]:
    """`new` with each rewritten line that is still there put back as it was written, and
    the cell's leading indentation given back to the rows IPython took it from."""
    if not cell.rewritten:
        return new
    import difflib

    def written(row: int) -> tuple[str, bool]:
        """(the original row less the cell's indentation, whether it held IPython syntax)."""
        original = cell.rewritten[row]
        base = original[len(cell.indent):] if row in cell.indented else original
        return base, base != old[row - 1].rstrip("\r\n")

    def indented(line: str, row: int | None) -> str:
        if row in cell.indented or row is None and cell.indent and line.strip():
            return cell.indent + line
        return line

    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for k in range(a1 - a0):
                original = cell.rewritten.get(a0 + k + 1)
                out.append(original + _ending(new[b0 + k]) if original is not None else new[b0 + k])
            continue
        touched = [row for row in range(a0 + 1, a1 + 1) if row in cell.rewritten and written(row)[1]]
        if op == "replace" and a1 - a0 == b1 - b0:
            for k in range(a1 - a0):
                row, line = a0 + k + 1, new[b0 + k]
                if row not in cell.rewritten:
                    out.append(line)
                    continue
                base, magic = written(row)
                if magic:
                    analysed = old[row - 1].rstrip("\r\n")
                    kept = _kept_prefix(analysed, base)
                    if not line.startswith(analysed[:kept]):
                        raise FileProblem("a fix would change a line with IPython syntax")
                    line = base[:kept] + line[kept:]
                out.append(indented(line, row))
            continue
        if touched and op != "delete":
            raise FileProblem("a fix would change a line with IPython syntax")
        out.extend(indented(line, None) for line in new[b0:b1])
    return out


def _kept_prefix(analysed: str, original: str) -> int:
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


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


# reading ---------------------------------------------------------------------
def read_notebook(data: bytes | str) -> Notebook:
    """The notebook in `data` (the file's bytes); FileProblem naming what is wrong with it."""
    try:
        raw = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise FileProblem(f"cannot decode the notebook as UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}") from None
    try:
        document, spans = _parse_with_spans(raw)
    except json.JSONDecodeError as exc:
        raise FileProblem(f"the notebook is not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise FileProblem("the notebook is nested too deeply to read") from None
    if not isinstance(document, dict):
        raise FileProblem("the notebook is not a JSON object")
    version = document.get("nbformat")
    if version is None:
        raise FileProblem("the notebook has no `nbformat` version")
    if not isinstance(version, (int, float)) or isinstance(version, bool) or version < 4:
        raise FileProblem(
            f"nbformat {version!r} notebooks are not supported (4 or later is); "
            "convert it with `jupyter nbconvert --to notebook --nbformat 4`"
        )
    cells = document.get("cells")
    if not isinstance(cells, list):
        raise FileProblem("the notebook has no `cells` list")

    language = _language(document.get("metadata"))
    analysed: list[Cell] = []
    skipped: list[tuple[int, str]] = []
    row = 1
    for number, item in enumerate(cells, start=1):
        if not isinstance(item, dict):
            raise FileProblem(f"cell {number} is not a JSON object")
        if item.get("cell_type") != "code":
            continue
        value = item.get("source", "")
        if isinstance(value, list) and all(isinstance(line, str) for line in value):
            source = "".join(value)
        elif isinstance(value, str):
            source = value
        else:
            raise FileProblem(f"the source of cell {number} is not a string or a list of strings")
        if language != "python":
            continue
        text, rewritten, why, indent, indented = _analysed_text(source)
        if why is not None:
            skipped.append((number, why))
            continue
        cell = Cell(number, source, text, row, rewritten, as_string=isinstance(value, str), indent=indent, indented=indented)
        cell.problem = _syntax_problem(text)
        analysed.append(cell)
        row += cell.rows
    return Notebook(raw, analysed, skipped, language, _spans=spans)


def _language(metadata) -> str:
    """The kernel's language (kernelspec, else language_info); Python when neither says."""
    if not isinstance(metadata, dict):
        return "python"
    for key in ("kernelspec", "language_info"):
        entry = metadata.get(key)
        if isinstance(entry, dict):
            name = entry.get("language") if key == "kernelspec" else entry.get("name")
            if isinstance(name, str) and name:
                return name.strip().lower()
    return "python"


def _syntax_problem(text: str) -> FileProblem | None:
    import ast

    try:
        compile(text, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        return FileProblem(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1)
    except (ValueError, RecursionError, MemoryError):
        return FileProblem("the cell cannot be parsed")
    return None


def _analysed_text(source: str) -> tuple[str, dict[int, str], str | None, str, frozenset[int]]:
    """(the cell's text with IPython syntax neutralized, the rewritten rows' originals, why
    the cell is not Python or None, the indentation taken off, the rows it was taken from)."""
    lines = _lines(source)
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
            rewritten.setdefault(i + 1, body)
            lines[i] = new + line[len(body):]
            continued = body.endswith("\\") and new.lstrip().startswith("0")
    text = "".join(lines)
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    return text, rewritten, None, indent, frozenset(indented)


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


# JSON with the positions of the cells' sources --------------------------------
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _parse_with_spans(raw: str) -> tuple[object, dict[int, tuple[int, int]]]:
    """json.loads(raw), and the (start, end) of the `source` value of each cell (by number)
    in `raw`, found by walking the top object and the cells list by hand; every value is
    decoded by the json module itself."""
    decoder = json.JSONDecoder()
    document = decoder.decode(raw)  # the errors, with their positions, are json's own
    spans: dict[int, tuple[int, int]] = {}
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        return document, spans
    for key, start, end in _members(raw, _skip(raw, 0), decoder):
        if key == "cells":
            number = 0
            i = _skip(raw, start + 1)  # after "["
            while raw[i] != "]":
                number += 1
                _, after = decoder.raw_decode(raw, i)
                if raw[i] == "{":
                    for cell_key, s, e in _members(raw, i, decoder):
                        if cell_key == "source":
                            spans[number] = (s, e)
                i = _skip(raw, after)
                if raw[i] == ",":
                    i = _skip(raw, i + 1)
    return document, spans


def _members(raw: str, i: int, decoder: json.JSONDecoder):
    """(key, value start, value end) of each member of the object that starts at `i`
    (the last one of a repeated key, as json.loads keeps)."""
    from json.decoder import scanstring

    found = {}
    i = _skip(raw, i + 1)
    while raw[i] != "}":
        key, i = scanstring(raw, i + 1)
        i = _skip(raw, _skip(raw, i) + 1)  # past ":"
        _, end = decoder.raw_decode(raw, i)
        found[key] = (i, end)
        i = _skip(raw, end)
        if raw[i] == ",":
            i = _skip(raw, i + 1)
    return [(key, s, e) for key, (s, e) in found.items()]


def _string_elements(raw: str, start: int, end: int) -> list[tuple[int, str]]:
    """(offset of the opening quote, decoded text) of each string of the JSON value at
    raw[start:end]: a string, or a list of strings."""
    from json.decoder import scanstring

    out = []
    i = start + 1 if raw[start] == "[" else start
    while i < end:
        i = _skip(raw, i)
        if raw[i] != '"':
            i += 1  # a comma or the closing bracket
            continue
        text, after = scanstring(raw, i + 1)
        out.append((i, text))
        i = after
    return out


def _skip(raw: str, i: int) -> int:
    return _WHITESPACE.match(raw, i).end()


def _format_source(source: str, raw: str, start: int, end: int, as_string: bool) -> str:
    """`source` as a JSON value written the way the file wrote the one at raw[start:end]:
    a list of lines (nbformat's form) or a string, with the file's indentation and escapes."""
    ensure_ascii = _escapes_non_ascii(raw)
    if as_string:
        return json.dumps(source, ensure_ascii=ensure_ascii)
    lines = source.splitlines(keepends=True)
    if "\n" not in raw.strip() or not lines:  # a one-line file, or an empty list
        compact = not re.search(r'":\s', raw[:500])
        return json.dumps(lines, ensure_ascii=ensure_ascii, separators=(",", ":") if compact else (", ", ": "))
    line_start = raw.rfind("\n", 0, start) + 1
    base = raw[line_start:start]
    base = base[: len(base) - len(base.lstrip())]  # the indentation of the `"source":` line
    unit = _indent_unit(raw)
    body = json.dumps(lines, ensure_ascii=ensure_ascii, indent=unit)
    newline = "\r\n" if "\r\n" in raw else "\n"  # a notebook saved on Windows
    return body.replace("\n", newline + base)


def _indent_unit(raw: str) -> str:
    match = re.search(r"\n([ \t]+)\S", raw)
    return match.group(1) if match else " "


def _escapes_non_ascii(raw: str) -> bool:
    """Whether the file writes non-ASCII characters as \\u escapes (json.dumps' default)."""
    if not raw.isascii():
        return False
    return bool(re.search(r"\\u(?:00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F])", raw))


def notebook_text(cells: list[tuple[str, str]]) -> str:
    """The JSON text of an nbformat 4 notebook of these (cell type, source) cells: how a
    notebook an editor holds open, known by its cells' texts, is checked."""
    items = []
    for kind, source in cells:
        item: dict = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            item.update(execution_count=None, outputs=[])
        items.append(item)
    return json.dumps({"cells": items, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, ensure_ascii=False)


def cell_diff(path: str, before: str, after: str) -> str:
    """A unified diff of each cell whose source changed between two JSON texts of a
    notebook, headed `path:cell N` as ruff shows it."""
    import difflib

    old, new = read_notebook(before), read_notebook(after)
    out = []
    for cell in old.cells:
        changed = new.cell(cell.number)
        if changed is None or changed.source == cell.source:
            continue
        name = f"{path}:cell {cell.number}"
        a, b = cell.source.splitlines(keepends=True), changed.source.splitlines(keepends=True)
        for lines in (a, b):
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
        out.extend(difflib.unified_diff(a, b, fromfile=name, tofile=name))
    return "".join(out)


# findings between the module and the cells ---------------------------------------
def is_notebook(path: str) -> bool:
    return path.endswith(NOTEBOOK_SUFFIX)


def findings_in_cells(notebook: Notebook, findings: list) -> list:
    """Findings located in the module, located in the cells (`cell` set, rows in the cell)."""
    from dataclasses import replace

    from trainlint.finding import Location

    def place(location: Location, cell: int | None = None) -> tuple[int, Location]:
        number, row, column = notebook.locate(location.row, location.column)
        if cell is not None and number != cell:  # an end past its cell: the end of the cell
            last = notebook.cell(cell)
            return cell, Location(max(last.rows, 1), len(_lines(last.text)[-1].rstrip("\n")) + 1 if last.rows else 1)
        return number, Location(row, column)

    out = []
    for finding in findings:
        if finding.cell is not None:
            out.append(finding)
            continue
        number, start = place(finding.location)
        _, end = place(finding.end_location, number)
        fix = finding.fix
        if fix is not None:
            edits = []
            for edit in fix.edits:
                at, edit_start = place(edit.location)
                _, edit_end = place(edit.end_location, at)
                edits.append(replace(edit, location=edit_start, end_location=edit_end, cell=at))
            fix = replace(fix, edits=tuple(edits))
        out.append(replace(finding, location=start, end_location=end, fix=fix, cell=number))
    return out


def findings_in_module(notebook: Notebook, findings: list) -> list:
    """The inverse of findings_in_cells, for the fixes and noqa comments made in the module;
    a finding in a cell that is not in the module (a syntax error's TL000) is left out."""
    from dataclasses import replace

    from trainlint.finding import Location

    def place(location: Location, number: int) -> Location | None:
        row = notebook.module_row(number, location.row)
        if row is None:
            return None
        return Location(row, notebook.cell(number).column_in_module(location.row, location.column))

    out = []
    for finding in findings:
        if finding.cell is None:
            out.append(finding)
            continue
        start, end = place(finding.location, finding.cell), place(finding.end_location, finding.cell)
        if start is None or end is None:
            continue
        fix = finding.fix
        if fix is not None:
            edits = []
            for edit in fix.edits:
                edit_start, edit_end = place(edit.location, edit.cell), place(edit.end_location, edit.cell)
                if edit_start is None or edit_end is None:
                    break
                edits.append(replace(edit, location=edit_start, end_location=edit_end, cell=None))
            else:
                fix = replace(fix, edits=tuple(edits))
            if len(edits) != len(fix.edits):
                fix = None
        out.append(replace(finding, location=start, end_location=end, fix=fix, cell=None))
    return out
