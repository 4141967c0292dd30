"""The language server: one LanguageServer, one function per LSP feature, the engine underneath.

Linting runs in one worker thread, so the event loop keeps answering hover and code
action requests while a file is checked. A keystroke cancels the run that was waiting
for the previous one; a run that finishes after the text moved on is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from trainlint import __version__
from trainlint.config import Config, ConfigError, load_config
from trainlint.docs import rule_markdown
from trainlint.engine import SYNTAX_ERROR, Engine, FileResult, parse
from trainlint.reparse import Reparser
from trainlint.finding import Finding, Severity
from trainlint.project import module_name_for
from trainlint.registry import rule_for
from trainlint.server.actions import (
    FIX_ALL_KIND,
    FIX_ALL_TITLE,
    crosses_cells,
    disable_for_line,
    documents_edit,
    fix_action,
    fix_all,
    fix_all_action,
    fix_data,
    quick_fix,
    replacement,
    wants,
)
from trainlint.server.limits import CHECK_MAX_CHARS, LIVE_LINT_MAX_CHARS
from trainlint.server.notebooks import NOTEBOOK_SYNC, NotebookCheck, fixed_cells, notebook_of, open_notebook
from trainlint.server.positions import Lines
from trainlint.server.settings import ClientSettings
from trainlint.server.workspace_index import WorkspaceIndex

log = logging.getLogger("trainlint.server")

SOURCE = "trainlint"
CONFIG_NAMES = ("pyproject.toml", "trainlint.toml", ".trainlint.toml")

SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


@dataclass
class Published:
    """What the client was last told about a document, for hover and code actions."""

    version: int | None
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    #: Findings of the last text that parsed, with their line's text: kept while a
    #: syntax error is being typed, as long as their line is unchanged.
    good: list[tuple[Finding, str]] = field(default_factory=list)
    #: The findings the diagnostics were made from.
    findings: list[Finding] = field(default_factory=list)


class TrainlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("trainlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=NOTEBOOK_SYNC)
        self.settings = ClientSettings()
        #: `trainlint server --config FILE`: this file instead of the one found in the workspace.
        self.config_path: Path | None = None
        self.config = Config()
        self.engine = Engine(self.config)
        self.index = WorkspaceIndex()
        self.published: dict[str, Published] = {}
        self._pending: dict[str, asyncio.Task] = {}
        #: per open document: the statements parsed for its earlier versions
        self._reparsers: dict[str, Reparser] = {}
        #: per open notebook: its last check, for the quick fixes that edit several cells
        self.notebook_checks: dict[str, NotebookCheck] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainlint-lint")

    # -- errors go to the log, never to a crash or a pop-up --------------------
    def report_server_error(self, error: Exception, source) -> None:
        self.log_error(f"{type(error).__name__}: {error}")

    def log_error(self, message: str) -> None:
        log.error("%s", message)
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=message))
        except Exception:  # the client is gone; stderr has it
            pass

    def log_info(self, message: str) -> None:
        log.info("%s", message)
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=message))
        except Exception:
            pass

    # -- workspace --------------------------------------------------------------
    @property
    def root(self) -> Path:
        folders = list(self.workspace.folders.values())
        if folders and folders[0].uri.startswith("file:"):
            return Path(_fs_path(folders[0].uri))
        if self.workspace.root_path:
            return Path(self.workspace.root_path)
        return Path.cwd()

    def reload_config(self) -> None:
        """Re-read [tool.trainlint] and apply the editor's settings; a bad config is logged, defaults used."""
        root = self.root
        try:
            config = load_config(self.config_path, start=root if root.is_dir() else Path.cwd())
        except ConfigError as exc:
            self.log_error(f"trainlint: {exc}; using the default rules")
            self._show(types.MessageType.Warning, f"trainlint: {exc}")
            config = Config(root=root)
        try:
            config = self.settings.apply(config)
        except ConfigError as exc:
            self.log_error(f"trainlint settings: {exc}; ignoring the editor's settings")
            self._show(types.MessageType.Warning, f"trainlint settings: {exc}")
        self.config = config
        self.engine = Engine(config)
        self.log_info(
            f"trainlint {__version__}: {len(self.engine.rules)} rules, config "
            f"{config.source or 'defaults'}, root {config.root}"
        )

    def _show(self, kind: types.MessageType, message: str) -> None:
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            pass

    def document(self, uri: str) -> TextDocument | None:
        """The open document, or None: requests for unknown documents get empty answers."""
        return self.workspace.text_documents.get(unquote(uri))

    # -- linting ------------------------------------------------------------------
    def schedule(self, uri: str, *, delay: float | None = None) -> None:
        uri = notebook_of(self.workspace, uri) or uri  # a cell is checked with its notebook
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        wait = self.settings.debounce_ms / 1000 if delay is None else delay
        self._pending[uri] = asyncio.ensure_future(self._lint(uri, wait))

    def schedule_all(self) -> None:
        for uri in list(self.published) or [d.uri for d in self.workspace.text_documents.values()]:
            self.schedule(uri, delay=0)

    async def _lint(self, uri: str, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            if self.workspace.get_notebook_document(notebook_uri=uri) is not None:
                await self._lint_notebook(uri)
                return
            document = self.document(uri)
            if document is None:
                return
            version, source = document.version, document.source
            if not self.settings.enable:
                self.publish(uri, version, [], source)
                return
            engine, path = self.engine, document_path(document)
            reparser = self._reparsers.setdefault(uri, Reparser(parse))
            result = await asyncio.get_running_loop().run_in_executor(
                self._worker, self._check, engine, path, source, reparser)
            current = self.document(uri)
            if result is None or current is None or current.version != version:
                return  # the text moved on; the run for the newer text is queued
            self.publish(uri, version, result.findings, source, result.unread)
        except asyncio.CancelledError:
            pass
        except Exception:
            self.log_error(f"trainlint: checking {uri} failed:\n{traceback.format_exc()}")
        finally:
            if self._pending.get(uri) is asyncio.current_task():
                del self._pending[uri]

    async def _lint_notebook(self, uri: str) -> None:
        """Check every cell of the notebook as one (a change in the model's cell changes what
        the training cell's rules see); publish on each cell's document."""
        snapshot = open_notebook(self.workspace, uri)
        if snapshot is None:
            return
        if not self.settings.enable:
            findings: list[Finding] = []
            self.notebook_checks.pop(uri, None)
        else:
            reparser = self._reparsers.setdefault(uri, Reparser(parse))  # parses the joined cells' module
            result = await self.in_worker(self._check, self.engine, _fs_path(uri), snapshot.raw, reparser)
            current = self.workspace.get_notebook_document(notebook_uri=uri)
            if result is None or current is None or current.version != snapshot.version:
                return  # the notebook moved on; the run for its newer version is queued
            findings = result.findings
            self.notebook_checks[uri] = NotebookCheck(snapshot, result)
        by_cell = snapshot.findings_by_cell(findings)
        for cell_uri, document in snapshot.cell_documents():
            told = self.published.get(cell_uri)
            if told is not None and told.version == document.version and told.findings == by_cell[cell_uri]:
                continue  # a keystroke in one cell leaves the other cells' diagnostics as they were
            self.publish(cell_uri, document.version, by_cell[cell_uri], document.source)

    def _check(self, engine: Engine, path: str, source: str, reparser: Reparser | None = None) -> FileResult | None:
        """Runs in the worker thread (the only one that uses a document's reparser)."""
        if len(source) > CHECK_MAX_CHARS:
            size = f"{len(source) / 1e6:.1f} MB"
            return FileResult(path, engine.file_problem(
                path, f"the file is too large to check in the editor ({size}, limit {CHECK_MAX_CHARS / 1e6:.1f} MB)"
            ), source=source)
        try:
            module_name, package = module_name_for(Path(path), engine.config.root)
            return engine.check_source(source, path, index=self.index.index, module_name=module_name, package=package,
                                       reparser=reparser)
        except Exception:
            self.log_error(f"trainlint: the engine failed on {path}:\n{traceback.format_exc()}")
            return None

    def publish(self, uri: str, version: int | None, findings: list[Finding], source: str,
                unread: frozenset[int] | None = None) -> None:
        """`unread`: the rows the engine could not analyse (FileResult.unread; None: all)."""
        lines = Lines(source, self.workspace.position_codec)
        previous = self.published.get(uri)
        syntax_error = any(f.code == SYNTAX_ERROR for f in findings)
        if syntax_error and previous is not None:
            # While a line is half typed, keep what was found in the lines that did not change
            # and that the engine did not read this time (the rest it analysed afresh).
            findings = findings + [f for f, text in previous.good if (unread is None or f.location.row in unread)
                                   and lines.line(f.location.row - 1) == text and f.code != SYNTAX_ERROR]
            good = previous.good
        else:
            good = [(f, lines.line(f.location.row - 1)) for f in findings]
        diagnostics = [to_diagnostic(f, lines) for f in findings]
        self.published[uri] = Published(version, diagnostics, good, findings)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics)
        )

    def clear(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.published.pop(uri, None)
        self._reparsers.pop(uri, None)
        self.notebook_checks.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    async def in_worker(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def update_index(self, path: str, text: str | None) -> bool:
        engine, config = self.engine, self.config
        try:
            return await self.in_worker(self.index.update, engine, config, path, text)
        except Exception:
            self.log_error(f"trainlint: indexing {path} failed:\n{traceback.format_exc()}")
            return False


def to_diagnostic(finding: Finding, lines: Lines) -> types.Diagnostic:
    data: dict = {"name": finding.name}
    fix = fix_data(finding, lines)
    if fix is not None:
        data["fix"] = fix
    return types.Diagnostic(
        range=lines.range_to_lsp(finding.location, finding.end_location),
        message=finding.message,
        severity=SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.code,
        code_description=types.CodeDescription(href=finding.url),
        source=SOURCE,
        data=data,
    )


def document_path(document: TextDocument) -> str:
    path = document.path or document.uri
    try:
        return str(Path(path).resolve()) if document.uri.startswith("file:") else path
    except OSError:
        return path


def _fs_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or unquote(uri.removeprefix("file://"))


server = TrainlintServer()


# -- lifecycle ---------------------------------------------------------------------
@server.feature(types.INITIALIZE)
def initialize(ls: TrainlintServer, params: types.InitializeParams) -> None:
    ls.settings = ClientSettings.from_json(params.initialization_options)


@server.feature(types.INITIALIZED)
async def initialized(ls: TrainlintServer, params: types.InitializedParams) -> None:
    await _pull_settings(ls)
    ls.reload_config()
    await _watch_config_files(ls)
    ls.schedule_all()
    root = ls.root
    if root.is_dir() and root != Path("/"):
        await _index_workspace(ls, root)


async def _index_workspace(ls: TrainlintServer, root: Path) -> None:
    """Index the workspace in a thread of its own, so open files are checked meanwhile
    (with what is known so far); then swap the index in and check them again."""
    engine, config = ls.engine, ls.config
    fresh = WorkspaceIndex()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainlint-index") as indexer:
            count = await asyncio.get_running_loop().run_in_executor(indexer, fresh.scan, engine, config, root)
        for document in list(ls.workspace.text_documents.values()):
            # the editor's text, not the disk's, for the files being edited
            await ls.in_worker(fresh.update, engine, config, document_path(document), document.source)
    except Exception:
        ls.log_error(f"trainlint: indexing {root} failed:\n{traceback.format_exc()}")
        return
    ls.index = fresh
    ls.log_info(f"trainlint: indexed {len(fresh.index)} module classes in {count} files under {root}")
    ls.schedule_all()


async def _pull_settings(ls: TrainlintServer) -> None:
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.configuration:
        return
    try:
        items = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="trainlint")])
        )
    except Exception as exc:
        ls.log_error(f"trainlint: workspace/configuration failed: {exc}")
        return
    if items and isinstance(items[0], dict):
        ls.settings = ClientSettings.from_json(items[0])


