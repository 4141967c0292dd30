"""A Jupyter notebook read as one Python module, with a map from its rows to (cell, row).

Code cells are joined in order, so the model built in cell 5 is known in the loop of
cell 8; markdown and raw cells add nothing. IPython syntax is neutralized without moving
anything else (trainlint.notebook.ipython): `%matplotlib inline` becomes `0#atplotlib
inline`, `%time x = f()` becomes `if 1: x = f()`, so every other character keeps its row
and column and no rule needs to know it reads a notebook. Cells in another language
(`%%bash`, `%%writefile`, ...) and cells that do not parse are left out of the module
(their rows stay, blank), so one broken cell does not hide the findings of the others.

Writing back replaces only the `source` values of the cells that changed, in place in the
file's own JSON text (trainlint.notebook.jsontext): outputs, execution counts, ids, metadata, key order, indentation and
the final newline are the file's bytes, and an unchanged notebook gives its bytes back.
ruff's `ruff_notebook` crate is the model (cell numbers count every cell, 1-based).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field

from trainlint.notebook.ipython import analysed_text, syntax_width, text_rows
from trainlint.notebook.jsontext import escapes_non_ascii, format_source, parse_with_spans, string_elements
from trainlint.source import FileProblem, compile_ast

NOTEBOOK_SUFFIX = ".ipynb"


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
        lines = text_rows(cell.source)
        offset = sum(len(line) for line in lines[: row - 1]) + column - 1
        ensure_ascii = escapes_non_ascii(self.raw)
        at = 0  # the cell text offset where the current element starts
        for quote, content in string_elements(self.raw, *span):
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
        old = text_rows(cell.text)
        new = text_rows(text)
        restored = _restorerows(old, new, cell)
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
            pieces.append(format_source(sources[number], self.raw, start, end, cell.as_string))
            last = end
        pieces.append(self.raw[last:])
        return "".join(pieces)

    def split_rows(self, text: str) -> list[str]:
        """The cells' analysed texts in a module `text` whose edits added or removed no row
        (noqa comments): each cell keeps its number of rows."""
        lines = text_rows(text)
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


def _module_part(cell: Cell) -> str:
    return "\n" * cell.rows if cell.problem else cell.text


def _restorerows(old: list[str], new: list[str], cell: Cell) -> list[str]:
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
                    kept = syntax_width(analysed, base)
                    if not line.startswith(analysed[:kept]):
                        raise FileProblem("a fix would change a line with IPython syntax")
                    line = base[:kept] + line[kept:]
                out.append(indented(line, row))
            continue
        if touched and op != "delete":
            raise FileProblem("a fix would change a line with IPython syntax")
        out.extend(indented(line, None) for line in new[b0:b1])
    return out


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
        document, spans = parse_with_spans(raw)
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
        text, rewritten, why, indent, indented = analysed_text(source)
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
        compile_ast(text, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        return FileProblem(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1)
    except (ValueError, RecursionError, MemoryError):
        return FileProblem("the cell cannot be parsed")
    return None


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
            return cell, Location(max(last.rows, 1), len(text_rows(last.text)[-1].rstrip("\n")) + 1 if last.rows else 1)
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
