"""Open notebooks (LSP 3.17 notebook document sync): the cells an editor holds open are
checked as one notebook, as `trainlint check` reads the file, and each cell's findings are
published on that cell's own document, in its rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import TextDocument

from trainlint.finding import FileResult, Finding
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
    #: per Python code cell's uri: its document's version and text when this was taken
    #: (pygls changes a document in place)
    texts: dict[str, tuple[int, str]] = field(default_factory=dict)

    def cell_documents(self) -> list[tuple[str, TextDocument]]:
        return [(uri, document) for uri, document in self.cells if document is not None]

    def is_current(self, workspace) -> bool:
        """Whether the editor's notebook is still this one: its version and each cell's."""
        notebook = workspace.get_notebook_document(notebook_uri=self.uri)
        if notebook is None or notebook.version != self.version:
            return False
        return all(
            (document := workspace.text_documents.get(unquote(uri))) is not None and document.version == version
            for uri, (version, _) in self.texts.items()
        )

    def findings_by_cell(self, findings: list[Finding]) -> dict[str, list[Finding]]:
        """Each code cell's findings (none: an empty list, which clears its diagnostics), a fix
        that also edits another cell included (its diagnostic says so, see actions.fix_data)."""
        out: dict[str, list[Finding]] = {uri: [] for uri, _ in self.cell_documents()}
        for finding in findings:
            if finding.cell is None or not 1 <= finding.cell <= len(self.cells):
                continue
            uri, document = self.cells[finding.cell - 1]
            if document is None:
                continue
            out[uri].append(finding)
        return out


@dataclass
class NotebookCheck:
    """The check of one version of an open notebook, kept for the quick fixes that edit
    several cells; `fixes` caches them: index in result.findings -> the edit (None: refused)."""

    snapshot: OpenNotebook
    result: FileResult
    fixes: dict[int, types.WorkspaceEdit | None] = field(default_factory=dict)

    def finding_index(self, finding: Finding) -> int | None:
        """Where `finding`, one the server published, is in this check's findings: the same
        finding at the same place with the same fix (a cell whose findings did not change
        keeps those of an earlier check); None for one this check does not have."""
        return next((n for n, f in enumerate(self.result.findings) if f == finding), None)


def open_notebook(workspace, uri: str) -> OpenNotebook | None:
    notebook = workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    pieces, cells, texts = [], [], {}
    for cell in notebook.cells:
        document = workspace.text_documents.get(unquote(cell.document))  # pygls keys them unquoted
        code = (
            cell.kind == types.NotebookCellKind.Code
            and document is not None
            and (document.language_id or "python") == "python"
        )
        pieces.append(("code" if code else "markdown", document.source if document is not None else ""))
        cells.append((cell.document, document if code else None))
        if code:
            texts[cell.document] = (document.version, document.source)
    return OpenNotebook(uri, notebook.version, notebook_text(pieces), cells, texts)


def notebook_of(workspace, uri: str) -> str | None:
    """The uri of the open notebook `uri` is a cell of (or is), None for a plain document."""
    notebook = workspace.get_notebook_document(cell_uri=uri) or workspace.get_notebook_document(notebook_uri=uri)
    return notebook.uri if notebook is not None else None


def fixed_cells(snapshot: OpenNotebook, fixed_raw: str) -> dict[str, str] | None:
    """cell uri -> new text, for the cells whose source a fixed notebook text changed (the
    snapshot's texts, not the documents', which may have moved on). None if the fix changed
    a cell the editor does not hold as a Python document, whose edit could not be sent:
    cannot happen (only those cells are in the checked module) but a half-applied fix would
    leave a use without its import."""
    from trainlint.notebook import read_notebook

    fixed = read_notebook(fixed_raw)
    out = {}
    for cell in fixed.cells:
        uri = snapshot.cells[cell.number - 1][0] if 1 <= cell.number <= len(snapshot.cells) else None
        before = snapshot.texts.get(uri)
        if before is None:
            return None
        if cell.source != before[1]:
            out[uri] = cell.source
    return out
