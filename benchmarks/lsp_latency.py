"""Re-lint latency of `trainlint server` after one keystroke in a 330-line training script.

    python benchmarks/lsp_latency.py [--keystrokes 100]

Opens benchmarks/data/train_330.py in a fresh server over stdio (debounce 0, so the
figure is the server's work, not its wait), then types one character at a time into a
comment and measures, per keystroke, the time from sending didChange to receiving the
publishDiagnostics for that version. The engine's own time on the same texts is
measured in-process for comparison. Prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

SCRIPT = Path(__file__).parent / "data" / "train_330.py"
ANCHOR = "# ----------------------------------------------------------------------------- loops"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def server_latency(source: str, keystrokes: int) -> list[float]:
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
        line = source.splitlines().index(ANCHOR)
        column = len(ANCHOR)
        latencies = []
        for i in range(keystrokes):
            version = i + 2
            position = types.Position(line=line, character=column + i)
            sent = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text="s")
                    ],
                )
            )
            latencies.append((await wait_for(version) - sent) * 1000)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return latencies


def engine_latency(source: str, keystrokes: int) -> tuple[list[float], list[float]]:
    """Wall and CPU time of the engine alone; CPU time does not count other processes' turns."""
    from trainlint.engine import Engine

    engine = Engine()
    wall, cpu = [], []
    for i in range(keystrokes):
        text = source.replace(ANCHOR, ANCHOR + "s" * (i + 1))
        start, start_cpu = time.perf_counter(), time.thread_time()
        engine.check_source(text, str(SCRIPT))
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystrokes", type=int, default=100)
    args = parser.parse_args()
    source = SCRIPT.read_text()
    lines = source.count("\n")
    engine, engine_cpu = engine_latency(source, args.keystrokes)
    server = asyncio.run(server_latency(source, args.keystrokes))
    print(f"re-lint after one keystroke, {lines}-line training script, {args.keystrokes} keystrokes")
    print("| measured | p50 ms | p95 ms | min ms |")
    print("|---|---|---|---|")
    rows = (
        ("engine.check_source, CPU time", engine_cpu),
        ("engine.check_source, wall time", engine),
        ("didChange -> publishDiagnostics, wall time", server),
    )
    for name, values in rows:
        print(f"| {name} | {statistics.median(values):.0f} | {percentile(values, 0.95):.0f} | {min(values):.0f} |")
    load = shutil.which("uptime")
    if load:
        import subprocess

        print(f"machine: {subprocess.run([load], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
