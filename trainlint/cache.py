"""The result cache: an unchanged file is not parsed again, as in ruff.

One pickle per cache folder and tool build, mapping each file to what its last check
gave: the hash of its bytes, its module name, its class summaries (for the project
index) and its findings under a config. A file's findings are reused when its bytes,
the tool (version and the mtimes/sizes of its own sources, so an edited rule
invalidates), the effective config for that file, and the answers to the project-index
questions it asked are all unchanged. The last is the precise key for cross-file facts:
while a file is checked, its index records every lookup (qualified name -> class
summary) and the cache keeps (question, fingerprint of the answer). Next run the
questions are asked again of the new index: editing a model file that changes a
class's summary re-checks only the files that asked about that class. A rule that
reads the index other than through `lookup()` makes the file depend on the whole index
(its hash is stored instead). The calls other files make of a file's functions are
questions too (`callers()`: the fingerprint of the call sites that answer): editing the
script that passes a model to `engine.train_one_epoch` re-checks engine.py.

The folder is `.trainlint_cache/` beside the config (or `cache-dir`), which gets its own
`.gitignore` (`*`); if it cannot be written, the platformdirs user cache is used.
Loading uses an unpickler that only builds trainlint's own types, so a cache file
planted in a repository cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainlint.fingerprint import blake2b, tool_fingerprint
from trainlint.index import CallSite, ClassSummary, ProjectIndex

if TYPE_CHECKING:
    from trainlint.config import Config
    from trainlint.engine import Engine
    from trainlint.finding import Finding

CACHE_FOLDER = ".trainlint_cache"
FORMAT = 2
KEEP_RESULTS = 4  # configs remembered per file (e.g. the editor's and the CLI's)

Lookups = tuple[tuple[str, str, str], ...]  # (qualname, near, fingerprint of the answer)
# A recorded question "does any project class inherit from NAME?" (not a qualified name).
INHERITED = "<inherited>"
# A recorded question "which calls of other files call FUNCTION of MODULE?", as
# CALLERS + "MODULE:FUNCTION" with the asking file's path as `near`.
CALLERS = "<callers>"


def digest(data: bytes) -> bytes:
    return blake2b(data, digest_size=16).digest()


def config_key(config: "Config", codes: frozenset[str], engine: "Engine | None" = None) -> str:
    """What of the config can change one file's findings: its codes, severities, rule settings
    (and the classes of the extra rules an engine was given, in tests)."""
    extra = sorted(
        f"{type(engine.rules[c]).__module__}.{type(engine.rules[c]).__qualname__}" for c in engine.extra_codes
    ) if engine is not None else []
    blob = json.dumps(
        [
            sorted(codes),
            sorted((k, v.value) for k, v in config.severity.items()),
            {k: config.rule_settings[k] for k in sorted(config.rule_settings)},
            extra,
            sorted(c for c in codes if _explicitly_selects(config, c)),  # rules may act on that
        ],
        sort_keys=True,
        default=repr,
    )
    return blake2b(blob.encode(), digest_size=16).hexdigest()


def _explicitly_selects(config: "Config", code: str) -> bool:
    method = getattr(config, "explicitly_selects", None)
    return bool(method and method(code))


def summary_fingerprint(summary: ClassSummary | None) -> str:
    if summary is None:
        return ""
    blob = repr((summary.name, summary.path, summary.module, summary.bases, sorted(summary.facts.items(), key=repr)))
    return blake2b(blob.encode(), digest_size=8).hexdigest()


def callers_fingerprint(sites: tuple[CallSite, ...]) -> str:
    return blake2b(repr(sites).encode(), digest_size=8).hexdigest() if sites else ""


def asks_callers(lookups: Lookups) -> bool:
    """Whether a check asked the index for call sites: its answer is final only when every
    file of the run has given its calls."""
    return any(q.startswith(CALLERS) for q, _, _ in lookups)


def index_fingerprint(index: ProjectIndex) -> str:
    h = blake2b(digest_size=16)
    for fp in sorted(summary_fingerprint(s) for s in index.summaries()):
        h.update(fp.encode())
    return h.hexdigest()


class RecordingIndex(ProjectIndex):
    """A view of a project index that remembers the questions a file's check asked."""

    def __init__(self, base: ProjectIndex | None = None) -> None:
        self._base = base if base is not None else ProjectIndex()
        self._inside = False
        self.asked: dict[tuple[str, str], str] = {}
        self.opaque = False

    @property
    def _by_name(self):  # read directly (not through lookup): the file depends on everything
        if not self._inside:
            self.opaque = True
        return self._base._by_name

    def lookup(self, qualname: str, *, near: str = "") -> ClassSummary | None:
        self._inside = True
        try:
            answer = ProjectIndex.lookup(self, qualname, near=near)
        finally:
            self._inside = False
        key = (qualname, near)
        if key not in self.asked:
            self.asked[key] = summary_fingerprint(answer)
        return answer

    def is_inherited(self, name: str) -> bool:
        self._inside = True
        try:
            answer = ProjectIndex.is_inherited(self, name)
        finally:
            self._inside = False
        self.asked.setdefault((INHERITED + name, ""), "1" if answer else "")
        return answer

    def callers(self, module: str, function: str, *, path: str = "") -> tuple[CallSite, ...]:
        answer = self._base.callers(module, function, path=path)
        self.asked.setdefault((f"{CALLERS}{module}:{function}", path), callers_fingerprint(answer))
        return answer

    def add_call(self, site: CallSite) -> None:
        raise TypeError("a recording index is read-only")

    def add(self, summary: ClassSummary) -> None:
        raise TypeError("a recording index is read-only")

    def remove_path(self, path: str) -> None:
        raise TypeError("a recording index is read-only")

    def summaries(self) -> list[ClassSummary]:
        self.opaque = True
        return self._base.summaries()

    def __len__(self) -> int:
        self.opaque = True
        return len(self._base)

    def lookups(self) -> Lookups:
        return tuple(sorted((q, near, fp) for (q, near), fp in self.asked.items()))


