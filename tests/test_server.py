"""The language server end to end over stdio, driven by pytest-lsp as an editor would drive it.

The server runs with two test-only rules (tests/lsp/server_with_test_rules.py): TL990
raises on files that mention `explode_here`, TL991 reports `momentun` with a safe fix.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import typing
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from trainlint.server.positions import Lines

pytestmark = pytest.mark.asyncio

SERVER = Path(__file__).parent / "lsp" / "server_with_test_rules.py"

BUGGY = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)

        def forward(self, x):
            out = self.conv(x)
            adjust = nn.Conv2d(out.shape[1], 16, kernel_size=1)
            return adjust(out)
    """
)
TL202_LINE = 11  # 0-based line of `adjust = nn.Conv2d(...)`

CLEAN = textwrap.dedent(
    """\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)

        def forward(self, x):
            return self.conv(x)
    """
)


def make_client() -> LanguageClient:
    client = LanguageClient()
    # lsprotocol cannot read the `notebook` filter of a server's notebookDocumentSync (no
    # structure hook for its Union); VS Code's client reads it as JSON. Keep it as sent.
    notebook_filter = typing.get_type_hints(types.NotebookDocumentFilterWithCells)["notebook"]
    client.protocol._converter.register_structure_hook(notebook_filter, lambda value, _: value)
    client.published = []  # every publishDiagnostics, in order, with its version

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams):
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    def register_capability(client: LanguageClient, params: types.RegistrationParams):
        client.registrations = [*getattr(client, "registrations", []), *params.registrations]

    register_lsp_features(
        client,
        {
            **DEFAULT_CLIENT_FEATURES,
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
            types.CLIENT_REGISTER_CAPABILITY: register_capability,
        },
    )
    return client


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.trainlint]\n')
    return tmp_path


def _vscode_capabilities() -> types.ClientCapabilities:
    """VS Code's capabilities as pytest-lsp records them, with the notebook document sync
    that VS Code has declared since 1.77 (the record predates it)."""
    capabilities = client_capabilities("visual-studio-code")
    if capabilities.notebook_document is None:
        capabilities.notebook_document = types.NotebookDocumentClientCapabilities(
            synchronization=types.NotebookDocumentSyncClientCapabilities(execution_summary_support=True)
        )
    return capabilities


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, str(SERVER)], client_factory=make_client),
)
async def client(lsp_client: LanguageClient, workspace: Path):
    lsp_client.set_configuration({"debounceMs": 0}, section="trainlint")
    lsp_client.initialize_result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=_vscode_capabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="demo")],
        )
    )
    yield
    await lsp_client.shutdown_session()


# -- helpers ---------------------------------------------------------------------------
async def published(client: LanguageClient, uri: str, version: int | None, timeout: float = 15) -> list[types.Diagnostic]:
    """The diagnostics published for `uri` at `version` (waits for them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for params in reversed(client.published):
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no diagnostics for {uri} version {version}; got {[(p.uri, p.version) for p in client.published]}")


async def until(client: LanguageClient, uri: str, check, timeout: float = 30) -> list[types.Diagnostic]:
    """The document's diagnostics once `check(diagnostics)` holds (the server publishes
    again after config reloads and when the workspace index is ready, in any order)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        diagnostics = list(client.diagnostics.get(uri, []))
        if check(diagnostics):
            return diagnostics
        await asyncio.sleep(0.02)
    raise AssertionError(f"diagnostics for {uri} never matched: {client.diagnostics.get(uri)}")


