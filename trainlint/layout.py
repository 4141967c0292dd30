"""The project's layout: which files are test code, and where a file's project begins.

Decided where files are found (the project run, the language server), from the path
and the folders around it, and handed to the engine: facts read the source text and
what they are given, never the file system.
"""

from __future__ import annotations

import os
from functools import lru_cache


def is_test_path(path: str, module_name: str = "") -> bool:
    """Test code: a test module by its name, or any file under a `tests`/`test`/`test_utils` folder of its
    project. The folders are read below the project the file belongs to (the nearest folder
    above it with a pyproject.toml, setup.py, setup.cfg or .git), else from the module's
    dotted name: a project checked out below a folder called `test` is not all test code."""
    if is_test_module(path):
        return True
    real = os.path.realpath(path)
    project = _project_folder(os.path.dirname(real))
    if project:
        folders = os.path.relpath(os.path.dirname(real), project).replace("\\", "/").split("/")
    else:
        folders = module_name.split(".")[:-1] or [os.path.basename(os.path.dirname(real))]
    return any(folder in TEST_FOLDERS for folder in folders)


#: folders of test code; `test_utils` holds the helpers a test suite trains with
#: (deterministic loaders on purpose)
TEST_FOLDERS = ("tests", "test", "test_utils")

_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@lru_cache(maxsize=4096)
def _project_folder(directory: str) -> str:
    """The nearest folder at or above `directory` that holds a project marker; "" if none."""
    while True:
        if any(os.path.exists(os.path.join(directory, marker)) for marker in _PROJECT_MARKERS):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return ""
        directory = parent


def project_root(directory: str) -> str:
    """The project a folder belongs to: the nearest folder at or above it (a real path) with a
    pyproject.toml, setup.py, setup.cfg or .git; "" if none."""
    return _project_folder(directory)


def forget_folders() -> None:
    """Look at the folders afresh (a long-lived process, such as the server, runs many checks)."""
    _project_folder.cache_clear()


def is_test_module(path: str) -> bool:
    """A test module by its own name (`test_*.py`, `*_test.py`, `conftest.py`), wherever it
    lives: unlike is_test_path, a training script kept under tests/ (a fixture the test
    suite runs) or a project checked out below a folder called `test` does not count."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    return stem.startswith("test_") or stem.endswith("_test.py") or stem == "conftest.py"


__all__ = ["forget_folders", "is_test_module", "is_test_path", "project_root"]