async def _watch_config_files(ls: TrainlintServer) -> None:
    """Ask the client to tell us when config files or Python files change on disk."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if watched is None or not watched.dynamic_registration:
        return
    patterns = [f"**/{name}" for name in CONFIG_NAMES] + ["**/*.py"]
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=p) for p in patterns]
    )
    try:
        await ls.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id="trainlint-watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
                    )
                ]
            )
        )
    except Exception as exc:
        ls.log_error(f"trainlint: could not register file watchers: {exc}")


@server.feature(types.SHUTDOWN)
def shutdown(ls: TrainlintServer, params: None) -> None:
    for task in ls._pending.values():
        task.cancel()
    ls._worker.shutdown(wait=False, cancel_futures=True)


# -- documents -----------------------------------------------------------------------
@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: TrainlintServer, params: types.DidOpenTextDocumentParams) -> None:
    await _check_and_index(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: TrainlintServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.document(params.text_document.uri)
    if document is not None and len(document.source) <= LIVE_LINT_MAX_CHARS:
        ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: TrainlintServer, params: types.DidSaveTextDocumentParams) -> None:
    await _check_and_index(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: TrainlintServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.clear(params.text_document.uri)


# -- notebooks: pygls keeps the cells' documents; every change re-checks the whole notebook --
@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: TrainlintServer, params: types.DidOpenNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri, delay=0)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: TrainlintServer, params: types.DidChangeNotebookDocumentParams) -> None:
    structure = params.change.cells.structure if params.change.cells else None
    for closed in (structure.did_close or []) if structure else []:
        ls.clear(closed.uri)  # a deleted cell's diagnostics go with it
    ls.schedule(params.notebook_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: TrainlintServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri, delay=0)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: TrainlintServer, params: types.DidCloseNotebookDocumentParams) -> None:
    ls.clear(params.notebook_document.uri)
    for cell in params.cell_text_documents:
        ls.clear(cell.uri)


async def _check_and_index(ls: TrainlintServer, uri: str) -> None:
    """Check now; the file's classes enter the index (typing changes them only on save)."""
    ls.schedule(uri, delay=0)
    document = ls.document(uri)
    if document is not None and await ls.update_index(document_path(document), document.source):
        _relint_others(ls, uri)


