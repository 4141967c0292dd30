"""The project index for a workspace: every module class of its Python files, and their
calls of the workspace's functions that take a model, kept up to date as files are opened,
saved, changed on disk or deleted, so a model class defined in another file is known while
the user types in train.py, and so is the class main.py passes to engine.py's
`train(model, ...)` while the user types in engine.py (facts.callsites), as `trainlint
check` knows them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.index import CallSite, ClassSummary, ProjectIndex
from trainlint.project import discover, may_call, model_helpers, module_name_for
from trainlint.server.limits import CHECK_MAX_CHARS

log = logging.getLogger(__name__)

#: A workspace this large is a monorepo or a home folder; index its first files only.
MAX_INDEXED_FILES = 5000


def _may_define_classes(text: str) -> bool:
    return "class " in text and len(text) <= CHECK_MAX_CHARS


def _signature(summaries: list[ClassSummary]) -> list[tuple]:
    return sorted((s.name, s.module, s.bases, repr(sorted(s.facts.items()))) for s in summaries)


@dataclass
class _Indexed:
    """What one file gives the index, and what it asks of the others."""

    summaries: list[ClassSummary]
    calls: tuple[CallSite, ...]  # of the workspace's helpers
    module: str
    helpers: frozenset[str]  # its top-level functions that take a model (project.model_helpers)


class WorkspaceIndex:
    def __init__(self) -> None:
        self.index = ProjectIndex()
        self._by_path: dict[str, _Indexed] = {}
        self._paths: list[str] = []  # what the scan found: where a new helper's callers are looked for

    def scan(self, engine: Engine, config: Config, root: Path) -> int:
        """Index the workspace's files (excludes and .gitignore respected); returns the count.
        Every file's helpers are read first: a file's calls are recorded only when it may call
        one of them."""
        files: list[tuple[str, str]] = []
        for path in discover([root], config):
            if len(files) >= MAX_INDEXED_FILES:
                log.warning("indexed the first %d files of %s only", MAX_INDEXED_FILES, root)
                break
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            files.append((str(path.resolve()), text))
        self._paths = [path for path, _ in files]
        for path, text in files:
            self._by_path[path] = _Indexed([], (), module_name_for(Path(path), config.root)[0],
                                           _helpers(text))
        for path, text in files:
            self._read(engine, config, path, text)
        return len(files)

    def update(self, engine: Engine, config: Config, path: str, text: str | None) -> bool:
        """Re-read one file's classes and calls (None: the file is gone); True when what the
        index says changed. A file that now defines a helper the workspace did not have is
        looked for in the other files' calls (read from disk)."""
        known = self._helper_names()
        entry = self._by_path.get(path)
        helpers = _helpers(text) if text is not None else frozenset()
        if entry is None:
            entry = self._by_path[path] = _Indexed([], (), module_name_for(Path(path), config.root)[0], helpers)
        entry.helpers = helpers
        changed = self._read(engine, config, path, text)
        if text is None:
            del self._by_path[path]
        new = helpers - known
        if new:
            for other in self._paths:
                if other == path or other not in self._by_path:
                    continue
                try:
                    other_text = Path(other).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if any(name in other_text for name in new):
                    changed |= self._read(engine, config, other, other_text)
        return changed

    def _helper_names(self) -> set[str]:
        return {name for entry in self._by_path.values() for name in entry.helpers}

    def _read(self, engine: Engine, config: Config, path: str, text: str | None) -> bool:
        summaries: list[ClassSummary] = []
        calls: tuple[CallSite, ...] = ()
        if text is not None and len(text) <= CHECK_MAX_CHARS:
            asked = [(entry.module, entry.helpers) for other, entry in self._by_path.items()
                     if entry.helpers and entry.module and other != path]
            defines = _may_define_classes(text)
            calling = bool(asked) and may_call(text.encode("utf-8", "replace"), Path(path), asked, config)
            if defines or calling:
                module_name, package = module_name_for(Path(path), config.root)
                summaries, found = engine.index_source(text, path, module_name=module_name, package=package)
                wanted = {name for _, names in asked for name in names}
                calls = tuple(site for site in found if site.function in wanted) if calling else ()
        entry = self._by_path.get(path)
        before = entry if entry is not None else _Indexed([], (), "", frozenset())
        if _signature(before.summaries) == _signature(summaries) and before.calls == calls:
            return False
        self.index.remove_path(path)
        for summary in summaries:
            self.index.add(summary)
        for site in calls:
            self.index.add_call(site)
        if entry is not None:
            entry.summaries, entry.calls = summaries, calls
        return True


def _helpers(text: str) -> frozenset[str]:
    return model_helpers(text.encode("utf-8", "replace")) if len(text) <= CHECK_MAX_CHARS else frozenset()
