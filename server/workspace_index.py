"""The project index for a workspace: every module class of its Python files, kept up to
date as files are opened, saved, changed on disk or deleted, so a model class defined in
another file is known while the user types in train.py."""

from __future__ import annotations

import logging
from pathlib import Path

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.index import ClassSummary, ProjectIndex
from trainlint.project import discover, module_name_for
from trainlint.server.limits import CHECK_MAX_CHARS

log = logging.getLogger(__name__)

#: A workspace this large is a monorepo or a home folder; index its first files only.
MAX_INDEXED_FILES = 5000


def _may_define_classes(text: str) -> bool:
    return "class " in text and len(text) <= CHECK_MAX_CHARS


def _signature(summaries: list[ClassSummary]) -> list[tuple]:
    return sorted((s.name, s.module, s.bases, repr(sorted(s.facts.items()))) for s in summaries)


class WorkspaceIndex:
    def __init__(self) -> None:
        self.index = ProjectIndex()
        self._by_path: dict[str, list[ClassSummary]] = {}

    def scan(self, engine: Engine, config: Config, root: Path) -> int:
        """Index the workspace's files (excludes and .gitignore respected); returns the count."""
        count = 0
        for path in discover([root], config):
            if count >= MAX_INDEXED_FILES:
                log.warning("indexed the first %d files of %s only", MAX_INDEXED_FILES, root)
                break
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            self.update(engine, config, str(path.resolve()), text)
            count += 1
        return count

    def update(self, engine: Engine, config: Config, path: str, text: str | None) -> bool:
        """Re-read one file's classes (None: the file is gone); True when they changed."""
        if text is None or not _may_define_classes(text):
            summaries: list[ClassSummary] = []
        else:
            module_name, package = module_name_for(Path(path), config.root)
            summaries = engine.summarize_source(text, path, module_name=module_name, package=package)
        before = self._by_path.get(path, [])
        if _signature(before) == _signature(summaries):
            return False
        self.index.remove_path(path)
        for summary in summaries:
            self.index.add(summary)
        if summaries:
            self._by_path[path] = summaries
        else:
            self._by_path.pop(path, None)
        return True