def _relint_others(ls: TrainlintServer, uri: str) -> None:
    """Another file's classes changed: what this file's rules know about them did too."""
    for other in list(ls.published):
        if other != uri:
            ls.schedule(other, delay=0)


# -- configuration ---------------------------------------------------------------------
@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: TrainlintServer, params: types.DidChangeConfigurationParams) -> None:
    raw = params.settings
    if isinstance(raw, dict) and ("trainlint" in raw or "settings" in raw):
        ls.settings = ClientSettings.from_json(raw)
    else:
        await _pull_settings(ls)
    ls.reload_config()
    ls.schedule_all()


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def did_change_watched_files(ls: TrainlintServer, params: types.DidChangeWatchedFilesParams) -> None:
    config_changed = index_changed = False
    for change in params.changes:
        path = _fs_path(change.uri)
        name = Path(path).name
        if name in CONFIG_NAMES:
            config_changed = True
        elif name.endswith(".py") and ls.document(change.uri) is None:
            # An open document is indexed from the editor's text, not the disk's.
            text = None
            if change.type != types.FileChangeType.Deleted:
                try:
                    text = Path(path).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = None
            index_changed |= await ls.update_index(str(Path(path).resolve()), text)
    if config_changed:
        ls.reload_config()
    if config_changed or index_changed:
        ls.schedule_all()


