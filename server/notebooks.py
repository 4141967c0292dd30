"""Open notebooks (LSP 3.17 notebook document sync): the cells an editor holds open are
checked as one notebook, as `trainlint check` reads the file, and each cell's findings are
published on that cell's own document, in its rows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import TextDocument

from trainlint.finding import Finding
from trainlint.notebook import notebook_text

#: Python cells of any notebook type (Jupyter, VS Code's interactive window, Colab's export).
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[types.NotebookDocumentFilterWithCells(cells=[types.NotebookCellLanguage(language="python")])],
    save=True,
)


@dataclass
class OpenNotebook:
    """One version of an open notebook: its text as a file would hold it, and its cells."""

    uri: str
    version: int
    raw: str  # the cells as an nbformat 4 notebook's JSON text
    #: per cell in notebook order (cell N of a finding is cells[N - 1]): its document's uri
    #: and, for a Python code cell, its document
    cells: list[tuple[str, TextDocument | None]]

    def cell_documents(self) -> list[tuple[str, TextDocument]]:
        return [(uri, document) for uri, document in self.cells if document is not None]

    def findings_by_cell(self, findings: list[Finding]) -> dict[str, list[Finding]]:
        """Each code cell's findings (none: an empty list, which clears its diagnostics). A fix
        that also edits another cell is left out: a quick fix edits the document it is in."""
        out: dict[str, list[Finding]] = {uri: [] for uri, _ in self.cell_documents()}
        for finding in findings:
            if finding.cell is None or not 1 <= finding.cell <= len(self.cells):
                continue
            uri, document = self.cells[finding.cell - 1]
            if document is None:
                continue
            if finding.fix is not None and any(edit.cell != finding.cell for edit in finding.fix.edits):
                finding = replace(finding, fix=None)
            out[uri].append(finding)
        return out


def open_notebook(workspace, uri: str) -> OpenNotebook | None:
    notebook = workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    pieces, cells = [], []
    for cell in notebook.cells:
        document = workspace.text_documents.get(unquote(cell.document))  # pygls keys them unquoted
        code = (
            cell.kind == types.NotebookCellKind.Code
            and document is not None
            and (document.language_id or "python") == "python"
        )
        pieces.append(("code" if code else "markdown", document.source if document is not None else ""))
        cells.append((cell.document, document if code else None))
    return OpenNotebook(uri, notebook.version, notebook_text(pieces), cells)


def notebook_of(workspace, uri: str) -> str | None:
    """The uri of the open notebook `uri` is a cell of (or is), None for a plain document."""
    notebook = workspace.get_notebook_document(cell_uri=uri) or workspace.get_notebook_document(notebook_uri=uri)
    return notebook.uri if notebook is not None else None


def fixed_cells(snapshot: OpenNotebook, fixed_raw: str) -> dict[str, str]:
    """cell uri -> new text, for the cells whose source a fixed notebook text changed."""
    from trainlint.notebook import read_notebook

    fixed = read_notebook(fixed_raw)
    out = {}
    for number, (uri, document) in enumerate(snapshot.cells, start=1):
        cell = fixed.cell(number)
        if document is not None and cell is not None and cell.source != document.source:
            out[uri] = cell.source
    return out
