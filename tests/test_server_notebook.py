"""The language server on an open notebook (LSP 3.17 notebook document sync), driven by
pytest-lsp as VS Code drives it: the cells are checked as one notebook, each cell gets its
own diagnostics, and editing the model's cell changes what the training cell shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from notebooks import MODEL
from pytest_lsp import LanguageClient

from test_server import apply_text_edits, client, codes, make_client, published, until, workspace  # noqa: F401

pytestmark = pytest.mark.asyncio

IMPORTS = "%matplotlib inline\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F"
TRAIN = """\
model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model.forward(x), y)
    loss.backward()
    optimizer.step()"""
TL302_LINE = 5  # 0-based row of `loss = criterion(...)` in the training cell


def open_notebook(client: LanguageClient, path: Path, cells: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """Open a notebook of (kind, text) cells as VS Code does; returns its uri and its cells' uris."""
    uri = path.as_uri()
    cell_uris = [f"vscode-notebook-cell:{path}#W{n}sZmlsZQ%3D%3D" for n in range(len(cells))]
    kinds = {"code": types.NotebookCellKind.Code, "markdown": types.NotebookCellKind.Markup}
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=kinds[kind], document=cell) for (kind, _), cell in zip(cells, cell_uris)],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=cell, language_id="python" if kind == "code" else "markdown", version=1, text=text)
                for (kind, text), cell in zip(cells, cell_uris)
            ],
        )
    )
    return uri, cell_uris


def change_cell(client: LanguageClient, notebook: str, version: int, cell: str, cell_version: int, text: str) -> None:
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook, version=version),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=cell, version=cell_version),
                            changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                        )
                    ]
                )
            ),
        )
    )


CELLS = [("markdown", "# Train"), ("code", IMPORTS), ("code", MODEL), ("markdown", "## Loop"), ("code", TRAIN)]


async def test_the_server_announces_notebook_sync(client: LanguageClient):
    sync = client.initialize_result.capabilities.notebook_document_sync
    (selector,) = sync.notebook_selector
    assert [cell.language for cell in selector.cells] == ["python"]


async def test_each_cell_gets_its_findings_and_a_model_edit_clears_the_training_cell(client: LanguageClient, workspace: Path):
    notebook, cells = open_notebook(client, workspace / "train.ipynb", CELLS)
    train = await published(client, cells[4], 1)
    assert codes(train) == ["TL206", "TL302"]
    (tl302,) = [d for d in train if d.code == "TL302"]
    assert tl302.range.start == types.Position(line=TL302_LINE, character=11)
    assert TRAIN.splitlines()[TL302_LINE][11:tl302.range.end.character] == "criterion(model.forward(x), y)"
    assert await published(client, cells[2], 1) == []  # the model's cell: nothing there
    assert await published(client, cells[1], 1) == []  # a magic is not a syntax error

    # removing the softmax in the model's cell clears the TL302 of the training cell
    change_cell(client, notebook, 2, cells[2], 2, MODEL.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"))
    await until(client, cells[4], lambda diagnostics: codes(diagnostics) == ["TL206"])


async def test_a_cell_that_does_not_parse_is_reported_there_only(client: LanguageClient, workspace: Path):
    notebook, cells = open_notebook(client, workspace / "train.ipynb", [*CELLS, ("code", "print(loss)")])
    await published(client, cells[4], 1)
    change_cell(client, notebook, 2, cells[5], 2, "print(loss)\nx = (")
    broken = await until(client, cells[5], lambda diagnostics: codes(diagnostics) == ["TL000"])
    assert broken[0].range.start.line == 1
    assert "TL302" in codes(client.diagnostics[cells[4]])  # the other cells are still checked


async def test_hover_and_code_actions_in_a_cell(client: LanguageClient, workspace: Path):
    notebook, cells = open_notebook(client, workspace / "train.ipynb", CELLS)
    diagnostics = await published(client, cells[4], 1)
    (tl302,) = [d for d in diagnostics if d.code == "TL302"]
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=cells[4]), position=tl302.range.start)
    )
    assert "softmax" in hover.contents.value.lower()

    (tl206,) = [d for d in diagnostics if d.code == "TL206"]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cells[4]), range=tl206.range,
            context=types.CodeActionContext(diagnostics=[tl206]),
        )
    )
    titles = [a.title for a in actions]
    assert "Disable TL206 for this line" in titles
    fix = next(a for a in actions if "TL206" in a.title and a.title != "Disable TL206 for this line")
    assert apply_text_edits(TRAIN, fix.edit.changes[cells[4]]).splitlines()[TL302_LINE] == "    loss = criterion(model(x), y)"
    noqa = next(a for a in actions if a.title == "Disable TL206 for this line")
    assert apply_text_edits(TRAIN, noqa.edit.changes[cells[4]]).splitlines()[TL302_LINE].endswith("  # noqa: TL206")

    fix_all = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cells[4]), range=tl206.range,
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.SourceFixAll]),
        )
    )
    (action,) = fix_all
    if action.edit is None:
        action = await client.code_action_resolve_async(action)
    assert list(action.edit.changes) == [cells[4]]  # only the cell with a safe fix changes
    fixed = apply_text_edits(TRAIN, action.edit.changes[cells[4]])
    assert "model(x)" in fixed and "model.forward" not in fixed


