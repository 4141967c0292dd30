"""The properties every input must keep, however broken (tests/test_fuzz.py, benchmarks/fuzz.py):

- the command line's check (its text gate, then the engine) never raises;
- it reports TL000 whenever CPython refuses the bytes (`compile()` of the bytes, which reads
  the coding cookie and the BOM itself: an oracle independent of trainlint's own code);
- the editor's path (the language server's check, with the document's re-parser warm from
  the text before the edit) reports exactly the command line's TL000, and the same findings;
- fixing (safe and unsafe fixes) never raises, and never turns a text CPython accepts into
  one it refuses.
"""

from __future__ import annotations

import traceback
import warnings
from functools import lru_cache

from trainlint.config import Config
from trainlint.engine import Engine, parse
from trainlint.finding import Finding
from trainlint.project import Task, _analyse
from trainlint.reparse import Reparser
from trainlint.source import FileProblem, decode_source

PATH = "train.py"


@lru_cache(maxsize=1)
def engine() -> Engine:
    return Engine(Config(select=("ALL",)))


@lru_cache(maxsize=1)
def server():
    from trainlint.server.app import TrainlintServer

    return TrainlintServer()


def cpython_refuses(data: bytes | str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(data, "<fuzz>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError, LookupError):
            return True
    return False


def _key(f: Finding) -> tuple:
    return (f.code, f.location, f.end_location, f.message)


def cli_findings(data: bytes) -> list[Finding]:
    """What `trainlint check` finds in a file of these bytes (the run's per-file step)."""
    task = Task(data, PATH, module_name="train", package="", test_code=False, summarize=False)
    return _analyse(task, engine(), None).findings


def editor_findings(text: str, before: str | None) -> list[Finding]:
    """What the language server finds once the document changed from `before` to `text`."""
    reparser = Reparser(parse)
    if before is not None:
        server()._check(engine(), PATH, before, reparser)
    result = server()._check(engine(), PATH, text, reparser)
    return result.findings if result is not None else []


def violations(data: bytes, before: bytes | None = None) -> list[str]:
    """Every property `data` breaks (empty: none); `before` is the text the edit started from."""
    out: list[str] = []

    def guard(what: str, call):
        try:
            return call()
        except Exception:
            out.append(f"{what} raised:\n{traceback.format_exc()}")
            return None

    cli = guard("the command line's check", lambda: cli_findings(data))
    if cli is None:
        return out
    syntax = [_key(f) for f in cli if f.code == "TL000"]
    if cpython_refuses(data) and not syntax:
        out.append("CPython refuses the text but the command line reports no TL000")
    try:
        text = decode_source(data)
    except FileProblem:
        return out  # an editor holds text, not bytes; nothing to fix either
    prior = None
    if before is not None:
        try:
            prior = decode_source(before)
        except FileProblem:
            prior = None
    editor = guard("the editor's check", lambda: editor_findings(text, prior))
    if editor is not None:
        if [_key(f) for f in editor if f.code == "TL000"] != syntax:
            out.append(f"the editor's TL000 {[_key(f) for f in editor if f.code == 'TL000']} is not the command line's {syntax}")
        elif not syntax and sorted(map(_key, editor)) != sorted(map(_key, cli)) and _gated(data):
            out.append("the editor's findings differ from the command line's")
    from trainlint.fix import fix_text

    outcome = guard("fixing", lambda: fix_text(engine(), text, PATH, unsafe=True))
    if outcome is not None and outcome.changed and not cpython_refuses(text):
        if cpython_refuses(outcome.fixed):
            out.append(f"a fix turned a text CPython accepts into one it refuses:\n{outcome.fixed}")
    return out


def _gated(data: bytes) -> bool:
    from trainlint.project import needs_analysis

    return needs_analysis(data)
