"""Many files: discovery (gitignore, excludes), the project-wide index, the run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from trainlint.config import Config
from trainlint.engine import Engine, FileResult
from trainlint.finding import Finding
from trainlint.index import ProjectIndex


class PathNotFound(Exception):
    pass


@dataclass
class RunResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.files for f in r.findings), key=Finding.sort_key)

    def sources(self) -> dict[str, str]:
        return {r.path: r.source for r in self.files if r.source is not None}


# discovery ---------------------------------------------------------------------
def _spec(patterns: Iterable[str]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def _gitignore_spec(directory: Path) -> pathspec.PathSpec | None:
    ignore_file = directory / ".gitignore"
    if not ignore_file.is_file():
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(ignore_file.read_text(encoding="utf-8", errors="replace").splitlines())
    except (OSError, ValueError):
        return None


def discover(paths: Iterable[str | Path], config: Config) -> Iterator[Path]:
    """Python files under `paths`, minus excludes and .gitignore'd paths.

    A file named explicitly is always checked (as ruff does), unless excluded by the
    config; directories are walked once each, so symlink loops end.
    """
    excluded = _spec([*config.exclude, *config.extend_exclude])
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PathNotFound(str(raw))
        if path.is_file():
            if not excluded.match_file(config.relative(path)) and path.resolve() not in seen_files:
                seen_files.add(path.resolve())
                yield path
            continue
        yield from _walk(path, config, excluded, seen_dirs, seen_files)


def _walk(top: Path, config: Config, excluded: pathspec.PathSpec, seen_dirs: set, seen_files: set) -> Iterator[Path]:
    # (dir, gitignore specs that apply to it: list of (base, spec))
    stack: list[tuple[Path, list[tuple[Path, pathspec.PathSpec]]]] = [(top, _parent_gitignores(top, config))]
    while stack:
        directory, ignores = stack.pop()
        try:
            st = directory.stat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        if config.respect_gitignore:
            own = _gitignore_spec(directory)
            if own is not None:
                ignores = [*ignores, (directory, own)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            rel = config.relative(path) + ("/" if is_dir else "")
            if excluded.match_file(rel) or excluded.match_file(entry.name + ("/" if is_dir else "")):
                continue
            if any(_ignored(base, spec, path, is_dir) for base, spec in ignores):
                continue
            if is_dir:
                subdirs.append((path, ignores))
            elif entry.name.endswith(".py"):
                resolved = path.resolve()
                if resolved not in seen_files:
                    seen_files.add(resolved)
                    yield path
        stack.extend(reversed(subdirs))


def _ignored(base: Path, spec: pathspec.PathSpec, path: Path, is_dir: bool) -> bool:
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        return False
    return spec.match_file(rel + ("/" if is_dir else ""))


def _parent_gitignores(top: Path, config: Config) -> list[tuple[Path, pathspec.PathSpec]]:
    """.gitignore files above a checked folder, up to the repository root, apply too."""
    if not config.respect_gitignore:
        return []
    found = []
    here = top.resolve()
    for directory in here.parents:
        spec = _gitignore_spec(directory)
        if spec is not None:
            found.append((directory, spec))
        if (directory / ".git").exists():
            break
    return list(reversed(found))


# module names ------------------------------------------------------------------
def module_name_for(path: Path, root: Path) -> tuple[str, str]:
    """(dotted module name, package) of a file, for imports and the index.

    The package is found by walking up through folders that hold __init__.py; the
    module name is the path relative to `root` so `models/net.py` is `models.net`
    even in a namespace package.
    """
    path = path.resolve()
    parts = [path.stem] if path.stem != "__init__" else []
    directory = path.parent
    package_parts: list[str] = []
    while (directory / "__init__.py").is_file():
        package_parts.insert(0, directory.name)
        directory = directory.parent
    package = ".".join(package_parts)
    try:
        rel = path.relative_to(root.resolve()).with_suffix("")
        dotted_parts = [p for p in rel.parts if p != "__init__"]
    except ValueError:
        dotted_parts = package_parts + parts
    return ".".join(dotted_parts), package


# the run ------------------------------------------------------------------------
def display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def check_paths(paths: Iterable[str | Path], config: Config, engine: Engine | None = None) -> RunResult:
    engine = engine or Engine(config)
    files = list(discover(paths, config))
    root = config.root
    contents: dict[Path, bytes | Exception] = {}
    for path in files:
        try:
            contents[path] = read_bytes(path)
        except OSError as exc:
            contents[path] = exc
    index = ProjectIndex()
    names = {path: module_name_for(path, root) for path in files}
    for path in files:
        data = contents[path]
        # Only files that define classes can add to the index; the text test is far cheaper than a parse.
        if isinstance(data, bytes) and b"class " in data and (b"torch" in data or b"Module" in data):
            for summary in engine.summarize_source(data, display_path(path), module_name=names[path][0], package=names[path][1]):
                index.add(summary)
    run = RunResult()
    for path in files:
        data = contents[path]
        shown = display_path(path)
        if isinstance(data, Exception):
            run.files.append(FileResult(shown, engine.file_problem(shown, f"cannot read the file: {data}")))
            continue
        module_name, package = names[path]
        run.files.append(engine.check_source(data, shown, index=index, module_name=module_name, package=package))
    return run