async def test_closing_the_notebook_clears_its_cells(client: LanguageClient, workspace: Path):
    notebook, cells = open_notebook(client, workspace / "train.ipynb", CELLS)
    await published(client, cells[4], 1)
    client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=notebook),
            cell_text_documents=[types.TextDocumentIdentifier(uri=c) for c in cells],
        )
    )
    await until(client, cells[4], lambda diagnostics: diagnostics == [])


# -- a quick fix whose edits reach another cell (TL505's `import copy` in the first cell) --
BEST = """\
best_acc = 0.0
for epoch in range(3):
    acc = epoch * 0.1
    if acc > best_acc:
        best_acc = acc
        print("🙂 best", acc); best_state = model.state_dict()
model.load_state_dict(best_state)"""
COPY_CELLS = [
    ("markdown", "# Train"),
    ("code", "%matplotlib inline\nimport torch\nimport torch.nn as nn"),
    ("code", "model = nn.Linear(4, 2)"),
    ("markdown", "## Loop"),
    ("code", BEST),
]


async def code_actions(client: LanguageClient, cell: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cell), range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )


def edited_cells(edit: types.WorkspaceEdit, texts: dict[str, str]) -> dict[str, str]:
    """The cells' texts after the client applies a WorkspaceEdit of versioned document edits."""
    out = dict(texts)
    for change in edit.document_changes:
        assert change.text_document.version == 1  # the cell's version the fix was made for
        out[change.text_document.uri] = apply_text_edits(out[change.text_document.uri], change.edits)
    return out


def fixed_by_the_cli(path: Path, cells: list[tuple[str, str]]) -> list[str]:
    """`trainlint check --fix` on the notebook as a file: its code cells' sources after."""
    from notebooks import code_notebook

    from trainlint.notebook import read_notebook

    path.write_text(code_notebook(*(text if kind == "code" else f"md:{text}" for kind, text in cells)))
    subprocess.run([sys.executable, "-m", "trainlint", "check", "--fix", path.name], cwd=path.parent,
                   capture_output=True, check=False)
    return [cell.source for cell in read_notebook(path.read_text()).cells]


async def test_a_fix_that_adds_an_import_to_the_first_cell_is_a_quick_fix_in_the_findings_cell(
        client: LanguageClient, workspace: Path):
    notebook, cells = open_notebook(client, workspace / "train.ipynb", COPY_CELLS)
    (tl505,) = [d for d in await published(client, cells[4], 1) if d.code == "TL505"]
    actions = await code_actions(client, cells[4], tl505)
    assert [a.title for a in actions] == [
        "Copy the state dict with copy.deepcopy (TL505)", "Disable TL505 for this line", "Fix all trainlint problems"]
    fix = actions[0]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred and list(fix.diagnostics) == [tl505]
    assert [c.text_document.uri for c in fix.edit.document_changes] == [cells[1], cells[4]]

    texts = {uri: text for uri, (kind, text) in zip(cells, COPY_CELLS) if kind == "code"}
    fixed = edited_cells(fix.edit, texts)
    assert fixed[cells[1]] == "%matplotlib inline\nimport copy\nimport torch\nimport torch.nn as nn"
    assert 'print("🙂 best", acc); best_state = copy.deepcopy(model.state_dict())' in fixed[cells[4]]
    assert fixed[cells[2]] == texts[cells[2]]
    # exactly what the command line writes for that fix (the notebook's only fixable finding)
    assert list(fixed.values()) == fixed_by_the_cli(workspace / "train.ipynb", COPY_CELLS)

    # applied as the editor applies it (each cell's change reaches the server), the finding is gone
    change_cell(client, notebook, 2, cells[1], 2, fixed[cells[1]])
    change_cell(client, notebook, 3, cells[4], 2, fixed[cells[4]])
    await until(client, cells[4], lambda diagnostics: "TL505" not in codes(diagnostics))
    assert await published(client, cells[1], 2) == []


async def test_a_fix_within_its_own_cell_is_an_edit_of_that_cell_only(client: LanguageClient, workspace: Path):
    # the imports and the loop in one cell: `import copy` lands in the finding's own cell
    cells_of_one = [("code", f"{COPY_CELLS[1][1]}\nmodel = nn.Linear(4, 2)\n{BEST}")]
    notebook, cells = open_notebook(client, workspace / "train.ipynb", cells_of_one)
    (tl505,) = [d for d in await published(client, cells[0], 1) if d.code == "TL505"]
    fix = (await code_actions(client, cells[0], tl505))[0]
    assert fix.edit.document_changes is None and list(fix.edit.changes) == [cells[0]]
    fixed = apply_text_edits(cells_of_one[0][1], fix.edit.changes[cells[0]])
    assert [fixed] == fixed_by_the_cli(workspace / "train.ipynb", cells_of_one)


async def test_a_fix_over_two_cells_that_does_not_parse_is_not_offered(client: LanguageClient, workspace: Path):
    # TL992 (tests/lsp): `shaky` -> `steady`, and `import (` before the first statement
    notebook, cells = open_notebook(client, workspace / "train.ipynb", [("code", "import torch"), ("code", "x = shaky")])
    (tl992,) = await published(client, cells[1], 1)
    assert tl992.code == "TL992"
    actions = await code_actions(client, cells[1], tl992)
    assert [a.title for a in actions if a.kind == types.CodeActionKind.QuickFix] == ["Disable TL992 for this line"]
