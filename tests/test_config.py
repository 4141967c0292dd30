"""[tool.trainlint] in pyproject.toml: selection, per-file-ignores, severity, options, errors."""

from __future__ import annotations

import json

import pytest

from conftest import SEED_004_MODEL


def _codes(result):
    return [f["code"] for f in json.loads(result.output)]


def test_pyproject_ignore(project):
    project.write("pyproject.toml", '[tool.trainlint]\nignore = ["TL202"]\n')
    project.write("src/model.py", SEED_004_MODEL)
    assert project.run("check", "src").exit_code == 0


def test_config_is_found_above_the_checked_folder(project):
    project.write("pyproject.toml", '[tool.trainlint]\nignore = ["TL2"]\n')
    project.write("src/deep/model.py", SEED_004_MODEL)
    assert project.run("check", "src/deep/model.py").exit_code == 0


def test_trainlint_toml(project):
    project.write("trainlint.toml", 'ignore = ["TL202"]\n')
    project.write("model.py", SEED_004_MODEL)
    assert project.run("check", ".").exit_code == 0


def test_explicit_config_path(project):
    project.write("conf/strict.toml", 'select = ["TL000"]\n')
    project.write("model.py", SEED_004_MODEL)
    assert project.run("check", "--config", "conf/strict.toml", ".").exit_code == 0


def test_per_file_ignores(project):
    project.write("pyproject.toml", '[tool.trainlint.per-file-ignores]\n"legacy/*.py" = ["TL202"]\n')
    project.write("legacy/old.py", SEED_004_MODEL)
    project.write("new/model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "json", ".")
    assert [f["filename"] for f in json.loads(result.output)] == ["new/model.py"]


def test_severity_override(project):
    project.write("pyproject.toml", '[tool.trainlint.severity]\nTL202 = "warning"\n')
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "json", ".")
    assert json.loads(result.output)[0]["severity"] == "warning"


def test_exclude_and_extend_exclude(project):
    project.write("pyproject.toml", '[tool.trainlint]\nextend-exclude = ["generated/"]\n')
    project.write("generated/model.py", SEED_004_MODEL)
    assert project.run("check", ".").exit_code == 0


def test_gitignore_is_respected(project):
    project.write(".gitignore", "scratch/\n")
    project.write("scratch/model.py", SEED_004_MODEL)
    project.write("train.py", "import torch\n")
    assert project.run("check", ".").exit_code == 0


def test_pyi_files_are_not_read(project):
    project.write("model.pyi", SEED_004_MODEL)
    assert project.run("check", ".").exit_code == 0


@pytest.mark.parametrize(
    "pyproject, named",
    [
        ('[tool.trainlint]\nselct = ["TL202"]\n', "'selct'"),  # an unknown key
        ('[tool.trainlint]\nignore = ["TL9999"]\n', "TL9999"),  # an unknown code
        ("[tool.trainlint\nselect = \n", "not valid TOML"),
        ("[tool.trainlint.rules.TL202]\ndepth = 3\n", "'depth'"),  # an unknown rule option
    ],
    ids=["unknown-key", "unknown-code", "bad-toml", "unknown-option"],
)
def test_config_error_is_a_usage_error_naming_the_problem(project, pyproject, named):
    project.write("pyproject.toml", pyproject)
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", ".")
    assert result.exit_code == 2
    assert named in result.output


def test_noqa_with_code_bare_and_file_level(project):
    lines = SEED_004_MODEL.lstrip("\n").splitlines()
    conv_line = next(i for i, line in enumerate(lines) if "self.adj = nn.Conv2d" in line)
    with_code = lines.copy()
    with_code[conv_line] += "  # noqa: TL202"
    project.write("a.py", "\n".join(with_code) + "\n")
    bare = lines.copy()
    bare[conv_line] += "  # noqa"
    project.write("b.py", "\n".join(bare) + "\n")
    other = lines.copy()
    other[conv_line] += "  # noqa: TL203"
    project.write("c.py", "\n".join(other) + "\n")
    project.write("d.py", "# trainlint: noqa\n" + SEED_004_MODEL)
    result = project.run("check", "--output-format", "json", ".")
    assert [f["filename"] for f in json.loads(result.output)] == ["c.py"]


def test_a_folder_named_outside_the_project_is_checked_even_in_site_packages(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("env") / "lib" / "site-packages" / "pkg"
    elsewhere.mkdir(parents=True)
    (elsewhere / "model.py").write_text(SEED_004_MODEL.lstrip("\n"))
    project.write("pyproject.toml", "[tool.trainlint]\n")
    assert project.run("check", "--no-cache", str(elsewhere)).exit_code == 1
    assert project.run("check", "--no-cache", str(elsewhere / "model.py")).exit_code == 1
    # inside the project, the default excludes still apply to what is walked
    project.write("venv/lib/site-packages/pkg/model.py", SEED_004_MODEL)
    assert project.run("check", "--no-cache", ".").exit_code == 0
