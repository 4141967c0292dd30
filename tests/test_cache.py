"""The cache, the process pool and the text gate never change what is reported: a warm run
gives the cold run's findings without parsing, an edit in one file re-checks the files whose
cross-file answers it changes, and N workers give what one gives."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainlint import project
from trainlint.cache import CACHE_FOLDER, Cache
from trainlint.config import Config
from trainlint.project import check_paths

MODELS = textwrap.dedent(
    """\
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return self.conv(x)
    """
)
NET = textwrap.dedent(
    """\
    import torch.nn as nn
    from models import Block

    class Net(nn.Module):
        def forward(self, x):
            return Block(x.shape[1])(x)
    """
)
PLAIN = "def helper(x):\n    return x + 1\n"


def _project(tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "util.py").write_text(PLAIN)


def _check(tmp_path, cache=True, jobs=1, **config):
    cfg = Config(root=tmp_path, **config)
    return check_paths([tmp_path], cfg, jobs=jobs, cache=cache)


def _rows(run):
    return [(f.path.rsplit("/", 1)[-1], f.code, f.location.row) for f in run.findings]


def test_warm_run_parses_nothing_and_reports_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    cold = _check(tmp_path)
    assert _rows(cold) == [("net.py", "TL202", 6)]
    assert cold.parsed == 2  # util.py has no sign of torch: the text gate keeps it out
    warm = _check(tmp_path)
    assert _rows(warm) == _rows(cold)
    assert warm.parsed == 0 and warm.cached == 3
    assert (tmp_path / CACHE_FOLDER / ".gitignore").read_text().splitlines()[-1] == "*"


def test_an_edit_that_changes_a_class_rechecks_the_files_that_use_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    _check(tmp_path)
    (tmp_path / "models.py").write_text(MODELS.replace("nn.Conv2d(c, c, 3, padding=1)", "nn.ReLU()"))
    run = _check(tmp_path)
    assert _rows(run) == []  # Block has no weights any more: constructing it in forward is harmless
    assert run.parsed == 2


def test_an_edit_that_changes_no_class_rechecks_only_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    _check(tmp_path)
    (tmp_path / "models.py").write_text(MODELS + "\n\ndef unrelated():\n    return 1\n")
    run = _check(tmp_path)
    assert _rows(run) == [("net.py", "TL202", 6)]
    assert run.parsed == 1


def test_a_config_change_is_a_cache_miss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    _check(tmp_path)
    run = _check(tmp_path, ignore=("TL202",))
    assert _rows(run) == []
    assert _rows(_check(tmp_path)) == [("net.py", "TL202", 6)]


def test_no_cache_writes_nothing_and_a_broken_cache_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    _check(tmp_path, cache=False)
    assert not (tmp_path / CACHE_FOLDER).exists()
    _check(tmp_path)
    for pickle_file in (tmp_path / CACHE_FOLDER).glob("*.pickle"):
        pickle_file.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")  # and never executed
    run = _check(tmp_path)
    assert _rows(run) == [("net.py", "TL202", 6)] and run.parsed == 2


def test_text_gate_still_reports_syntax_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    run = _check(tmp_path, cache=False)
    assert _rows(run) == [("broken.py", "TL000", 1)]
    assert run.parsed == 0


def test_workers_report_what_one_process_reports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    _project(tmp_path)
    for i in range(6):
        (tmp_path / f"net{i}.py").write_text(NET)
    (tmp_path / "broken.py").write_text("import torch\ndef f(:\n")
    serial = _check(tmp_path, cache=False, jobs=1)
    parallel = _check(tmp_path, cache=False, jobs=2)
    assert _rows(parallel) == _rows(serial)
    assert len(_rows(serial)) == 8


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_parse_per_file_when_the_index_does_not_matter(tmp_path, monkeypatch, jobs):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    _project(tmp_path)
    calls = []
    from trainlint import engine as engine_mod

    real_parse = engine_mod.parse
    monkeypatch.setattr(engine_mod, "parse", lambda text, **kw: calls.append(1) or real_parse(text, **kw))
    (tmp_path / "train.py").write_text("import torch\nfrom models import Block\n\nmodel = Block(3)\n")
    # TL202 alone: a rule that reads the whole index (summaries()) makes every file depend on all of it
    run = _check(tmp_path, cache=False, jobs=jobs, select=("TL202",))
    assert _rows(run) == [("net.py", "TL202", 6)]
    if jobs == 1:
        # models.py once; train.py (no class: checked once, after the index) once; net.py twice:
        # its answer about `models.Block` changed with the full index
        assert len(calls) == 4


def test_a_warm_run_imports_no_libcst(tmp_path):
    """The cache answers everything, so the parser (~160 ms of imports) is never loaded."""
    import subprocess
    import sys

    _project(tmp_path)
    command = [sys.executable, "-X", "importtime", "-m", "trainlint", "check", "-q", "."]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert "TL202" in first.stdout and " libcst" in first.stderr
    warm = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert "TL202" in warm.stdout
    assert " libcst" not in warm.stderr


def test_entries_of_deleted_files_are_dropped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    _check(tmp_path)
    (tmp_path / "util.py").unlink()
    (tmp_path / "net.py").write_text(NET + "\n# edited\n")  # a run that writes the cache
    _check(tmp_path)
    entries = Cache.open(tmp_path, None).entries
    assert sorted(Path(key).name for key in entries) == ["models.py", "net.py"]


def test_the_user_cache_keeps_the_rule_catalogs_of_recent_builds_only(tmp_path):
    """Each build of trainlint writes its rule catalog once; old builds' are removed."""
    cache = tmp_path / "xdg" / "trainlint"
    cache.mkdir(parents=True)
    for i in range(6):
        stale = cache / f"catalog-{i:032x}.json"
        stale.write_text("[]")
        os.utime(stale, ns=(10**18 + i, 10**18 + i))
    (tmp_path / "train.py").write_text("import torch\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    run = subprocess.run([sys.executable, "-m", "trainlint", "check", "--no-cache", "train.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    left = sorted(p.name for p in cache.glob("catalog-*.json"))
    assert len(left) == 4 and f"catalog-{5:032x}.json" in left and f"catalog-{0:032x}.json" not in left


def test_one_pool_of_workers_serves_every_phase_of_a_run(tmp_path, monkeypatch):
    """Phase A (class-defining files) and phase B (the rest, and re-checks against the
    whole index) run in the same worker processes: forking a second pool costs its
    start and a second warm-up."""
    import concurrent.futures

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    _project(tmp_path)
    (tmp_path / "train.py").write_text("import torch\nfrom models import Block\n\nmodel = Block(3)\n")
    started = []
    real = concurrent.futures.ProcessPoolExecutor

    def counting(*args, **kwargs):
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting)
    monkeypatch.setattr(project, "single_threaded", lambda: True)  # whatever threads earlier tests left
    run = _check(tmp_path, cache=False, jobs=2)
    assert _rows(run) == [("net.py", "TL202", 6)]
    assert len(started) == 1


