"""Many files: discovery (gitignore, excludes), the project-wide index, the run."""

from __future__ import annotations

import gc
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.config import Config
from trainlint.finding import FileResult, Finding
from trainlint.index import LIBRARIES, MODEL_NAME_PATTERN, CallSite, ClassSummary, ProjectIndex, import_folder
from trainlint.layout import forget_folders, is_test_path, project_root
from trainlint.run import FileItem, RunResult

if TYPE_CHECKING:
    from trainlint.cache import Lookups
    from trainlint.engine import Engine
    from trainlint.source import PythonView

class PathNotFound(Exception):
    pass


# discovery ---------------------------------------------------------------------
# A pattern of names only (`build`, `*.egg-info/`, `.venv`): no slash inside, no negation,
# no escapes, no `?`/`[...]`/`**`. A set of those matches a path exactly when one of them
# matches one of its components (a trailing `/`: a folder component), as gitignore says;
# SimpleSpec decides that without importing pathspec (~10 ms of a warm run).
_SIMPLE_PATTERN = re.compile(r"[A-Za-z0-9_.*+@%~=,-]*[A-Za-z0-9_+@%~=,-][A-Za-z0-9_.*+@%~=,-]*/?")


class SimpleSpec:
    """GitIgnoreSpec.from_lines(lines) for lines that are all blank, comments or simple
    patterns (tests/test_project.py compares the two on many patterns and paths)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._full = None
        names, folders = [], []
        for line in lines:
            if line and not line.startswith("#"):
                body = re.escape(line.rstrip("/")).replace(r"\*", "[^/]*")
                (folders if line.endswith("/") else names).append(body)
        self._names = re.compile("|".join(names)) if names else None
        self._folders = re.compile("|".join(folders)) if folders else None

    @classmethod
    def for_lines(cls, lines: list[str]) -> "SimpleSpec | None":
        for line in lines:
            if line and not line.startswith("#") and (not _SIMPLE_PATTERN.fullmatch(line) or "**" in line):
                return None
        return cls(lines)

    def match_file(self, file: str) -> bool:
        if file.startswith(("/", "./")) or "\\" in file or os.sep != "/":
            return self._pathspec().match_file(file)
        parts = file.split("/")
        last = len(parts) - 1
        if file.endswith("/"):
            parts.pop()
            last += 1  # every remaining component is a folder
        for n, part in enumerate(parts):
            if part in ("", ".", ".."):
                return self._pathspec().match_file(file)
            if self._names is not None and self._names.fullmatch(part):
                return True
            if self._folders is not None and n < last and self._folders.fullmatch(part):
                return True
        return False

    def _pathspec(self):
        if self._full is None:
            import pathspec

            self._full = pathspec.GitIgnoreSpec.from_lines(self.lines)
        return self._full


def _gitignore(lines: list[str]):
    """A matcher for gitignore lines: pathspec's GitIgnoreSpec, or the same answers cheaper."""
    simple = SimpleSpec.for_lines(lines)
    if simple is not None:
        return simple
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _spec(patterns: Iterable[str]):
    return _gitignore(list(patterns))


def _gitignore_spec(directory: Path):
    ignore_file = directory / ".gitignore"
    if not ignore_file.is_file():
        return None
    try:
        return _gitignore(ignore_file.read_text(encoding="utf-8", errors="replace").splitlines())
    except (OSError, ValueError):
        return None


# What a folder's walk checks: Python files and Jupyter notebooks (trainlint.notebook).
SOURCE_SUFFIXES = (".py", ".ipynb")


def discover(paths: Iterable[str | Path], config: Config) -> Iterator[Path]:
    """Python files and notebooks under `paths`, minus excludes and .gitignore'd paths.

    A file named explicitly is checked unless the config excludes it (so pre-commit,
    which names files, honours `exclude`); directories are walked once each, so symlink
    loops end. Patterns are relative to the config's folder: a path outside it (a
    site-packages elsewhere, named on purpose) is matched from the named folder down.
    """
    excluded = _spec([*config.exclude, *config.extend_exclude])
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PathNotFound(str(raw))
        if path.is_file():
            st = path.stat()
            rel = config.relative(path)
            outside = rel.startswith("/")
            if (outside or not excluded.match_file(rel)) and (st.st_dev, st.st_ino) not in seen_files:
                seen_files.add((st.st_dev, st.st_ino))
                yield path
            continue
        yield from _walk(path, config, excluded, seen_dirs, seen_files)