def open_file(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def change(client: LanguageClient, uri: str, version: int, text: str, range_: types.Range | None = None) -> None:
    event = (
        types.TextDocumentContentChangeWholeDocument(text=text)
        if range_ is None
        else types.TextDocumentContentChangePartial(range=range_, text=text)
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[event]
        )
    )


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits as an editor does (UTF-16 columns), last first."""
    from pygls.workspace.position_codec import PositionCodec

    lines = Lines(text, PositionCodec())

    def offset(position: types.Position) -> int:
        location = lines.from_lsp(position)
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        return starts[location.row - 1] + location.column - 1 if location.row - 1 < len(starts) else len(text)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def codes(diagnostics: list[types.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


# -- the story of a user typing in train.py -------------------------------------------
async def test_open_reports_the_layer_built_in_forward(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    diagnostics = await published(client, uri, 1)
    assert codes(diagnostics) == ["TL202"]
    (tl202,) = diagnostics
    assert tl202.source == "trainlint"
    assert tl202.severity == types.DiagnosticSeverity.Error
    assert tl202.range.start == types.Position(line=TL202_LINE, character=17)
    assert tl202.range.end.line == TL202_LINE
    assert BUGGY.splitlines()[TL202_LINE][17:tl202.range.end.character].startswith("nn.Conv2d(")
    assert tl202.code_description.href.endswith("#tl202-module-created-in-forward")
    assert tl202.data["name"] == "module-created-in-forward"
    assert "fresh random weights" in tl202.message


async def test_change_save_close(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", CLEAN)
    assert await published(client, uri, 1) == []

    change(client, uri, 2, BUGGY)
    assert codes(await published(client, uri, 2)) == ["TL202"]

    # one keystroke, as an incremental edit: the layer moves to __init__'s side of the file
    line = BUGGY.splitlines()[TL202_LINE]
    start = line.index("adjust")
    change(
        client, uri, 3, "# ",
        types.Range(start=types.Position(line=TL202_LINE, character=start), end=types.Position(line=TL202_LINE, character=start)),
    )
    assert await published(client, uri, 3) == []

    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await asyncio.sleep(0.3)
    assert list(client.diagnostics[uri]) == []

    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await published(client, uri, None)
    assert list(client.diagnostics[uri]) == []


async def test_stale_runs_are_dropped_when_typing_fast(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", CLEAN)
    await published(client, uri, 1)
    for version in range(2, 12):
        change(client, uri, version, BUGGY if version % 2 else CLEAN)
    assert codes(await published(client, uri, 11)) == ["TL202"]
    # the final state wins, whatever was published for the intermediate versions
    await asyncio.sleep(0.3)
    assert client.published[-1].version == 11


async def test_syntax_error_while_typing_keeps_the_other_findings(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    await published(client, uri, 1)
    half_typed = BUGGY + "\ndef train(model:\n"
    change(client, uri, 2, half_typed)
    diagnostics = await published(client, uri, 2)
    assert codes(diagnostics) == ["TL000", "TL202"]
    tl000 = next(d for d in diagnostics if d.code == "TL000")
    assert tl000.range.start.line == len(BUGGY.splitlines()) + 1
    assert "never closed" in tl000.message or "syntax" in tl000.message

    change(client, uri, 3, BUGGY + "\ndef train(model):\n    pass\n")
    assert codes(await published(client, uri, 3)) == ["TL202"]


async def test_text_only_cpython_refuses_shows_the_command_lines_tl000(client: LanguageClient, workspace: Path):
    """`def forward(self, self, x)` parses in LibCST's grammar, not in CPython's compiler: the
    editor shows the TL000 that `trainlint check` reports, at the same place."""
    uri = open_file(client, workspace / "train.py", BUGGY)
    await published(client, uri, 1)
    broken = BUGGY.replace("def forward(self, x):", "def forward(self, self, x):")
    change(client, uri, 2, broken)
    diagnostics = await published(client, uri, 2)
    tl000 = [d for d in diagnostics if d.code == "TL000"]
    (workspace / "broken.py").write_text(broken)
    cli = subprocess.run([str(Path(sys.executable).parent / "trainlint"), "check", "--output-format", "json",
                          "--no-cache", "broken.py"], cwd=workspace, capture_output=True, text=True)
    [expected] = [f for f in json.loads(cli.stdout) if f["code"] == "TL000"]
    assert [(d.range.start.line + 1, d.message) for d in tl000] == [(expected["location"]["row"], expected["message"])]
    assert "duplicate argument 'self'" in expected["message"]


async def test_a_half_typed_line_does_not_hide_what_is_typed_elsewhere(client: LanguageClient, workspace: Path):
    """The engine analyses the statements CPython accepts (trainlint.recover): a finding in a
    line typed while another is still broken shows, once, beside the TL000."""
    uri = open_file(client, workspace / "train.py", CLEAN)
    assert await published(client, uri, 1) == []
    half_typed = BUGGY + "\nfor batch in loader\n    print batch\n"
    change(client, uri, 2, half_typed)
    diagnostics = await published(client, uri, 2)
    assert codes(diagnostics) == ["TL000", "TL202"]
    assert next(d for d in diagnostics if d.code == "TL202").range.start.line == TL202_LINE


async def test_a_raising_rule_becomes_one_diagnostic(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY + "\nexplode_here = True\n")
    diagnostics = await published(client, uri, 1)
    assert codes(diagnostics) == ["TL001", "TL202"]
    tl001 = next(d for d in diagnostics if d.code == "TL001")
    assert "TL990" in tl001.message and "RuntimeError" in tl001.message
    # the server is still there
    change(client, uri, 2, CLEAN)
    assert await published(client, uri, 2) == []


async def test_hover_shows_the_rule_docs(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    await published(client, uri, 1)
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=TL202_LINE, character=20)
        )
    )
    assert hover is not None
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value.startswith("# TL202 module-created-in-forward")
    assert "## Why is this bad?" in hover.contents.value

    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0))
    )
    assert nothing is None


async def _actions(client: LanguageClient, uri: str, diagnostics: list[types.Diagnostic], only=None) -> list[types.CodeAction]:
    line = diagnostics[0].range.start.line if diagnostics else 0
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0)),
            context=types.CodeActionContext(diagnostics=diagnostics, only=only),
        )
    )


async def test_disable_for_this_line_applies_cleanly(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    diagnostics = await published(client, uri, 1)
    actions = await _actions(client, uri, diagnostics)
    noqa = next(a for a in actions if a.title == "Disable TL202 for this line")
    assert noqa.kind == types.CodeActionKind.QuickFix
    fixed = apply_text_edits(BUGGY, noqa.edit.changes[uri])
    assert fixed.splitlines()[TL202_LINE].endswith("kernel_size=1)  # noqa: TL202")
    change(client, uri, 2, fixed)
    assert await published(client, uri, 2) == []


async def test_quick_fix_and_fix_all_apply_cleanly(client: LanguageClient, workspace: Path):
    text = BUGGY + "\n\ndef make_optimizer(model, momentun=0.9):\n    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentun)\n"
    uri = open_file(client, workspace / "train.py", text)
    diagnostics = await published(client, uri, 1)
    assert codes(diagnostics) == ["TL202", "TL991", "TL991"]
    typo = [d for d in diagnostics if d.code == "TL991"]
    assert typo[0].data["fix"]["title"] == "Rename to `momentum`"

    actions = await _actions(client, uri, typo[:1])
    fix = next(a for a in actions if a.is_preferred)
    assert fix.title == "Rename to `momentum` (TL991)"
    once = apply_text_edits(text, fix.edit.changes[uri])
    assert once.count("momentun") == 1
    change(client, uri, 2, once)
    assert codes(await published(client, uri, 2)) == ["TL202", "TL991"]

    (fix_all,) = await _actions(client, uri, [], only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.title == "Fix all trainlint problems"
    assert fix_all.kind == "source.fixAll.trainlint"
    assert fix_all.edit is None  # computed when chosen: VS Code resolves it
    fix_all = await client.code_action_resolve_async(fix_all)
    all_fixed = apply_text_edits(once, fix_all.edit.changes[uri])
    assert "momentun" not in all_fixed
    compile(all_fixed, "train.py", "exec")
    change(client, uri, 3, all_fixed)
    assert codes(await published(client, uri, 3)) == ["TL202"]  # no fix for a layer built in forward


async def test_utf16_columns(client: LanguageClient, workspace: Path):
    text = BUGGY.replace("out = self.conv(x)", "out = self.conv(x)  # 🔥 шаг")
    text = text.replace("        adjust =", "        𝔞 = 1; adjust =")
    uri = open_file(client, workspace / "train.py", text)
    (tl202,) = await published(client, uri, 1)
    line = text.splitlines()[TL202_LINE]
    # 𝔞 is one character in Python, two UTF-16 code units in the editor
    assert tl202.range.start.character == line.index("nn.Conv2d") + 1


async def test_cross_file_model_class_is_known(client: LanguageClient, workspace: Path):
    (workspace / "blocks.py").write_text(
        "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(c, c, 3)\n\n    def forward(self, x):\n        return self.conv(x)\n"
    )
    text = (
        "import torch.nn as nn\n\nfrom blocks import Block\n\n\nclass Net(nn.Module):\n"
        "    def forward(self, x):\n        return Block(x.shape[1])(x)\n"
    )
    # the workspace is indexed after `initialized`; the diagnostics come once it is
    uri = open_file(client, workspace / "train.py", text)
    await published(client, uri, 1)
    await until(client, uri, lambda d: codes(d) == ["TL202"])

    # Block loses its weights on disk: the editor's watcher says so, the finding goes
    (workspace / "blocks.py").write_text(
        "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n        return x.relu()\n"
    )
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "blocks.py").as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await until(client, uri, lambda d: d == [])


async def test_the_class_a_caller_passes_decides_the_helpers_findings(client: LanguageClient, workspace: Path):
    """engine.py's `fit(model, ...)` is called from main.py with models.SoftNet: CrossEntropyLoss
    on its softmax output (TL302), as `trainlint check` finds it; main.py passing another
    class, saved on disk, takes the finding away and brings that class's own (TL502)."""
    from test_project_callsites import ENGINE, EVAL_ROW, LOSS_ROW, MAIN, MODELS

    (workspace / "models.py").write_text(MODELS)
    (workspace / "main.py").write_text(MAIN.format(cls="SoftNet"))
    text = ENGINE.lstrip("\n")
    uri = open_file(client, workspace / "engine.py", text)

    def rows(diagnostics) -> set[tuple[int, str]]:
        return {(d.range.start.line + 1, str(d.code)) for d in diagnostics}

    await until(client, uri, lambda d: rows(d) == {(LOSS_ROW, "TL302")})
    (workspace / "main.py").write_text(MAIN.format(cls="Dropped"))
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "main.py").as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await until(client, uri, lambda d: rows(d) == {(EVAL_ROW, "TL502")})