# -- hover and code actions ---------------------------------------------------------------
@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: TrainlintServer, params: types.HoverParams) -> types.Hover | None:
    published = ls.published.get(params.text_document.uri)
    if published is None or ls.document(params.text_document.uri) is None:
        return None
    position = (params.position.line, params.position.character)
    under = [
        d for d in published.diagnostics
        if (d.range.start.line, d.range.start.character) <= position <= (d.range.end.line, d.range.end.character)
    ]
    docs: list[str] = []
    for diagnostic in under:
        rule = rule_for(str(diagnostic.code))
        if rule is not None:
            text = rule_markdown(rule)
            if text not in docs:
                docs.append(text)
    if not docs:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n---\n\n".join(docs)),
        range=under[0].range,
    )


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=True),
)
async def code_action(ls: TrainlintServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    document = ls.document(uri)
    if document is None:
        return None
    source = document.source
    lines = Lines(source, ls.workspace.position_codec)
    only = [str(kind.value if hasattr(kind, "value") else kind) for kind in params.context.only or []] or None
    actions: list[types.CodeAction] = []
    if wants(types.CodeActionKind.QuickFix.value, only):
        for diagnostic in params.context.diagnostics:
            if diagnostic.source != SOURCE:
                continue
            fix = quick_fix(uri, diagnostic)
            if fix is None and crosses_cells(diagnostic):
                fix = await _cross_cell_fix(ls, uri, diagnostic)
            for action in (fix, disable_for_line(uri, diagnostic, lines)):
                if action is not None:
                    actions.append(action)
    published = ls.published.get(uri)
    fixable = published is not None and any(isinstance(d.data, dict) and d.data.get("fix") for d in published.diagnostics)
    if fixable and wants(FIX_ALL_KIND, only):
        # The light bulb asks on every cursor move; fixing the whole file each time would
        # delay the next keystroke's check, so the edit is computed when the action is chosen.
        if _resolves_edits(ls):
            actions.append(fix_all_action(uri, None, None))
        elif only:
            action = await _fixed_file(ls, uri)
            if action is not None:
                actions.append(action)
    return actions


def _resolves_edits(ls: TrainlintServer) -> bool:
    text = ls.client_capabilities.text_document
    support = text.code_action.resolve_support if text and text.code_action else None
    return support is not None and "edit" in support.properties


async def _fixed_file(ls: TrainlintServer, uri: str) -> types.CodeAction | None:
    notebook = notebook_of(ls.workspace, uri)
    if notebook is not None:
        return await _fixed_notebook(ls, notebook)
    document = ls.document(uri)
    if document is None:
        return None
    source, engine, path = document.source, ls.engine, document_path(document)
    fixed = await ls.in_worker(fix_all, lambda text: ls._check(engine, path, text) or FileResult(path), source)
    if fixed == source:
        return None
    return fix_all_action(uri, fixed, Lines(source, ls.workspace.position_codec))


async def _fixed_notebook(ls: TrainlintServer, uri: str) -> types.CodeAction | None:
    """"Fix all" in a cell fixes the notebook: the safe fixes of every cell, as `--fix` would."""
    from trainlint.fix import fix_text

    snapshot = open_notebook(ls.workspace, uri)
    if snapshot is None:
        return None
    engine, path = ls.engine, _fs_path(uri)
    module_name, package = module_name_for(Path(path), engine.config.root)
    outcome = await ls.in_worker(lambda: fix_text(engine, snapshot.raw, path, index=ls.index.index,
                                                  module_name=module_name, package=package))
    changed = fixed_cells(snapshot, outcome.fixed) if outcome.changed else {}
    if not changed:
        return None
    edits = {}
    for cell_uri, text in changed.items():
        lines = Lines(snapshot.texts[cell_uri][1], ls.workspace.position_codec)
        whole = types.Range(start=types.Position(line=0, character=0), end=lines.end())
        edits[cell_uri] = [types.TextEdit(range=whole, new_text=text)]
    return types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL_KIND, edit=types.WorkspaceEdit(changes=edits))