def _walk(top: Path, config: Config, excluded, seen_dirs: set, seen_files: set) -> Iterator[Path]:
    # (dir, gitignore specs that apply to it: list of (base, spec))
    # (dir, its path relative to the config root, the gitignore specs that apply to it)
    top_rel = config.relative(top)
    stack: list[tuple[Path, str, list[tuple[Path, object]]]] = [
        (top, "" if top_rel == "." or top_rel.startswith("/") else top_rel + "/", _parent_gitignores(top, config))
    ]
    while stack:
        directory, prefix, ignores = stack.pop()
        try:
            st = directory.stat()
        except OSError:
            continue
        dev = st.st_dev
        if (dev, st.st_ino) in seen_dirs:
            continue
        seen_dirs.add((dev, st.st_ino))
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
            rel = prefix + entry.name + ("/" if is_dir else "")
            if excluded.match_file(rel) or excluded.match_file(entry.name + ("/" if is_dir else "")):
                continue
            if any(_ignored(base, spec, path, is_dir) for base, spec in ignores):
                continue
            if is_dir:
                subdirs.append((path, rel, ignores))
            elif entry.name.endswith(SOURCE_SUFFIXES):
                try:  # the inode from scandir is free; a symlink's target needs a stat
                    st = entry.stat() if entry.is_symlink() else None
                    key = (st.st_dev, st.st_ino) if st else (dev, entry.inode())
                except OSError:
                    continue
                if key not in seen_files:
                    seen_files.add(key)
                    yield path
        stack.extend(reversed(subdirs))


def _ignored(base: Path, spec, path: Path, is_dir: bool) -> bool:
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        return False
    return spec.match_file(rel + ("/" if is_dir else ""))


def _parent_gitignores(top: Path, config: Config) -> list[tuple[Path, object]]:
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
    real = _resolve(path)  # strings, not Paths: this runs per file on a warm run
    directory, name = os.path.split(real)
    stem = _stem(name)
    parts = [stem] if stem != "__init__" else []
    package_parts = list(_package_parts(directory))
    package = ".".join(package_parts)
    base = _realpath(str(root))
    prefix = base if base.endswith(os.sep) else base + os.sep
    if real.startswith(prefix) and len(real) > len(prefix):  # Path.relative_to(root).with_suffix("")
        rel = real[len(prefix) :].split(os.sep)
        rel[-1] = _stem(rel[-1])
        dotted_parts = [p for p in rel if p != "__init__"]
    else:
        try:
            dotted_parts = [p for p in Path(real).relative_to(base).with_suffix("").parts if p != "__init__"]
        except ValueError:
            dotted_parts = package_parts + parts
    return ".".join(dotted_parts), package


