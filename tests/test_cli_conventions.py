"""The ruff conventions a new user tries first: --version, stdin, colour, fix counts,
--exclude, --show-files/--show-settings, config errors that suggest, SARIF details."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SEED_004_MODEL
from test_project_index import BLOCK, NET

from trainlint import __version__

TRAINLINT = Path(sys.executable).parent / "trainlint"
# TL505's fix is safe, TL412's (Adam -> AdamW) unsafe
FIXABLE = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    best = model.state_dict()
    """
)


def _cli(*args: str, cwd: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """The installed executable (its fast path, not only typer's), from outside the checkout."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env)
    return subprocess.run([str(TRAINLINT), *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          env=environment, timeout=120)


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["version"]])
def test_version(args, tmp_path):
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"trainlint {__version__}\n"


def test_stdin_is_checked_as_the_named_file_of_its_project(project):
    project.write("pyproject.toml", '[tool.trainlint]\n[tool.trainlint.per-file-ignores]\n"scripts/*" = ["TL202"]\n')
    project.write("models/__init__.py", "")
    project.write("models/blocks.py", BLOCK)
    text = textwrap.dedent(NET.format(import_from="models.blocks")).lstrip("\n")
    result = _cli("check", "-", "--stdin-filename", "models/net.py", "--output-format", "json", "--no-cache",
                  cwd=project.root, stdin=text)
    # Block is a module with weights only through the other file: the project index was read
    assert [(f["filename"], f["location"]["row"], f["code"]) for f in json.loads(result.stdout)] == [
        ("models/net.py", 13, "TL202")
    ]
    assert result.returncode == 1
    # per-file-ignores apply to the name stdin stands for
    ignored = _cli("check", "-", "--stdin-filename", "scripts/net.py", cwd=project.root, stdin=text)
    assert ignored.returncode == 0 and "All checks passed!" in ignored.stdout
    # without a name: reported as `-`
    plain = _cli("check", "-", cwd=project.root, stdin=SEED_004_MODEL.lstrip("\n"))
    assert plain.returncode == 1 and "-:11:20: TL202" in plain.stdout


def test_stdin_fix_prints_the_fixed_text(tmp_path):
    result = _cli("check", "-", "--stdin-filename", "train.py", "--fix", "--extend-select", "TL412", cwd=tmp_path,
                  stdin=FIXABLE)
    assert "best = copy.deepcopy(model.state_dict())" in result.stdout
    assert "import copy" in result.stdout
    assert "TL412" in result.stderr and "(1 fixed, 1 remaining)" in result.stderr
    assert result.returncode == 1
    bad = _cli("check", "-", "--stdin-filename", "train.py", cwd=tmp_path, stdin="def f(:\n")
    assert bad.returncode == 1 and "TL000" in bad.stdout


def test_color_follows_no_color_force_color_and_the_option(tmp_path):
    (tmp_path / "model.py").write_text(SEED_004_MODEL)
    esc = "\x1b["
    assert esc not in _cli("check", "model.py", cwd=tmp_path).stdout  # not a terminal
    assert esc in _cli("check", "model.py", cwd=tmp_path, FORCE_COLOR="1").stdout
    assert esc not in _cli("check", "model.py", cwd=tmp_path, FORCE_COLOR="1", NO_COLOR="1").stdout
    assert esc in _cli("check", "--color", "always", "model.py", cwd=tmp_path, NO_COLOR="1").stdout
    assert esc not in _cli("check", "--color", "never", "model.py", cwd=tmp_path, FORCE_COLOR="1").stdout
    assert _cli("check", "--color", "sometimes", "model.py", cwd=tmp_path).returncode == 2


def test_fix_counts_as_ruff_states_them(project):
    project.write("pyproject.toml", '[tool.trainlint]\nextend-select = ["TL412"]\n')
    project.write("train.py", FIXABLE)
    before = project.run("check", "train.py").output
    assert "[*] 1 fixable with the `--fix` option (1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in before
    assert "TL412" in before and "[fixable with --unsafe-fixes]" in before
    offered = project.run("check", "--unsafe-fixes", "train.py").output
    assert "[*] 2 fixable with the `--fix` option." in offered
    after = project.run("check", "--fix", "train.py").output
    assert "Found 2 problems (1 fixed, 1 remaining)." in after
    assert "1 fixable with the `--fix` option" not in after  # the fix it just applied is not offered again
    assert "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in after
    done = project.run("check", "--fix", "--unsafe-fixes", "train.py").output
    assert "Found 1 problem (1 fixed, 0 remaining)." in done


def test_exclude_on_the_command_line_and_show_files(project):
    project.write("train.py", SEED_004_MODEL)
    project.write("legacy/old.py", SEED_004_MODEL)
    shown = project.run("check", "--show-files", ".")
    assert shown.exit_code == 0
    assert shown.output.splitlines() == [str((project.root / p).resolve()) for p in ("legacy/old.py", "train.py")]
    assert project.run("check", "--exclude", "legacy", "--show-files", ".").output.splitlines() == [
        str((project.root / "train.py").resolve())
    ]
    result = project.run("check", "--extend-exclude", "legacy", "--output-format", "json", ".")
    assert [f["filename"] for f in json.loads(result.output)] == ["train.py"]


def test_show_settings_names_the_config_and_the_selection(project):
    project.write("pyproject.toml", '[tool.trainlint]\nextend-select = ["TL403"]\nignore = ["TL202"]\n')
    result = project.run("check", "--show-settings", ".")
    assert result.exit_code == 0
    assert f"# config file: {project.root / 'pyproject.toml'}" in result.output
    assert 'extend-select = ["TL403"]' in result.output and 'ignore = ["TL202"]' in result.output
    enabled = json.loads(result.output.split("enabled = ", 1)[1])
    assert "TL403" in enabled and "TL202" not in enabled


@pytest.mark.parametrize("table, expected", [
    ('extend_select = ["TL403"]', "unknown key 'extend_select' in [tool.trainlint] in {file} (did you mean `extend-select`?)"),
    ('ignore = ["TL2O2"]', "unknown rule selector 'TL2O2' in `ignore` in {file} (did you mean `TL202`?)"),
    ('[tool.trainlint.per-file-ignores]\n"a.py" = ["module-created-in-froward"]',
     "in {file} (did you mean `module-created-in-forward`?)"),
    ('[tool.trainlint.rules.TL408]\nadma = [1e-6, 0.1]', "unknown option 'adma' for TL408 in {file} (did you mean `adam`?)"),
])
def test_config_errors_suggest_the_closest_valid_name(project, table, expected):
    path = project.write("pyproject.toml", "[tool.trainlint]\n" + table + "\n")
    project.write("train.py", "import torch\n")
    result = project.run("check", ".")
    assert result.exit_code == 2
    assert expected.format(file=path) in result.output


def test_sarif_rule_texts_and_fingerprints(project):
    project.write("a.py", SEED_004_MODEL)
    project.write("b.py", "\n\n" + SEED_004_MODEL)  # the same finding two lines lower
    run = json.loads(project.run("check", "--output-format", "sarif", ".").output)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["TL202"]["fullDescription"]["text"].startswith("Finds")
    assert "#" not in rules["TL202"]["fullDescription"]["text"]
    assert "## Why is this bad?" in rules["TL202"]["help"]["markdown"]
    assert "## Use instead" in rules["TL202"]["help"]["markdown"]
    hashes = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["partialFingerprints"]
              for r in run["results"]}
    assert set(hashes) == {"a.py", "b.py"}
    assert all(len(h["trainlintFindingHash/v1"]) == 32 for h in hashes.values())
    # moved down two lines in its file: the same alert for code scanning (the path differs here)
    project.write("a.py", "\n\n" + SEED_004_MODEL)
    moved = json.loads(project.run("check", "--output-format", "sarif", "a.py").output)["runs"][0]["results"]
    assert moved[0]["partialFingerprints"] == hashes["a.py"]


def test_check_help_renders_the_default_of_jobs(project):
    result = _cli("check", "--help", cwd=project.root, COLUMNS="200")
    assert "[default: all cores; 1: serial]" in result.stdout
    assert "Worker processes ." not in result.stdout


def test_show_settings_for_one_file_applies_its_per_file_ignores(project):
    project.write("pyproject.toml", '[tool.trainlint.per-file-ignores]\n"tests/*" = ["TL2"]\n')
    project.write("tests/test_model.py", "import torch\n")
    result = project.run("check", "--show-settings", "tests/test_model.py")
    assert "# rules that run for tests/test_model.py:" in result.output
    enabled = json.loads(result.output.split("enabled = ", 1)[1])
    assert "TL101" in enabled and not any(code.startswith("TL2") for code in enabled)
