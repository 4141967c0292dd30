"""`trainlint check - --stdin-filename src/train.py`: check a text read from stdin as if it
were that file, as editors and pipelines use it.

The config is the one found for that path, its per-file-ignores apply to it, and the
project's other files give their classes and their calls of its functions to the index
(read from the cache where it knows them), so cross-file facts come as they would for the
file on disk.
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


def project_index(config: Config, engine, skip: Path | None, *, cache: bool, helpers: frozenset[str] = frozenset(),
                  module_name: str = "") -> ProjectIndex:
    """The classes of the project's files (all of config.root but `skip`, the file stdin stands
    for), and the calls those files make of `helpers` (the functions of the stdin file, whose
    module name is `module_name`, that take a model: project.model_helpers), as `check` on
    the whole project records them (facts.callsites): from the cache where a file is
    unchanged, else from one parse of each file that defines a class or may call a helper."""
    from trainlint import cache as cache_mod
    from trainlint.project import Workers, discover, index_entries, may_call, needs_analysis
    from trainlint.run import RunResult

    index = ProjectIndex()
    store = cache_mod.Cache.open(config.root, config.cache_dir) if cache else None
    skipped = os.path.abspath(skip) if skip is not None else None
    asked = [(module_name, helpers)] if helpers and module_name else []
    files: list[tuple[Path, bytes]] = []
    calling: set[int] = set()
    for n, path in enumerate(discover([config.root], config)):
        if n >= MAX_INDEXED_FILES:
            break
        if os.path.abspath(path) == skipped:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not needs_analysis(data):
            continue
        calls = bool(asked) and may_call(data, path, asked, config)
        if b"class " not in data and not calls:
            continue
        if calls:
            calling.add(len(files))
        files.append((path, data))
    workers = Workers(lambda: engine, 1)  # one text from an editor or a pipeline: no processes to start
    for n, (summaries, calls) in enumerate(index_entries(files, config, store, workers, RunResult(), cache_mod, {})):
        for summary in summaries:
            index.add(summary)
        if n in calling:
            for site in calls:
                if site.function in helpers:
                    index.add_call(site)
    if store:
        store.save()
    return index


def check_stdin(data: bytes, filename: str | None, config: Config, *, cache: bool = True) -> StdinCheck:
    """Check `data` as the file `filename` (relative to the current folder) of its project."""
    from trainlint.engine import Engine
    from trainlint.notebook import is_notebook
    from trainlint.project import model_helpers, module_name_for, needs_analysis
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
    helpers = frozenset() if is_notebook(shown) else model_helpers(data)
    index = project_index(config, engine, path, cache=cache, helpers=helpers, module_name=module_name) \
        if path is not None else ProjectIndex()
    result = engine.check_source(text, shown, index=index, module_name=module_name, package=package)
    return StdinCheck(result, text, engine, index, module_name, package)