def _stem(name: str) -> str:
    """PurePath(name).stem."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def _resolve(path: Path) -> str:
    """str(path.resolve()), with one realpath per folder per run (a file that is a link: its own)."""
    directory, name = os.path.split(os.fspath(path))
    if name in ("", ".", "..") or os.path.islink(path):
        return str(path.resolve())
    return os.path.join(_real_folder(directory or "."), name)


@lru_cache(maxsize=256)
def _real_folder(directory: str) -> str:
    return os.path.realpath(directory)


@lru_cache(maxsize=256)
def _package_parts(directory: str) -> tuple[str, ...]:
    """The package names from the outermost folder with __init__.py down to `directory`
    (one stat per folder per run, not per file)."""
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        return ()
    parent = os.path.dirname(directory)
    if parent == directory:
        return (os.path.basename(directory),)
    return (*_package_parts(parent), os.path.basename(directory))


# the run ------------------------------------------------------------------------
def display_path(path: str | Path) -> str:
    """A path as every face shows it: relative to the working folder when inside it, with `/`."""
    absolute = os.path.abspath(path)
    cwd = _realpath(os.getcwd())
    if absolute == cwd or absolute.startswith(cwd + os.sep):
        rel = absolute[len(cwd) + 1 :]  # abspath is normalised: this is Path(rel).as_posix()
        return rel.replace(os.sep, "/") if rel else "."
    path = Path(path)
    try:
        return path.resolve().relative_to(cwd).as_posix()
    except (ValueError, OSError):
        return path.as_posix()


@lru_cache(maxsize=16)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


# The text gate: rules are about torch training code; a file with none of these words
# cannot hold what they look for (its TL000 still comes from CPython's parser).
TORCH_SIGNS = (b"torch", b"lightning")
# Code pasted without its imports names torch's modules by their usual names only
# (names.CONVENTIONAL_IMPORTS): `nn.Linear(`, `optim.SGD(`.
_UNIMPORTED_TORCH = re.compile(rb"(?<![\w.])(?:nn|optim)\.[A-Z]")


def needs_analysis(data: bytes) -> bool:
    # A class deriving from a project module class may not mention torch ("Module" is
    # the former phase-1 test for classes worth summarising).
    return any(sign in data for sign in TORCH_SIGNS) or (b"class " in data and b"Module" in data) \
        or _UNIMPORTED_TORCH.search(data) is not None


# Work below a pool's granularity: forking workers costs more than checking serially.
SERIAL_BYTES = 48 * 1024

# Set only inside pool workers (by the initializer): the parent never shares it, so
# threads that run checks at once (the language server, the probe's verdicts) cannot
# see each other's engine.
_WORKER: dict = {}


@dataclass(frozen=True, slots=True)
class Task:
    """One file to analyse, in a pool worker or in this process."""

    data: bytes
    shown: str
    module_name: str
    package: str
    test_code: bool
    summarize: bool  # phase A: also its classes for the project index, from the same parse
    report: bool = True  # False: a file of the project that was not named; its classes only


@dataclass(slots=True)
class Analysis:
    """What analysing one file gave (a worker's answer)."""

    findings: list[Finding]
    summaries: list[ClassSummary]
    lookups: "Lookups"  # the project-index questions the check asked, for the cache
    opaque: bool  # the check read the index wholesale: its findings depend on all of it
    parsed: bool  # LibCST parsed the file (False: the text gate kept it out)
    calls: tuple = ()  # its calls of the project's functions (facts.callsites), for the index


def _analyse(task: Task, engine: "Engine", base_index: ProjectIndex | None, view: "PythonView | None" = None) -> Analysis:
    """One file, from one parse. `view`: CPython's, computed ahead (_Ahead)."""
    from trainlint.cache import RecordingIndex

    if not needs_analysis(task.data):
        return Analysis(engine.check_syntax_only(task.data, task.shown, python_view=view).findings, [], (), False, False)
    if not task.report:
        summaries, calls = engine.index_source(task.data, task.shown, module_name=task.module_name,
                                               package=task.package, test_code=task.test_code)
        return Analysis([], summaries, (), False, True, calls)
    index = RecordingIndex(base_index)
    result = engine.check_source(task.data, task.shown, index=index, module_name=task.module_name,
                                 package=task.package, summarize=task.summarize, test_code=task.test_code,
                                 with_calls=True, python_view=view)
    return Analysis(result.findings, result.summaries, index.lookups(), index.opaque, True, result.calls)


class _Ahead:
    """CPython's views of the run's texts (trainlint.source.python_view), computed by a process
    forked before LibCST is imported. A cold run spends its first fifth importing LibCST and
    the rules, on one core; meanwhile this process compiles the files with CPython (a tenth of
    the analysis), and the workers skip that for every file it did. When the workers start,
    what it has sent is taken and it is stopped: a file it did not reach is compiled by its
    worker, as before."""

    def __init__(self, texts: list[tuple[str, bytes]]) -> None:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child: one thread, no LibCST; it never returns into the run
            status = 1
            try:
                os.close(read)
                _send_views(write, texts)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read = pid, read

    def collect(self) -> dict[str, "PythonView"]:
        """The views sent by now, by file; the process is stopped."""
        import pickle
        from io import BytesIO

        os.set_blocking(self._read, False)
        received = bytearray()
        while True:
            try:
                data = os.read(self._read, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                break
            received += data
        self.stop()
        views: dict = {}
        stream = BytesIO(bytes(received))
        while stream.tell() < len(received):
            try:
                shown, view = pickle.load(stream)
            except Exception:  # the record it was writing when stopped
                break
            views[shown] = view
        return views

    def stop(self) -> None:
        import signal

        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            os.close(self._read)
            self._pid = 0


def _send_views(fd: int, texts: list[tuple[str, bytes]]) -> None:
    import pickle

    from trainlint.source import FileProblem, decode_source, python_view

    for shown, data in texts:
        try:
            text = decode_source(data)
        except FileProblem:
            continue  # its worker says why
        if "\x00" in text:
            continue
        record = pickle.dumps((shown, python_view(text, shown)))
        while record:
            record = record[os.write(fd, record):]


def _init_worker(engine: "Engine") -> None:
    _WORKER["engine"] = engine


def _analyse_in_worker(job: tuple[Task, ProjectIndex | None, "PythonView | None"]) -> Analysis:
    task, index, view = job
    return _analyse(task, _WORKER["engine"], index, view)


def single_threaded() -> bool:
    """Whether this process may fork its workers. A fork copies the locks other threads hold
    at that moment, held for ever in the child: Python 3.11's cached_property takes one lock
    per property for all its instances, and a worker forked while another thread read a fact
    waited forever (the probe's threads, a language server). Only a one-thread process forks."""
    return threading.active_count() == 1


class Workers:
    """The worker processes of one run, started when a batch is first large enough and kept
    for every batch after it (the project's context, phase A, phase B): a second pool would
    fork again, and its workers would warm up again (lazy imports, per-process caches, the
    copy-on-write of the pages they touch). The index of a batch travels with each task
    (about 12 kB for a hundred classes), because the workers were forked before it existed."""

    def __init__(self, get_engine, jobs: int) -> None:
        self._get_engine = get_engine
        self.jobs = jobs
        self._pool = None
        self._in_process = False  # no pool for the rest of the run: a worker died, or fork is missing
        self._frozen = False
        self._ahead: _Ahead | None = None
        self._views: dict[str, "PythonView"] = {}

    def _pooled(self, count: int, total: int) -> bool:
        """Whether a batch of `count` files of `total` bytes goes to worker processes."""
        return self._pool is not None or not (self.jobs <= 1 or count < 2 or total < SERIAL_BYTES or self._in_process
                                              or not single_threaded())

    def ahead(self, texts: list[tuple[str, bytes]]) -> None:
        """Start CPython's views of these files (path shown, bytes; no notebooks) in a process
        of their own (_Ahead), when the first batch will go to workers: call it before the
        engine is made, which imports LibCST."""
        if self._ahead is None and self._pool is None and hasattr(os, "fork") \
                and self._pooled(len(texts), sum(len(d) for _, d in texts)):
            try:
                self._ahead = _Ahead(texts)
            except OSError:  # no process to spare: the workers compile as before
                self._ahead = None

    def _take_views(self) -> None:
        if self._ahead is not None:
            self._views = self._ahead.collect()
            self._ahead = None

    def run(self, tasks: list[Task], index: ProjectIndex | None) -> list[Analysis]:
        engine = self._get_engine()
        self._take_views()
        views = self._views
        if not self._pooled(len(tasks), sum(len(t.data) for t in tasks)):
            return [_analyse(t, engine, index, views.get(t.shown)) for t in tasks]
        from concurrent.futures.process import BrokenProcessPool

        pool = self._pool or self._start(engine)
        if pool is None:
            return [_analyse(t, engine, index, views.get(t.shown)) for t in tasks]
        order = sorted(range(len(tasks)), key=lambda i: -len(tasks[i].data))  # big files first: even finish
        out: list[Analysis | None] = [None] * len(tasks)
        try:
            chunk = max(1, min(16, len(tasks) // (self.jobs * 8)))
            jobs = [(tasks[i], index, views.get(tasks[i].shown)) for i in order]
            for i, value in zip(order, pool.map(_analyse_in_worker, jobs, chunksize=chunk)):
                out[i] = value
        except BrokenProcessPool:
            # A worker died (a crash in native code): the rest of the run is analysed here.
            self.close()
            self._in_process = True
            out = [value if value is not None else _analyse(task, engine, index, views.get(task.shown))
                   for value, task in zip(out, tasks)]
        return out

    def _start(self, engine: "Engine"):
        import multiprocessing

        # fork: workers inherit the engine and the rules (even ones defined in a test)
        # through the initializer's arguments, which fork does not pickle.
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        if context.get_start_method() != "fork":
            self._in_process = True
            return None
        from concurrent.futures import ProcessPoolExecutor

        # An executor, not multiprocessing.Pool: a worker that dies breaks the run with an
        # error instead of hanging it.
        self._pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init_worker, initargs=(engine,))
        # Forked workers share the parent's pages until they write to them; a garbage
        # collection in a worker writes to every object it traverses, copying the whole
        # heap (the engine, LibCST, the rules) into each worker. Frozen objects are never
        # traversed. The workers fork at the first batch, below.
        gc.freeze()
        self._frozen = True
        return self._pool

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.stop()
            self._ahead = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._frozen:
            gc.unfreeze()  # a process that runs many checks (a test suite) can collect these objects again
            self._frozen = False


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def check_paths(
    paths: Iterable[str | Path],
    config: Config,
    engine: "Engine | None" = None,
    *,
    jobs: int | None = None,
    cache: bool = False,
) -> RunResult:
    """Check files: index their classes and their calls of the run's helpers that take a
    model (facts.callsites), then their findings; one parse per file where the index does
    not change the answer, none for a file the cache already knows. A file whose check asks
    who calls its helpers is checked (or its cached findings accepted) once every other
    file has given its calls."""
    from trainlint import cache as cache_mod

    made: list = [engine]

    def get_engine() -> "Engine":
        # Built (and LibCST imported) only when some file must be analysed: not on a warm run.
        if made[0] is None:
            from trainlint.engine import Engine

            made[0] = Engine(config)
        return made[0]

    workers = Workers(get_engine, jobs or default_jobs())
    try:
        return _check_files(paths, config, engine, get_engine, workers, made, cache)
    finally:
        workers.close()


def _check_files(paths, config: Config, engine: "Engine | None", get_engine, workers: Workers, made: list,
                 cache: bool) -> RunResult:
    from trainlint import cache as cache_mod

    extra = engine.extra_codes if engine is not None else frozenset()
    paths_given = list(paths)
    files = list(discover(paths_given, config))
    store = cache_mod.Cache.open(config.root, config.cache_dir) if cache else None

    run = RunResult()
    _package_parts.cache_clear()  # folders (links, __init__.py) are looked at afresh each run (the server runs many)
    _real_folder.cache_clear()
    forget_folders()
    items: list[FileItem] = []
    for path in files:
        shown = display_path(path)
        try:
            data: bytes | OSError = read_bytes(path)
        except OSError as exc:
            data = exc
        module_name, package = module_name_for(path, config.root)
        items.append(FileItem(path, shown, data, module_name, package, is_test_path(os.fspath(path), module_name)))

    # Phase A: summaries (and, in the same parse, findings against an empty index).
    first: dict[int, Analysis] = {}
    deferred: set[int] = set()
    tasks: list[Task] = []
    where: list[int] = []
    for i, item in enumerate(items):
        if not isinstance(item.data, bytes):
            continue
        item.digest = cache_mod.digest(item.data)
        entry = store.get(os.path.abspath(item.path)) if store else None
        if entry is not None and entry.matches(item.shown, item.digest, item.module_name, item.package, item.test_code) \
                and entry.summaries is not None and entry.calls is not None:
            item.entry = entry
            continue
        if b"class " not in item.data:
            # It adds nothing to the index but its calls: check it once, in phase B, against the whole index.
            item.entry = cache_mod.Entry(item.shown, item.digest, item.module_name, item.package, (), test_code=item.test_code,
                                         helpers=model_helpers(item.data))
            deferred.add(i)
            continue
        tasks.append(Task(item.data, item.shown, item.module_name, item.package, item.test_code, summarize=True))
        where.append(i)
    if engine is None and made[0] is None:
        from trainlint.notebook import is_notebook

        # the files of phase A and B, phase A's first (they go to the workers first)
        workers.ahead([(items[i].shown, items[i].data) for i in (*where, *sorted(deferred))
                       if not is_notebook(items[i].shown)])
    for i, analysis in zip(where, workers.run(tasks, None) if tasks else ()):
        first[i] = analysis
        item = items[i]
        item.entry = cache_mod.Entry(item.shown, item.digest, item.module_name, item.package, tuple(analysis.summaries),
                                     test_code=item.test_code, calls=tuple(analysis.calls),
                                     helpers=model_helpers(item.data))
        if store:
            store.put(os.path.abspath(item.path), item.entry)
        run.parsed += analysis.parsed

    # The index: every class, and the calls of the run's functions that take a model (facts.callsites).
    helpers = {i: item.entry.helpers for i, item in enumerate(items) if item.entry is not None}
    called = set().union(*helpers.values())
    index = ProjectIndex()

    def add_calls(sites) -> bool:
        added = False
        for site in sites or ():
            if site.function in called:
                index.add_call(site)
                added = True
        return added

    for item in items:
        if item.entry is not None:
            for summary in item.entry.summaries:
                index.add(summary)
            add_calls(item.entry.calls)
    context = _context_index(paths_given, items, helpers, config, store, workers, run)
    for summary in context.summaries:
        index.add(summary)
    add_calls(context.calls)
    whole = cache_mod.index_fingerprint(index) if (store or first) else ""

    # Phase B: findings valid for the whole index; re-check only where its answers differ.
    # A check that asks for the calls of its functions (or, unparsed, may) waits for phase C:
    # its answer is final once every file has given its calls.
    keys: dict[frozenset[str], str] = {}

    def config_key(shown: str) -> str:
        codes = config.codes_for(shown) | extra
        if codes not in keys:
            keys[codes] = cache_mod.config_key(config, codes, engine)
        return keys[codes]

    findings: dict[int, list[Finding]] = {}
    answers: dict[int, "Lookups"] = {}  # the index questions behind each file's findings
    counted = set(first)

    def settle(i: int, lookups: "Lookups", found: list[Finding], *, cached: bool = False) -> None:
        findings[i], answers[i] = found, lookups
        if cached:
            run.cached += 1
        else:
            items[i].entry.remember(cache_mod.Result(config_key(items[i].shown), lookups, None, tuple(found)))

    def reuse(i: int) -> bool:
        """Findings without a parse: phase A's, or the cache's, where the index answers as then."""
        item = items[i]
        if i in first:
            analysis = first[i]
            if not analysis.opaque and cache_mod.same_answers(index, analysis.lookups):
                settle(i, analysis.lookups, analysis.findings)
                return True
        elif i not in deferred:
            hit = item.entry.result_for(config_key(item.shown), index, whole)
            if hit is not None:
                settle(i, hit.lookups, list(hit.findings), cached=True)
                return True
        return False

    def check(batch: list[int]) -> bool:
        """Check the files against the index; whether they added calls to it."""
        tasks = [Task(items[i].data, items[i].shown, items[i].module_name, items[i].package, items[i].test_code,
                      summarize=False) for i in batch]
        added = False
        for i, analysis in zip(batch, workers.run(tasks, index) if tasks else ()):
            item = items[i]
            if i not in counted:
                counted.add(i)
                run.parsed += analysis.parsed
            findings[i], answers[i] = analysis.findings, analysis.lookups
            item.entry.remember(cache_mod.Result(
                config_key(item.shown), analysis.lookups, whole if analysis.opaque else None, tuple(analysis.findings)
            ))
            if item.entry.calls is None:
                item.entry.calls = tuple(analysis.calls)
                added |= add_calls(item.entry.calls)
            if store:
                store.put(os.path.abspath(item.path), item.entry)
        return added

    batch: list[int] = []
    late: list[int] = []
    for i, item in enumerate(items):
        if not isinstance(item.data, bytes):
            findings[i] = get_engine().file_problem(item.shown, f"cannot read the file: {item.data}")
            continue
        if i in first:
            waits = cache_mod.asks_callers(first[i].lookups)
        elif i in deferred:
            waits = bool(helpers[i])
        else:
            waits = item.entry.asks_callers(config_key(item.shown))
        if waits:
            late.append(i)
        elif not reuse(i):
            batch.append(i)
    check(batch)
    # Phase C: every file but the late ones has given its calls. They are checked callers
    # first (a script that defines helpers of its own and imports another file's): an
    # unparsed one is parsed, the others are validated against the calls given so far (a
    # class file's check from phase A is kept when its callers answer as then), each as
    # soon as the files that may call it are done, in parallel with the others of its wave.
    added = False
    for wave in _callers_first(late, items, helpers):
        added |= check([i for i in wave if i in deferred or not reuse(i)])
    if added:
        # A call given in phase C may answer an earlier check's question otherwise (a caller
        # the text did not show): those are checked again, against all calls.
        check([i for i in answers if cache_mod.asks_callers(answers[i])
               and not cache_mod.same_answers(index, answers[i])])
    if store:
        for i in (*first, *deferred):
            store.put(os.path.abspath(items[i].path), items[i].entry)
        store.save()

    for i, item in enumerate(items):
        result = FileResult(item.shown, findings[i])
        if findings[i] and isinstance(item.data, bytes):
            from trainlint.source import FileProblem, decode_source

            try:
                result.source = decode_source(item.data)
            except FileProblem:
                pass
        run.files.append(result)
    run.index, run.items = index, items
    run.engine = made[0] if made[0] is not None else _LazyEngine(get_engine)
    return run


# The projects of the named files are indexed whole; a root this large is a monorepo or a
# home folder: its first files only (as the language server's workspace index).
MAX_CONTEXT_FILES = 5000


def context_files(paths: list, files: list[Path], config: Config) -> list[Path]:
    """The files of the projects the named paths belong to (each one's root: the nearest
    folder with a pyproject.toml, setup.py, setup.cfg or .git) that were not named: their
    classes go into the index, so `check train.py` (and pre-commit, which names only the
    staged files) knows the model in models/ as `check .` does. A named folder that holds
    its project's root brings nothing more."""
    roots: set[str] = set()
    for raw in paths:
        real = os.path.realpath(raw)
        folder = real if os.path.isdir(real) else os.path.dirname(real)
        root = project_root(folder)
        if root and not (os.path.isdir(real) and (root + os.sep).startswith(real.rstrip(os.sep) + os.sep)):
            roots.add(root)
    if not roots:
        return []
    named = {_identity(f) for f in files}
    found: list[Path] = []
    for root in sorted(roots):
        for path in discover([root], config):
            identity = _identity(path)
            if identity not in named:  # a file twice in the index would make its classes ambiguous
                named.add(identity)
                found.append(path)
                if len(found) >= MAX_CONTEXT_FILES:
                    return found
    return found


def _identity(path: Path) -> tuple[int, int] | str:
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (st.st_dev, st.st_ino)


# A class header (anywhere: a literal first is what the regex engine scans for fastest); a
# `class` in a comment or a string can only add a file to read.
_CLASS = re.compile(rb"class[ \t]+([A-Za-z_]\w*)[ \t]*(?:\(([^)]*)\))?[ \t]*:")
_IDENTIFIER = re.compile(rb"[A-Za-z_]\w*")
_FROM_IMPORT = re.compile(rb"from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n;]*)")
_STRINGS_AND_COMMENTS = re.compile(
    rb'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*')


# A top-level def and its parameters, through the brackets of a default (`lr=get_lr()`,
# `sizes=(3, 4)`) one level deep; its names that name a model (index.MODEL_NAME_PATTERN).
# (A newline first, not `^` with re.M: a literal start is what the regex engine scans for
# fastest, 6x on the corpora; the file's first line is matched on its own.)
_DEF = rb"(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(((?:[^()]+|\([^()]*\))*)"
_TOP_DEF = re.compile(rb"\n" + _DEF)
_FIRST_DEF = re.compile(_DEF)
# MODEL_NAME_PATTERN over a parameter list: its anchors at the ends of one identifier
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN.replace("^", r"(?<!\w)").replace("$", r"(?!\w)").encode(), re.I)


def model_helpers(data: bytes) -> frozenset[str]:
    """The top-level functions a file defines with a parameter named like a model
    (`def train_one_epoch(model, loader, ...)`), as far as its text shows: those ask the
    index for the project's calls of them (facts.callsites). Only their calls go into the
    index, and a file that defines one is checked after the files that may call it."""
    if b"def " not in data:
        return frozenset()
    first = _FIRST_DEF.match(data)
    found = [first.groups()] if first else []
    found += _TOP_DEF.findall(data)
    return frozenset(name.decode() for name, params in found if _MODEL_NAME.search(params))


def _callers_first(late: list[int], items: list[FileItem], helpers: dict[int, frozenset[str]]) -> list[list[int]]:
    """The files in waves, each after the files that import one of its helpers by name
    (`from engine import train_one_epoch`), so a check meets its callers' calls; a cycle
    is one wave."""
    defining: dict[str, list[int]] = {}
    for i in late:
        for name in helpers[i]:
            defining.setdefault(name, []).append(i)
    waits: dict[int, set[int]] = {i: set() for i in late}  # file -> the files that may call it
    for caller in late:
        for name, module in _imported_from(items[caller].data, items[caller].package).items():
            for callee in defining.get(name, ()):
                if callee != caller and import_folder(items[callee].module_name, module) is not None:
                    waits[callee].add(caller)
    waves: list[list[int]] = []
    remaining = list(late)
    while remaining:
        wave = [i for i in remaining if not waits[i] & set(remaining)] or remaining
        waves.append(wave)
        remaining = [i for i in remaining if i not in wave]
    return waves


def _imported_from(code: bytes, package: str) -> dict[str, str]:
    """Name -> the module a `from M import name` takes it from (relative imports resolved
    against the file's package, as names.ImportTable does)."""
    out: dict[str, str] = {}
    for module, names in _FROM_IMPORT.findall(code):
        text = module.decode()
        dots = len(text) - len(text.lstrip("."))
        base = text[dots:]
        if dots:
            parts = package.split(".") if package else []
            parts = parts[: len(parts) - (dots - 1)] if dots > 1 else parts
            base = ".".join(p for p in (*parts, base) if p)
        for name in re.findall(rb"([A-Za-z_]\w*)(?:[ \t]+as[ \t]+\w+)?", names):
            out[name.decode()] = base
    return out


def _answering(files: list["_ContextFile"], module: str, config: Config) -> list["_ContextFile"]:
    """Of the files that define a class, those ProjectIndex.lookup of `module.Name` can answer
    with: the files of that module, else (a module not in the run, or named otherwise than its
    file) every one, as lookup falls back to a same-named class of the project."""
    matching = [f for f in files if _module_matches(f.path, module, config)]
    if matching or not module or module.partition(".")[0] in LIBRARIES:
        return matching
    return files


def _module_matches(path: Path, module: str, config: Config) -> bool:
    """Whether ProjectIndex.lookup of `module.Name` can answer with a class of this file."""
    own = "." + module_name_for(path, config.root)[0]
    tail = "." + module
    return not module or own.endswith(tail) or own.rpartition(".")[0].endswith(tail)


@dataclass(slots=True, eq=False)
class _ContextFile:
    path: Path
    data: bytes
    classes: set[str]  # the names it defines a class under
    bases: bytes  # the text of its class headers' base lists


@dataclass(slots=True)
class _Context:
    summaries: list[ClassSummary]
    calls: list[CallSite]


def _context_index(paths: list, items: list[FileItem], helpers: dict[int, frozenset[str]], config: Config, store,
                   workers: Workers, run: RunResult) -> _Context:
    """What the named files' projects (context_files) give the index that the named files
    can ask about. Classes: a lookup of `Net` can only be answered by a file that defines a
    class `Net`, so a file is read further only when it defines a class named in a named
    file (or in the bases and facts of the classes read so far, or passed by the calls
    below), or derives from one of the named files' classes (ProjectIndex.is_inherited).
    Calls: a named file's function that takes a model (`helpers`) is called from files that
    name it and import it or its module (may_call). The answers are those of `check` on the
    whole project; the cost is that of the files they come from (from the cache when they
    are unchanged), not of the project."""
    from trainlint import cache as cache_mod

    pool: list[_ContextFile] = []
    callers: list[tuple[Path, bytes]] = []
    asked = [(item.module_name, helpers[i]) for i, item in enumerate(items) if helpers.get(i) and item.module_name]
    for path in context_files(paths, [item.path for item in items], config):
        try:
            data = read_bytes(path)
        except OSError:
            continue
        if not needs_analysis(data):
            continue
        if asked and may_call(data, path, asked, config):
            callers.append((path, data))
        if b"class " not in data:
            continue
        headers = _CLASS.findall(data)
        if headers:
            pool.append(_ContextFile(path, data, {name.decode() for name, _ in headers}, b",".join(b for _, b in headers)))
    memo: dict[str, tuple] = {}  # a file both calls and defines a class: one parse
    calls = [site for _, found in index_entries(callers, config, store, workers, run, cache_mod, memo) for site in found]
    if not pool:
        return _Context([], calls)
    defining: dict[str, list[_ContextFile]] = {}
    for file in pool:
        for name in file.classes:
            defining.setdefault(name, []).append(file)
    named = [item for item in items if isinstance(item.data, bytes)]
    own_classes = {name for item in named for name, _ in _CLASS.findall(item.data)}
    frontier = [f for f in pool if own_classes and any(c in _IDENTIFIER.findall(f.bases) for c in own_classes)]
    wanted: set[str] = set()
    for item in named:
        code = _STRINGS_AND_COMMENTS.sub(b" ", item.data)
        imported = _imported_from(code, item.package)
        # A named file's own class answers a lookup of its name from that file (the index
        # picks the copy nearest the asking file), unless the name is also imported there.
        for name in {n.decode() for n in _IDENTIFIER.findall(code)} & defining.keys():
            if name in imported:
                # `from models.net import Net`: the index is asked for models.net.Net, which only
                # a file of that module (or of the package that re-exports it) can answer
                frontier += _answering(defining[name], imported[name], config)
            elif name.encode() not in own_classes:
                wanted.add(name)
    for site in calls:  # the classes the calls pass are looked up near their callers
        for passed in (*site.positional, *(value for _, value in site.keywords)):
            for qualname in passed or ():
                module, _, name = qualname.rpartition(".")
                if name in defining:
                    frontier += _answering(defining[name], module, config)
    frontier += [f for name in wanted for f in defining[name]]
    loaded: set[_ContextFile] = set()
    asked_names: set[str] = set()
    summaries: list[ClassSummary] = []
    while frontier:
        batch = [f for f in dict.fromkeys(frontier) if f not in loaded]
        loaded.update(batch)
        found = [s for summaries, _ in index_entries([(f.path, f.data) for f in batch], config, store, workers, run,
                                                      cache_mod, memo) for s in summaries]
        summaries += found
        frontier = []
        for qualname in {q for s in found for q in _names_in(s)} - asked_names:
            asked_names.add(qualname)
            module, _, name = qualname.rpartition(".")
            if name in defining and name not in wanted:
                frontier += _answering(defining[name], module, config)
                if not module:
                    wanted.add(name)
    return _Context(summaries, calls)


def may_call(data: bytes, path: Path, asked: list[tuple[str, frozenset[str]]], config: Config) -> bool:
    """Whether a file may call one of the named files' functions (module, names): it names
    the function and imports it from that module (or a package above it), or names the
    module's last part (`import engine` ... `engine.train_one_epoch(...)`)."""
    code = None
    for module, names in asked:
        present = [name for name in names if name.encode() in data]
        if not present:
            continue
        if code is None:
            code = _STRINGS_AND_COMMENTS.sub(b" ", _code_of(data, path))
            words = {w.decode() for w in _IDENTIFIER.findall(code)}
            imported = _imported_from(code, module_name_for(path, config.root)[1])
        for name in present:
            if name not in words:
                continue
            source = imported.get(name)
            if source is not None and import_folder(module, source) is not None:
                return True
            if module.rpartition(".")[2] in words:
                return True
    return False


def _code_of(data: bytes, path: Path) -> bytes:
    """A file's Python code: a notebook's code cells (its JSON holds them as strings)."""
    from trainlint.notebook import is_notebook, read_notebook
    from trainlint.source import FileProblem

    if not is_notebook(str(path)):
        return data

    try:
        return read_notebook(data).text.encode("utf-8", "replace")
    except FileProblem:
        return b""


def _names_in(summary: ClassSummary) -> set[str]:
    """The qualified names a summary refers to (its bases, the classes its facts name): the
    index may be asked about them while it answers about this class."""
    names = set(summary.bases)
    stack: list = list(summary.facts.values())
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return {n for n in names if not n.startswith("torch.")}


def index_entries(files: list[tuple[Path, bytes]], config: Config, store, workers: Workers, run: RunResult,
                   cache_mod, memo: dict) -> list[tuple[tuple[ClassSummary, ...], tuple[CallSite, ...]]]:
    """Per file, its classes and calls for the index: from the cache where the file is
    unchanged, else from one parse (and cached)."""
    out: list = [None] * len(files)
    tasks: list[Task] = []
    keys: list[tuple[int, str]] = []
    for n, (path, data) in enumerate(files):
        shown = display_path(path)
        module_name, package = module_name_for(path, config.root)
        test_code = is_test_path(os.fspath(path), module_name)
        key = os.path.abspath(path)
        if key in memo:
            out[n] = memo[key]
            continue
        entry = store.get(key) if store else None
        if entry is not None and entry.summaries is not None and entry.calls is not None and \
                entry.matches(shown, cache_mod.digest(data), module_name, package, test_code):
            out[n] = memo[key] = (entry.summaries, entry.calls)
            continue
        tasks.append(Task(data, shown, module_name, package, test_code, summarize=True, report=False))
        keys.append((n, key))
    for (n, key), task, analysis in zip(keys, tasks, workers.run(tasks, None) if tasks else ()):
        out[n] = memo[key] = (tuple(analysis.summaries), tuple(analysis.calls))
        run.parsed += analysis.parsed
        if store:
            store.put(key, cache_mod.Entry(task.shown, cache_mod.digest(task.data), task.module_name, task.package,
                                           out[n][0], test_code=task.test_code, calls=out[n][1],
                                           helpers=model_helpers(task.data)))
    return out


class _LazyEngine:
    """The run's engine, built on first use (fixing needs it; a warm report does not)."""

    def __init__(self, make) -> None:
        self._make = make

    def __getattr__(self, name: str):
        return getattr(self._make(), name)
