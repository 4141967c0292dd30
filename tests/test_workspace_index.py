"""The language server's workspace index keeps the calls of the workspace's helpers (the
functions that take a model) as files change, as `trainlint check` reads them."""

from __future__ import annotations

from pathlib import Path

from test_project_callsites import ENGINE, MAIN, MODELS

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.server.workspace_index import WorkspaceIndex


def _workspace(root: Path, engine_text: str) -> tuple[WorkspaceIndex, Engine, Config]:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "models.py").write_text(MODELS)
    (root / "engine.py").write_text(engine_text)
    (root / "main.py").write_text(MAIN.format(cls="SoftNet"))
    config = Config(root=root)
    engine = Engine(config)
    index = WorkspaceIndex()
    assert index.scan(engine, config, root) == len(list(root.glob("*.py"))) + len(list(root.glob("*.ipynb")))
    return index, engine, config


def _callers(index: WorkspaceIndex, root: Path) -> list[tuple[str, tuple]]:
    return [(Path(site.path).name, site.positional[0] if site.positional else dict(site.keywords)["model"])
            for site in index.index.callers("engine", "fit", path=str((root / "engine.py").resolve()))]


def test_the_scan_records_the_calls_of_the_workspaces_helpers(tmp_path):
    index, _, _ = _workspace(tmp_path, ENGINE)
    assert _callers(index, tmp_path) == [("main.py", ("models.SoftNet",))]


def test_a_caller_changed_or_deleted_changes_the_answer(tmp_path):
    index, engine, config = _workspace(tmp_path, ENGINE)
    main = str((tmp_path / "main.py").resolve())
    assert index.update(engine, config, main, MAIN.format(cls="Plain"))
    assert _callers(index, tmp_path) == [("main.py", ("models.Plain",))]
    assert not index.update(engine, config, main, MAIN.format(cls="Plain"))  # nothing new
    assert index.update(engine, config, main, None)
    assert _callers(index, tmp_path) == []


def test_a_function_that_starts_taking_a_model_finds_its_callers_on_disk(tmp_path):
    # fit(m, ...): `m` is not named like a model, so nobody's calls of it were recorded
    index, engine, config = _workspace(tmp_path, ENGINE.replace("fit(model,", "fit(m,"))
    assert _callers(index, tmp_path) == []
    assert index.update(engine, config, str((tmp_path / "engine.py").resolve()), ENGINE)
    assert _callers(index, tmp_path) == [("main.py", ("models.SoftNet",))]


def test_a_notebook_that_calls_a_helper_is_a_caller(tmp_path):
    from test_project_callsites import _notebook_caller

    (tmp_path / "train.ipynb").write_text(_notebook_caller("Plain"))
    index, _, _ = _workspace(tmp_path, ENGINE)
    assert sorted(_callers(index, tmp_path)) == [("main.py", ("models.SoftNet",)), ("train.ipynb", ("models.Plain",))]