async def test_config_reload_and_client_settings(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    assert codes(await published(client, uri, 1)) == ["TL202"]
    # the server registers its file watchers once it has the client's settings, which
    # may come after the first diagnostics
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not any(r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES for r in getattr(client, "registrations", [])):
        assert loop.time() < deadline, "the server never registered its file watchers"
        await asyncio.sleep(0.02)

    # pyproject.toml changes on disk: the rule is ignored
    (workspace / "pyproject.toml").write_text('[tool.trainlint]\nignore = ["TL202"]\n')
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await until(client, uri, lambda d: d == [])

    # back on; then the editor's settings make it a warning
    (workspace / "pyproject.toml").write_text("[tool.trainlint]\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await until(client, uri, lambda d: codes(d) == ["TL202"])

    client.set_configuration({"debounceMs": 0, "severity": {"TL202": "warning"}}, section="trainlint")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await until(client, uri, lambda d: [x.severity for x in d] == [types.DiagnosticSeverity.Warning])

    # settings pushed with the notification, as VS Code's configurationSection sync does
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"trainlint": {"enable": False, "debounceMs": 0}})
    )
    await until(client, uri, lambda d: d == [])


async def test_a_broken_config_is_logged_not_fatal(client: LanguageClient, workspace: Path):
    (workspace / "pyproject.toml").write_text('[tool.trainlint]\nselect = ["TL9999"]\n')
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    uri = open_file(client, workspace / "train.py", BUGGY)
    assert codes(await published(client, uri, 1)) == ["TL202"]  # the default rules
    assert any("TL9999" in m.message for m in client.log_messages)