def test_a_process_with_threads_does_not_fork_its_workers(tmp_path, monkeypatch):
    """A fork copies the locks other threads hold (cached_property's in Python 3.11): a check
    run beside other threads (the probe's, a language server's) analyses in its own process."""
    import concurrent.futures
    import threading

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    _project(tmp_path)
    started = []
    real = concurrent.futures.ProcessPoolExecutor
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", lambda *a, **k: started.append(1) or real(*a, **k))
    runs = []
    thread = threading.Thread(target=lambda: runs.append(_check(tmp_path, cache=False, jobs=2)))
    thread.start()
    thread.join()
    assert _rows(runs[0]) == [("net.py", "TL202", 6)]
    assert started == []


def test_a_worker_that_dies_does_not_lose_the_run(tmp_path, monkeypatch):
    """A crash in native code kills a worker: the files it had are analysed in the parent,
    and the findings are those of a serial run."""
    import os

    from trainlint.engine import Engine
    from trainlint.finding import Severity
    from trainlint.rule import Rule

    parent = os.getpid()

    class DiesInWorkers(Rule):
        """## What it does\nTest rule.\n## Why is this bad?\nTest.\n## How to fix\nTest."""

        code = "TL994"
        name = "test-dies-in-workers"
        severity = Severity.WARNING
        summary = "kills the worker process on one file"

        def check(self, facts):
            if facts.path.endswith("net3.py") and os.getpid() != parent:
                os._exit(3)
            return iter(())

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    _project(tmp_path)
    for i in range(6):
        (tmp_path / f"net{i}.py").write_text(NET)
    monkeypatch.setattr(project, "single_threaded", lambda: True)
    config = Config(root=tmp_path)
    serial = check_paths([tmp_path], config, Engine(config, rules=[DiesInWorkers]), jobs=1, cache=False)
    parallel = check_paths([tmp_path], config, Engine(config, rules=[DiesInWorkers]), jobs=2, cache=False)
    assert _rows(parallel) == _rows(serial)
    assert len(_rows(serial)) == 7


