"""The cheap gitignore matcher of discovery gives pathspec's answers, and the fast `check` parser
falls back to typer for everything it does not know."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pathspec
import pytest

from trainlint.entry import parse_check
from trainlint.project import SimpleSpec, _gitignore

NAMES = ["build", "dist", ".venv", "venv", "__pycache__", "*.egg-info", "*.py", "a*b", "x.y", "node_modules", "data-1"]


def _paths(rng: random.Random) -> list[str]:
    parts = ["build", "dist", "src", "a", "ab", "axb", "x.y", "m.py", ".venv", "pkg.egg-info", "data-1", "__pycache__", "b"]
    out = ["", "build", "build/", "./build", "/build", "a//b", "a/./b", "a/../build", "."]
    for _ in range(400):
        path = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        out.append(path + rng.choice(["", "/"]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_simple_spec_agrees_with_pathspec(seed):
    rng = random.Random(seed)
    for _ in range(30):
        lines = [rng.choice(NAMES) + rng.choice(["", "/"]) for _ in range(rng.randint(1, 5))]
        lines += rng.sample(["", "# a comment", "#build"], rng.randint(0, 2))
        rng.shuffle(lines)
        simple = SimpleSpec.for_lines(lines)
        assert simple is not None, lines
        full = pathspec.GitIgnoreSpec.from_lines(lines)
        for path in _paths(rng):
            assert simple.match_file(path) == full.match_file(path), (lines, path)


@pytest.mark.parametrize("line", ["!build", "a/b", "/build", "**/x", "x?", "[ab]", "a\\ b", "build ", " build", ".", "..", "*/"])
def test_other_patterns_go_to_pathspec(line):
    assert SimpleSpec.for_lines(["build", line]) is None
    assert isinstance(_gitignore(["build", line]), pathspec.PathSpec)


def test_default_excludes_are_simple():
    from trainlint.config import DEFAULT_EXCLUDE

    assert SimpleSpec.for_lines(list(DEFAULT_EXCLUDE)) is not None


def test_parse_check_plain_options():
    kwargs = parse_check(["--statistics", "--select", "TL1", "--select=TL2", "-q", "-j", "2", "a.py", "--output-format", "json", "src"])
    assert kwargs == {"statistics": True, "select": ["TL1", "TL2"], "quiet": True, "jobs": 2,
                      "output_format": "json", "paths": [Path("a.py"), Path("src")]}
    assert parse_check([]) == {"paths": None}
    assert parse_check(["-", "--stdin-filename", "src/t.py", "--color", "never", "--exclude", "a,b"]) == {
        "paths": [Path("-")], "stdin_filename": "src/t.py", "color": "never", "exclude": ["a,b"]}
    assert parse_check(["--color", "sometimes"]) is None  # click's message
    assert parse_check(["-j4", "src"]) == {"jobs": 4, "paths": [Path("src")]}  # click's attached short value


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--fix"], ["--diff", "x.py"], ["--probe", "t.py"], ["--", "x.py"], ["-j0"], ["-j", "0"],
    ["-j", "x"], ["--output-format", "xml"], ["--select"], ["--select", "--statistics"], ["-qj", "2"], ["--jobs=", "1"],
    ["--unknown"], ["-o=x"],
])
def test_parse_check_defers_to_typer(args):
    assert parse_check(args) is None


@pytest.mark.parametrize("env", [{}, {"XDG_CACHE_HOME": "/tmp/xdg"}, {"XDG_CACHE_HOME": "rel"}, {"XDG_CACHE_HOME": ""}])
def test_user_cache_dir_is_platformdirs(monkeypatch, env):
    import platformdirs

    from trainlint.registry import user_cache_dir

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert user_cache_dir() == platformdirs.user_cache_dir("trainlint")


def test_resolve_is_path_resolve(tmp_path, monkeypatch):
    from trainlint.project import _real_folder, _resolve

    (tmp_path / "real" / "pkg").mkdir(parents=True)
    (tmp_path / "real" / "pkg" / "m.py").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "f.py").symlink_to(tmp_path / "real" / "pkg" / "m.py")
    monkeypatch.chdir(tmp_path)
    for raw in ["link/pkg/m.py", "real/f.py", "link/f.py", "link/../real/pkg/m.py", "link/pkg/../f.py", "m.py", "link/pkg/",
                str(tmp_path / "link" / "pkg" / "m.py"), "link/pkg/."]:
        _real_folder.cache_clear()
        assert _resolve(Path(raw)) == str(Path(raw).resolve()), raw


def _module_name_reference(path: Path, root: Path) -> tuple[str, str]:
    """module_name_for as it was written with Paths (the string version must agree)."""
    path = path.resolve()
    parts = [path.stem] if path.stem != "__init__" else []
    directory = path.parent
    package_parts: list[str] = []
    while (directory / "__init__.py").is_file():
        package_parts.insert(0, directory.name)
        directory = directory.parent
    try:
        rel = path.relative_to(os.path.realpath(str(root))).with_suffix("")
        dotted = [p for p in rel.parts if p != "__init__"]
    except ValueError:
        dotted = package_parts + parts
    return ".".join(dotted), ".".join(package_parts)


def test_module_name_for_and_display_path(tmp_path, monkeypatch):
    from trainlint import project

    for folder in ["proj/pkg/sub", "proj/ns/deep", "other/pkg"]:
        (tmp_path / folder).mkdir(parents=True)
    for init in ["proj/pkg", "proj/pkg/sub", "other/pkg"]:
        (tmp_path / init / "__init__.py").write_text("")
    files = ["proj/pkg/__init__.py", "proj/pkg/sub/m.py", "proj/pkg/sub/a.b.py", "proj/ns/deep/.hidden.py",
             "proj/ns/deep/x.", "proj/top.py", "other/pkg/o.py"]
    for f in files:
        (tmp_path / f).write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    roots = [tmp_path / "proj", tmp_path / "link", tmp_path, Path("proj"), tmp_path / "proj" / "top.py", Path("/")]
    for root in roots:
        for raw in files + ["link/pkg/sub/m.py", str(tmp_path / "link" / "top.py")]:
            project._package_parts.cache_clear()
            project._real_folder.cache_clear()
            assert project.module_name_for(Path(raw), root) == _module_name_reference(Path(raw), root), (raw, root)
            assert project.display_path(Path(raw)) == Path(os.path.abspath(raw)).relative_to(tmp_path).as_posix()