def same_answers(index: ProjectIndex, lookups: Lookups) -> bool:
    """Whether `index` answers a file's recorded questions as before (cheap: by name first)."""
    by_name = index._by_name
    for qualname, near, fp in lookups:
        if qualname.startswith(INHERITED):
            if ("1" if index.is_inherited(qualname[len(INHERITED) :]) else "") != fp:
                return False
            continue
        if qualname.startswith(CALLERS):
            module, _, function = qualname[len(CALLERS) :].rpartition(":")
            if callers_fingerprint(index.callers(module, function, path=near)) != fp:
                return False
            continue
        name = qualname.rpartition(".")[2]
        if name not in by_name:
            if fp:
                return False
            continue
        if summary_fingerprint(index.lookup(qualname, near=near)) != fp:
            return False
    return True


def _callers_only(lookups: Lookups) -> Lookups:
    return tuple(lookup for lookup in lookups if lookup[0].startswith(CALLERS))


@dataclass
class Result:
    config: str
    lookups: Lookups
    whole_index: str | None  # the index fingerprint, when the check read the index wholesale
    findings: tuple["Finding", ...]


@dataclass
class Entry:
    shown: str
    digest: bytes
    module_name: str
    package: str
    summaries: tuple[ClassSummary, ...] | None = None  # None: not summarised yet
    results: list[Result] = field(default_factory=list)
    #: the file belongs to a test suite (trainlint.layout): an input of its facts
    test_code: bool = False
    #: its calls of other files' functions (facts.callsites); None: not parsed yet
    calls: tuple[CallSite, ...] | None = None
    #: the top-level functions it defines that take a model, by its text (project.model_helpers)
    helpers: frozenset[str] = frozenset()

    def matches(self, shown: str, data_digest: bytes, module_name: str, package: str, test_code: bool) -> bool:
        return (self.shown, self.digest, self.module_name, self.package, self.test_code) == (
            shown, data_digest, module_name, package, test_code
        )

    def result_for(self, config: str, index: ProjectIndex, whole_index: str) -> Result | None:
        for result in self.results:
            if result.config != config:
                continue
            if result.whole_index is not None:
                # read wholesale: the classes by their fingerprint, the call sites it asked for by name
                if result.whole_index == whole_index and same_answers(index, _callers_only(result.lookups)):
                    return result
            elif same_answers(index, result.lookups):
                return result
        return None

    def asks_callers(self, config: str) -> bool:
        """Whether its remembered check under `config` asked the index for call sites."""
        return any(r.config == config and asks_callers(r.lookups) for r in self.results)

    def remember(self, result: Result) -> None:
        self.results = [result] + [r for r in self.results if r.config != result.config][: KEEP_RESULTS - 1]


class _SafeUnpickler(pickle.Unpickler):
    _BUILTINS = frozenset({"set", "frozenset", "tuple", "list", "dict", "bytes", "str", "int", "float", "bool", "complex"})

    def find_class(self, module: str, name: str) -> Any:
        if module == "trainlint" or module.startswith("trainlint.") or (module == "builtins" and name in self._BUILTINS):
            return super().find_class(module, name)
        if module == "copyreg" and name in ("_reconstructor", "__newobj__"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a trainlint cache")


def cache_folder(root: Path, configured: str | None) -> Path | None:
    """The writable cache folder for a project root, or None when there is none."""
    candidates = []
    if configured:
        candidates.append((root / configured).resolve())
    else:
        candidates.append(root / CACHE_FOLDER)
        candidates.append(None)  # the user cache: platformdirs is imported only when it is needed
    for folder in candidates:
        if folder is None:
            try:
                import platformdirs
            except ImportError:  # pragma: no cover - platformdirs is a dependency
                continue
            tag = blake2b(str(root.resolve()).encode(), digest_size=8).hexdigest()
            folder = Path(platformdirs.user_cache_dir("trainlint")) / tag
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by trainlint automatically.\n*\n", encoding="utf-8")
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    return None


class Cache:
    """The entries of one cache file; load() once, save() once per run."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.path = folder / f"v{FORMAT}-{tool_fingerprint()}.pickle" if folder else None
        self.entries: dict[str, Entry] = {}
        self._changed: set[str] = set()
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def open(cls, root: Path, configured: str | None) -> "Cache":
        cache = cls(cache_folder(root, configured))
        cache.entries = cache._read()
        return cache

    def _read(self) -> dict[str, Entry]:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                self._stamp = (st.st_mtime_ns, st.st_size)
                data = _SafeUnpickler(io.BufferedReader(handle)).load()
        except FileNotFoundError:
            return {}
        except Exception:  # a broken or foreign cache is a miss, never a crash
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def put(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        self._changed.add(key)

    def save(self) -> None:
        if self.path is None or not self._changed:
            return
        entries = self.entries
        try:
            st = os.stat(self.path)
            if (st.st_mtime_ns, st.st_size) != self._stamp:  # another run wrote meanwhile: keep its work too
                entries = {**self._read(), **{k: self.entries[k] for k in self._changed}}
        except OSError:
            pass
        # files deleted or renamed since they were checked: their entries would stay forever
        entries = {key: entry for key, entry in entries.items() if os.path.isfile(key)}
        try:
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix=".cache.", dir=self.folder)
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            for old in self.folder.glob(f"v*.pickle"):  # builds of the tool that are gone
                if old != self.path:
                    old.unlink(missing_ok=True)
        except OSError:
            pass
        self._changed.clear()
