"""Re-lint latency of `trainlint server` after one keystroke in a 330-line training script.

    python benchmarks/lsp_latency.py [--keystrokes 100]

Opens benchmarks/data/train_330.py in a fresh server over stdio (debounce 0, so the
figure is the server's work, not its wait) and measures, per keystroke, the time from
sending didChange to receiving the publishDiagnostics for that version, in two runs:
typing one character at a time into a comment, and typing statements into the training
loop (a new line, then one character at a time: many of those versions do not parse,
`running = loss.` for one). A third run opens the script as a notebook of 30 code cells
(LSP notebook sync) and types into the comment in its cell: the whole notebook is checked
per keystroke, published on every cell. The engine's own time on the comment texts is measured
in-process for comparison, with a whole parse per keystroke (the command line's way) and
with the document's reparser (the server's: trainlint.reparse). Prints p50/p95 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import typing
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

SCRIPT = Path(__file__).parent / "data" / "train_330.py"
ANCHOR = "# ----------------------------------------------------------------------------- loops"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


STATEMENTS = ["running = loss.item() * cfg.accumulate", "seen = seen + images.size(0)", "last_lr = scheduler.get_last_lr()[0]"]
LOOP_LINE = "        accs.update(accuracy(logits.detach(), targets), images.size(0))"


def comment_keystrokes(source: str, keystrokes: int) -> list[tuple[int, int, str]]:
    """(line, character, text inserted): one character at a time at the end of a comment."""
    line = source.splitlines().index(ANCHOR)
    return [(line, len(ANCHOR) + i, "s") for i in range(keystrokes)]


def statement_keystrokes(source: str, keystrokes: int) -> list[tuple[int, int, str]]:
    """Enter (with the editor's indentation), then a statement one character at a time, again."""
    line = source.splitlines().index(LOOP_LINE)
    column = len(LOOP_LINE)
    edits: list[tuple[int, int, str]] = []
    while len(edits) < keystrokes:
        for statement in STATEMENTS:
            edits.append((line, column, "\n        "))
            line, column = line + 1, 8
            for char in statement:
                edits.append((line, column, char))
                column += 1
    return edits[:keystrokes]


async def server_latency(source: str, edits: list[tuple[int, int, str]]) -> list[float]:
    client = LanguageClient("lsp-latency", "1")
    arrived: dict[int, float] = {}
    changed = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            arrived[params.version] = time.perf_counter()
            changed.set()

    async def wait_for(version: int) -> float:
        while version not in arrived:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 60)
        return arrived[version]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        path.write_text(source)
        await client.start_io(sys.executable, "-m", "trainlint", "server")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=Path(folder).as_uri(),
                initialization_options={"settings": {"debounceMs": 0}},
            )
        )
        client.initialized(types.InitializedParams())
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=source)
            )
        )
        await wait_for(1)
        latencies = []
        for i, (line, character, typed) in enumerate(edits):
            version = i + 2
            position = types.Position(line=line, character=character)
            sent = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text=typed)
                    ],
                )
            )
            latencies.append((await wait_for(version) - sent) * 1000)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return latencies