async def _cross_cell_fix(ls: TrainlintServer, uri: str, diagnostic: types.Diagnostic) -> types.CodeAction | None:
    """The quick fix of a notebook finding whose fix edits other cells too (an import in the
    first code cell): one WorkspaceEdit over every cell it touches, made by the fixer from the
    notebook's last check with `--fix`'s guarantees (the fixed cells parse, the names it writes
    mean what the fix meant, the finding is gone), so it edits what `trainlint check --fix`
    writes for that fix. None when the notebook moved on since (its new diagnostics are on
    their way) or the fixer refuses the fix. A fix never needs a cell that is not there: an
    import goes before an existing one (trainlint.importer), and a notebook with none gets
    no such fix."""
    notebook = notebook_of(ls.workspace, uri)
    checked = ls.notebook_checks.get(notebook) if notebook is not None else None
    published = ls.published.get(uri)
    if checked is None or published is None or not checked.snapshot.is_current(ls.workspace):
        return None
    finding = next((f for d, f in zip(published.diagnostics, published.findings)
                    if d.code == diagnostic.code and d.range == diagnostic.range and f.fix is not None), None)
    index = checked.finding_index(finding) if finding is not None else None
    if index is None:
        return None
    if index not in checked.fixes:  # the light bulb asks on every cursor move: fix once per check
        checked.fixes[index] = await _fixed_cells_edit(ls, checked, checked.result.findings[index])
    edit = checked.fixes[index]
    if edit is None or not checked.snapshot.is_current(ls.workspace):
        return None
    return fix_action(diagnostic, edit)


