"""Bad input never gives a traceback: each becomes one clear diagnostic and the run goes on."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SEED_004_MODEL


def _findings(result):
    return json.loads(result.output)


def _check_json(project, *paths):
    result = project.run("check", "--output-format", "json", *(paths or (".",)))
    return result, _findings(result)


@pytest.mark.parametrize(
    "name, content, row, words",
    [
        ("syntax.py", b"import torch\n\ndef train(model:\n    pass\n", 3, "never closed"),
        ("py2.py", b"import torch\nprint 'loss', loss\n", 2, "print"),
        ("latin1.py", b"import torch\nname = 'caf\xe9'\n", 2, "cannot decode"),
        ("nul.py", b"import torch\nx = 1\x00\n", 2, "NUL"),
        ("badcookie.py", b"# -*- coding: klingon -*-\nimport torch\n", 1, "encoding"),
    ],
)
def test_unreadable_file_is_one_tl000_and_the_run_goes_on(project, name, content, row, words):
    (project.root / name).write_bytes(content)
    project.write("model.py", SEED_004_MODEL)
    result, findings = _check_json(project)
    assert result.exit_code == 1
    by_file = {f["filename"]: f for f in findings}
    assert set(by_file) == {name, "model.py"}
    problem = by_file[name]
    assert problem["code"] == "TL000"
    assert problem["location"]["row"] == row
    assert words.lower() in problem["message"].lower()
    assert by_file["model.py"]["code"] == "TL202"


def test_declared_encoding_is_honoured(project):
    (project.root / "latin1.py").write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\n")
    assert project.run("check", ".").exit_code == 0


def test_empty_file(project):
    project.write("empty.py", "")
    result = project.run("check", ".")
    assert result.exit_code == 0


def test_huge_generated_file(project):
    lines = [f"w{i} = torch.nn.Linear({i % 7 + 1}, {i % 5 + 1})" for i in range(340_000)]
    text = "import torch\n" + "\n".join(lines) + "\n"
    assert len(text) > 10_000_000
    project.write("generated.py", text)
    project.write("model.py", SEED_004_MODEL)
    result, findings = _check_json(project)
    by_file = {f["filename"]: f for f in findings}
    assert by_file["model.py"]["code"] == "TL202"
    assert by_file["generated.py"]["code"] == "TL000"
    assert "too large" in by_file["generated.py"]["message"]
    assert "extend-exclude" in by_file["generated.py"]["message"]


def test_deeply_nested_expression(project):
    project.write("deep.py", "import torch\nx = " + "(" * 1000 + "1" + ")" * 1000 + "\n")
    project.write("model.py", SEED_004_MODEL)
    result, findings = _check_json(project)
    by_file = {f["filename"]: f for f in findings}
    assert by_file["model.py"]["code"] == "TL202"
    # CPython itself refuses this nesting; trainlint says so instead of crashing
    assert by_file["deep.py"]["code"] == "TL000"
    assert "nested" in by_file["deep.py"]["message"]


def test_deep_operator_chain_is_reported_not_crashed(project):
    project.write("chain.py", "import torch\nx = " + "1 + " * 1000 + "1\n")
    project.write("model.py", SEED_004_MODEL)
    result, findings = _check_json(project)
    codes = {f["filename"]: f["code"] for f in findings}
    assert codes["model.py"] == "TL202"
    assert codes.get("chain.py") in (None, "TL000")


def test_directory_symlink_loop(project):
    project.write("pkg/model.py", SEED_004_MODEL)
    os.symlink(project.root / "pkg", project.root / "pkg" / "loop")
    result, findings = _check_json(project)
    assert [f["filename"] for f in findings] == ["pkg/model.py"]


def test_a_rule_that_raises_becomes_tl001(project, monkeypatch):
    from trainlint.registry import rule_for

    rule = rule_for("TL202")

    def explode(self, facts):
        raise ValueError("boom")
        yield

    monkeypatch.setattr(rule, "check", explode)
    project.write("model.py", SEED_004_MODEL)
    project.write("broken.py", "def f(:\n")
    result, findings = _check_json(project)
    assert result.exit_code == 1
    codes = {(f["filename"], f["code"]) for f in findings}
    assert ("model.py", "TL001") in codes and ("broken.py", "TL000") in codes
    crash = next(f for f in findings if f["code"] == "TL001")
    assert "TL202" in crash["message"] and "ValueError: boom" in crash["message"]


def test_unreadable_file_permissions(project):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = project.write("secret.py", "import torch\n")
    path.chmod(0)
    result, findings = _check_json(project)
    assert findings[0]["code"] == "TL000"


@pytest.mark.parametrize("gated", [True, False])  # without torch the text gate compiles it instead
def test_python_s_syntax_warnings_stay_out_of_the_output(tmp_path, gated):
    """`0x1for`, `"\\d"`: CPython warns while compiling; the file's syntax error is the one message."""
    import subprocess
    import sys

    head = "" if gated else "import torch\n"
    (tmp_path / "train.py").write_text(head + 'x = [0x1for i in range(3)]\npattern = "\\d+"\ndef f(:\n')
    run = subprocess.run([sys.executable, "-m", "trainlint", "check", "--no-cache", "train.py"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 1 and "TL000" in run.stdout
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
