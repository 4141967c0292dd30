"""Where a viewer of the file itself can point: a notebook finding's rows are rows of its
cell, but GitHub's annotations and SARIF viewers show the notebook's JSON text, so for them
a position in a cell becomes the position of the same character in the file."""

from __future__ import annotations

from trainlint.finding import Finding, Location


class FilePlaces:
    """Finding -> (start, end) in the file as stored; notebooks read once each."""

    def __init__(self, sources: dict[str, str] | None) -> None:
        self.sources = sources or {}
        self._notebooks: dict = {}

    def region(self, f: Finding) -> tuple[Location, Location]:
        if f.cell is None:
            return f.location, f.end_location
        notebook = self._notebook(f.path)
        start = notebook.file_position(f.cell, f.location.row, f.location.column) if notebook else None
        end = notebook.file_position(f.cell, f.end_location.row, f.end_location.column) if notebook else None
        if start is None:  # no text to map through: the cell's own row and column
            return f.location, f.end_location
        return Location(*start), Location(*end) if end is not None and end >= start else Location(*start)

    def _notebook(self, path: str):
        if path not in self._notebooks:
            from trainlint.notebook import read_notebook
            from trainlint.source import FileProblem

            try:
                self._notebooks[path] = read_notebook(self.sources[path]) if path in self.sources else None
            except FileProblem:
                self._notebooks[path] = None
        return self._notebooks[path]


def cell_prefix(f: Finding) -> str:
    """`cell 6, line 7: ` before a message shown at a position in the notebook's file."""
    return f"cell {f.cell}, line {f.location.row}: " if f.cell is not None else ""