async def test_unknown_documents_and_a_large_file(client: LanguageClient, workspace: Path):
    ghost = (workspace / "ghost.py").as_uri()
    assert await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=ghost), position=types.Position(line=0, character=0))
    ) is None
    assert await _actions(client, ghost, []) is None
    change(client, ghost, 2, "x = 1\n")  # a change for a document never opened

    body = "x = [" + ", ".join(str(i) for i in range(100)) + "]\n"
    big = BUGGY + body * (10 * 1024 * 1024 // len(body))
    uri = open_file(client, workspace / "big.py", big)
    (too_large,) = await published(client, uri, 1)
    assert too_large.code == "TL000" and "too large" in too_large.message
    # still answering
    change(client, uri, 2, big + "y = 2\n")  # typing in it
    actions = await _actions(client, uri, [too_large])
    assert [a.title for a in actions] == ["Disable TL000 for this line"]


async def test_shutdown_and_exit(client: LanguageClient, workspace: Path):
    uri = open_file(client, workspace / "train.py", BUGGY)
    await published(client, uri, 1)
    change(client, uri, 2, CLEAN)  # a run may still be pending: shutdown must not wait for it
    assert await client.shutdown_async(None) is None
    client.exit(None)
    assert await asyncio.wait_for(client._server.wait(), 10) == 0
    assert client.error is None
    client.capabilities = None  # the fixture's teardown has nothing left to shut down