async def notebook_latency(source: str, keystrokes: int) -> list[float]:
    """Typing into a comment of one cell of the script dealt into 30 cells: didChange of the
    notebook -> publishDiagnostics of that cell at its new version."""
    from notebook_speed import to_notebook

    from trainlint.notebook import read_notebook

    cells = [cell.source for cell in read_notebook(to_notebook(source, 30)).cells]
    client = LanguageClient("lsp-latency", "1")
    # lsprotocol cannot read the `notebook` filter of the server's notebookDocumentSync (no
    # structure hook for its Union; VS Code reads it as JSON): keep it as sent
    notebook_filter = typing.get_type_hints(types.NotebookDocumentFilterWithCells)["notebook"]
    client.protocol._converter.register_structure_hook(notebook_filter, lambda value, _: value)
    arrived: dict[tuple[str, int], float] = {}
    changed = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            arrived[params.uri, params.version] = time.perf_counter()
            changed.set()

    async def wait_for(uri: str, version: int) -> float:
        while (uri, version) not in arrived:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 60)
        return arrived[uri, version]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.ipynb"
        uris = [f"vscode-notebook-cell:{path}#cell{n}" for n in range(len(cells))]
        await client.start_io(sys.executable, "-m", "trainlint", "server")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(
                    notebook_document=types.NotebookDocumentClientCapabilities(
                        synchronization=types.NotebookDocumentSyncClientCapabilities())),
                root_uri=Path(folder).as_uri(),
                initialization_options={"settings": {"debounceMs": 0}},
            )
        )
        client.initialized(types.InitializedParams())
        client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=path.as_uri(), notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=uri) for uri in uris]),
            cell_text_documents=[types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                                 for uri, text in zip(uris, cells)],
        ))
        target = next(n for n, text in enumerate(cells) if ANCHOR in text)
        await wait_for(uris[target], 1)
        line = cells[target].splitlines().index(ANCHOR)
        latencies = []
        for i in range(keystrokes):
            version = i + 2
            position = types.Position(line=line, character=len(ANCHOR) + i)
            sent = time.perf_counter()
            client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(uri=path.as_uri(), version=version),
                change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
                    types.NotebookDocumentCellContentChanges(
                        document=types.VersionedTextDocumentIdentifier(uri=uris[target], version=version),
                        changes=[types.TextDocumentContentChangePartial(
                            range=types.Range(start=position, end=position), text="s")],
                    )
                ])),
            ))
            latencies.append((await wait_for(uris[target], version) - sent) * 1000)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return latencies


def engine_latency(source: str, keystrokes: int, reparse: bool) -> tuple[list[float], list[float]]:
    """Wall and CPU time of the engine alone; CPU time does not count other processes' turns."""
    from trainlint.engine import Engine, parse
    from trainlint.reparse import Reparser

    engine = Engine()
    reparser = Reparser(parse) if reparse else None
    engine.check_source(source, str(SCRIPT), reparser=reparser)
    wall, cpu = [], []
    for i in range(keystrokes):
        text = source.replace(ANCHOR, ANCHOR + "s" * (i + 1))
        start, start_cpu = time.perf_counter(), time.thread_time()
        engine.check_source(text, str(SCRIPT), reparser=reparser)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystrokes", type=int, default=100)
    args = parser.parse_args()
    source = SCRIPT.read_text()
    lines = source.count("\n")
    whole, whole_cpu = engine_latency(source, args.keystrokes, reparse=False)
    engine, engine_cpu = engine_latency(source, args.keystrokes, reparse=True)
    comment = asyncio.run(server_latency(source, comment_keystrokes(source, args.keystrokes)))
    code = asyncio.run(server_latency(source, statement_keystrokes(source, args.keystrokes)))
    notebook = asyncio.run(notebook_latency(source, args.keystrokes))
    print(f"re-lint after one keystroke, {lines}-line training script, {args.keystrokes} keystrokes")
    print("| measured | p50 ms | p95 ms | min ms |")
    print("|---|---|---|---|")
    rows = (
        ("engine.check_source, whole parse, CPU time", whole_cpu),
        ("engine.check_source, with the reparser, CPU time", engine_cpu),
        ("engine.check_source, with the reparser, wall time", engine),
        ("didChange -> publishDiagnostics, typing in a comment, wall time", comment),
        ("didChange -> publishDiagnostics, typing statements in the loop, wall time", code),
        ("notebook didChange -> the cell's publishDiagnostics, 30 cells, typing in a comment, wall time", notebook),
    )
    for name, values in rows:
        print(f"| {name} | {statistics.median(values):.0f} | {percentile(values, 0.95):.0f} | {min(values):.0f} |")
    load = shutil.which("uptime")
    if load:
        import subprocess

        print(f"machine: {subprocess.run([load], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