async def _fixed_cells_edit(ls: TrainlintServer, checked: NotebookCheck, finding: Finding) -> types.WorkspaceEdit | None:
    from trainlint.fix import fix_text

    snapshot, engine, path = checked.snapshot, ls.engine, _fs_path(checked.snapshot.uri)
    module_name, package = module_name_for(Path(path), engine.config.root)
    try:
        outcome = await ls.in_worker(lambda: fix_text(engine, snapshot.raw, path, index=ls.index.index,
                                                      module_name=module_name, package=package,
                                                      first=checked.result, only=finding))
    except Exception:
        ls.log_error(f"trainlint: fixing {finding.code} in {snapshot.uri} failed:\n{traceback.format_exc()}")
        return None
    if outcome.problem is not None:
        ls.log_info(f"trainlint: no quick fix for {finding.code} in cell {finding.cell}: {outcome.problem}")
        return None
    changed = fixed_cells(snapshot, outcome.fixed) if outcome.changed else None
    if not changed:
        return None
    codec = ls.workspace.position_codec
    edits = {}
    for cell_uri, text in changed.items():
        version, before = snapshot.texts[cell_uri]
        edits[cell_uri] = (version, [replacement(before, text, Lines(before, codec))])
    return documents_edit(edits, _versioned_edits(ls))


def _versioned_edits(ls: TrainlintServer) -> bool:
    workspace = ls.client_capabilities.workspace
    support = workspace.workspace_edit if workspace else None
    return bool(support and support.document_changes)


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve_code_action(ls: TrainlintServer, action: types.CodeAction) -> types.CodeAction:
    uri = action.data.get("uri") if isinstance(action.data, dict) else None
    if action.kind == FIX_ALL_KIND and isinstance(uri, str) and action.edit is None:
        resolved = await _fixed_file(ls, uri)
        action.edit = resolved.edit if resolved is not None else types.WorkspaceEdit(changes={uri: []})
    return action


def serve(config_path: Path | None = None) -> None:
    """Speak LSP on stdin/stdout until the client says exit."""
    server.config_path = config_path.resolve() if config_path else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    server.start_io()
