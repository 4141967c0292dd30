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
    package: str
    helpers: frozenset[str]  # its top-level functions that take a model (project.model_helpers)

    @classmethod
    def new(cls, path: str, config: Config, helpers: frozenset[str]) -> "_Indexed":
        return cls([], (), *module_name_for(Path(path), config.root), helpers)


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
            self._by_path[path] = _Indexed.new(path, config, _helpers(text))
        definers = self._definers()
        for path, text in files:
            self._read(engine, config, path, text, definers)
        return len(files)

    def update(self, engine: Engine, config: Config, path: str, text: str | None) -> bool:
        """Re-read one file's classes and calls (None: the file is gone); True when what the
        index says changed. A file that now defines a helper the workspace did not have is
        looked for in the other files' calls (read from disk)."""
        known = {name for _, _, names in self._definers() for name in names}
        helpers = _helpers(text) if text is not None else frozenset()
        entry = self._by_path.get(path) or self._by_path.setdefault(path, _Indexed.new(path, config, helpers))
        entry.helpers = helpers
        definers = self._definers()
        changed = self._read(engine, config, path, text, definers)
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
                    changed |= self._read(engine, config, other, other_text, definers)
        return changed

    def _definers(self) -> list[tuple[str, str, frozenset[str]]]:
        """(path, module, helpers) of the files that define helpers: what a file's calls are read for."""
        return [(path, entry.module, entry.helpers) for path, entry in self._by_path.items()
                if entry.helpers and entry.module]

    def _read(self, engine: Engine, config: Config, path: str, text: str | None,
              definers: list[tuple[str, str, frozenset[str]]]) -> bool:
        entry = self._by_path[path]
        summaries: list[ClassSummary] = []
        calls: tuple[CallSite, ...] = ()
        if text is not None and len(text) <= CHECK_MAX_CHARS:
            asked = [(module, names) for other, module, names in definers if other != path]
            defines = _may_define_classes(text)
            calling = bool(asked) and may_call(text.encode("utf-8", "replace"), Path(path), asked, config)
            if defines or calling:
                summaries, found = engine.index_source(text, path, module_name=entry.module, package=entry.package)
                wanted = {name for _, names in asked for name in names}
                calls = tuple(site for site in found if site.function in wanted) if calling else ()
        if _signature(entry.summaries) == _signature(summaries) and entry.calls == calls:
            return False
        self.index.remove_path(path)
        for summary in summaries:
            self.index.add(summary)
        for site in calls:
            self.index.add_call(site)
        entry.summaries, entry.calls = summaries, calls
        return True


def _helpers(text: str) -> frozenset[str]:
    return model_helpers(text.encode("utf-8", "replace")) if len(text) <= CHECK_MAX_CHARS else frozenset()