def test_files_compiled_ahead_are_not_compiled_again_by_the_workers(tmp_path, monkeypatch):
    """A cold run with workers compiles its files with CPython in a process of its own while
    the engine is imported (project._Ahead): a file it reached is not compiled by its worker,
    one it did not reach is, and the findings are one process's."""
    from trainlint import engine as engine_mod

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    monkeypatch.setattr(project, "single_threaded", lambda: True)  # whatever threads earlier tests left
    _project(tmp_path)
    for i in range(4):
        (tmp_path / f"net{i}.py").write_text(NET)
    (tmp_path / "broken.py").write_text("import torch\ndef f(:\n")
    (tmp_path / "outside.py").write_text("import torch\nreturn torch\n")  # refused by CPython's compiler only
    serial = _check(tmp_path, cache=False, jobs=1)

    compiled = tmp_path.parent / f"{tmp_path.name}-compiled.txt"
    real_tree = engine_mod.cpython_tree

    def recording(text, path="<source>", **kwargs):
        with open(compiled, "a") as log:  # the workers are other processes
            log.write(Path(path).name + "\n")
        return real_tree(text, path, **kwargs)

    monkeypatch.setattr(engine_mod, "cpython_tree", recording)
    viewed: list[set] = []
    real_collect = project._Ahead.collect

    def collect(self):
        views = real_collect(self)
        viewed.append({Path(shown).name for shown in views})
        return views

    monkeypatch.setattr(project._Ahead, "collect", collect)

    class SlowToImport(engine_mod.Engine):  # as LibCST's import is, in a fresh process
        def __init__(self, *args, **kwargs):
            import time

            time.sleep(1.0)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(engine_mod, "Engine", SlowToImport)
    parallel = _check(tmp_path, cache=False, jobs=2)
    assert _rows(parallel) == _rows(serial)
    assert ("broken.py", "TL000", 2) in _rows(parallel) and ("outside.py", "TL000", 2) in _rows(parallel)
    assert len(viewed) == 1
    by_workers = compiled.read_text().split() if compiled.exists() else []
    files = {"models.py", "net.py", "util.py", "broken.py", "outside.py", *(f"net{i}.py" for i in range(4))}
    assert viewed[0] == files
    # the recovery compiles the text it makes of a broken file: that is not the file's text
    assert set(by_workers) - {"broken.py", "outside.py"} == files - viewed[0] - {"broken.py", "outside.py"}


def test_a_check_with_an_engine_given_or_one_job_starts_no_process_ahead(tmp_path, monkeypatch):
    from trainlint.engine import Engine

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project, "SERIAL_BYTES", 0)
    monkeypatch.setattr(project, "single_threaded", lambda: True)
    _project(tmp_path)
    started = []
    real_init = project._Ahead.__init__
    monkeypatch.setattr(project._Ahead, "__init__", lambda self, texts: started.append(len(texts)) or real_init(self, texts))
    _check(tmp_path, cache=False, jobs=1)
    config = Config(root=tmp_path)
    check_paths([tmp_path], config, Engine(config), jobs=2, cache=False)  # the imports are done: nothing to overlap
    assert started == []
    _check(tmp_path, cache=False, jobs=2)
    assert started == [3]
