"""`trainlint check - --stdin-filename src/train.py`: check a text read from stdin as if it
were that file, as editors and pipelines use it.

The config is the one found for that path, its per-file-ignores apply to it, and the
project's other files give their classes to the index (read from the cache where it
knows them), so cross-file facts come as they would for the file on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from trainlint.config import Config
from trainlint.finding import FileResult
from trainlint.index import ProjectIndex

#: What the findings of a text read from stdin without --stdin-filename are reported under.
STDIN_NAME = "-"
#: As the language server's index: a folder this large is a monorepo or a home folder.
MAX_INDEXED_FILES = 5000


@dataclass
class StdinCheck:
    """The check of the text, and what is needed to fix it."""

    result: FileResult
    text: str | None  # None: the bytes could not be decoded (the result has the TL000)
    engine: object
    index: ProjectIndex = field(default_factory=ProjectIndex)
    module_name: str = ""
    package: str = ""


def project_index(config: Config, engine, skip: Path | None, *, cache: bool) -> ProjectIndex:
    """The classes of the project's files (all of config.root but `skip`, the file stdin stands
    for): from the cache where a file is unchanged, else from a parse of files that define some."""
    from trainlint import cache as cache_mod
    from trainlint.layout import is_test_path
    from trainlint.project import discover, display_path, module_name_for, needs_analysis

    index = ProjectIndex()
    store = cache_mod.Cache.open(config.root, config.cache_dir) if cache else None
    skipped = os.path.abspath(skip) if skip is not None else None
    for n, path in enumerate(discover([config.root], config)):
        if n >= MAX_INDEXED_FILES:
            break
        key = os.path.abspath(path)
        if key == skipped:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"class " not in data or not needs_analysis(data):
            continue
        shown = display_path(path)
        names = module_name_for(path, config.root)
        test_code = is_test_path(key, names[0])
        h = cache_mod.digest(data)
        entry = store.get(key) if store else None
        if entry is None or not entry.matches(shown, h, *names, test_code) or entry.summaries is None:
            summaries = engine.summarize_source(data, shown, module_name=names[0], package=names[1])
            entry = cache_mod.Entry(shown, h, names[0], names[1], tuple(summaries), test_code=test_code)
            if store:
                store.put(key, entry)
        for summary in entry.summaries:
            index.add(summary)
    if store:
        store.save()
    return index


def check_stdin(data: bytes, filename: str | None, config: Config, *, cache: bool = True) -> StdinCheck:
    """Check `data` as the file `filename` (relative to the current folder) of its project."""
    from trainlint.engine import Engine
    from trainlint.project import module_name_for, needs_analysis
    from trainlint.source import FileProblem, decode_source

    engine = Engine(config)
    shown = filename or STDIN_NAME
    path = Path(filename) if filename else None
    try:
        text: str | None = decode_source(data)
    except FileProblem:
        text = None
    if text is None or not needs_analysis(data):
        return StdinCheck(engine.check_syntax_only(data, shown), text, engine)
    module_name, package = module_name_for(path, config.root) if path is not None else ("", "")
    index = project_index(config, engine, path, cache=cache) if path is not None else ProjectIndex()
    result = engine.check_source(text, shown, index=index, module_name=module_name, package=package)
    return StdinCheck(result, text, engine, index, module_name, package)
