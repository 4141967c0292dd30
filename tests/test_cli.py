"""The `trainlint check` story as a user lives it: findings, formats, selection, exit codes."""

from __future__ import annotations

import json

from conftest import SEED_004_MODEL


def test_clean_project_exits_zero(project):
    project.write("train.py", "import torch\nmodel = torch.nn.Linear(2, 2)\n")
    result = project.run("check", ".")
    assert result.exit_code == 0
    assert "All checks passed!" in result.output


def test_finding_is_printed_with_code_frame_and_exit_one(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "model.py")
    assert result.exit_code == 1
    assert "model.py:11:20: TL202 [error]" in result.output
    assert "self.adj = nn.Conv2d(" in result.output  # the code frame
    assert "^^^" in result.output
    assert "Found 1 problem (1 error)." in result.output


def test_default_path_is_the_current_folder(project):
    project.write("pkg/model.py", SEED_004_MODEL)
    result = project.run("check")
    assert result.exit_code == 1
    assert "pkg/model.py:11:20: TL202" in result.output


def test_no_color_when_not_a_terminal(project):
    project.write("model.py", SEED_004_MODEL)
    assert "\x1b[" not in project.run("check", "model.py").output


def test_json_output_is_shaped_like_ruffs(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "json", "model.py")
    assert result.exit_code == 1
    [finding] = json.loads(result.output)
    assert finding["code"] == "TL202"
    assert finding["name"] == "module-created-in-forward"
    assert finding["severity"] == "error"
    assert finding["filename"] == "model.py"
    assert finding["location"] == {"row": 11, "column": 20}
    assert finding["end_location"]["row"] == 11
    assert finding["fix"] is None
    assert finding["url"].endswith("#tl202-module-created-in-forward")
    assert "fresh random weights" in finding["message"]


def test_github_output_is_workflow_commands(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "github", "model.py")
    line = result.output.strip()
    assert line.startswith("::error file=model.py,line=11,col=20,")
    assert "title=TL202 module-created-in-forward::TL202 " in line


def test_sarif_output_lists_rules_with_help(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "sarif", "model.py")
    doc = json.loads(result.output)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "## What it does" in rules["TL202"]["help"]["markdown"]
    [res] = run["results"]
    assert res["ruleId"] == "TL202" and res["level"] == "error"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "TL202"
    region = res["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 11 and region["startColumn"] == 20


def test_concise_output_has_no_code_frame(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "concise", "model.py")
    assert "model.py:11:20: TL202" in result.output
    assert "│" not in result.output


def test_statistics_counts_per_code(project):
    project.write("a.py", SEED_004_MODEL)
    project.write("b.py", SEED_004_MODEL)
    result = project.run("check", "--statistics", ".")
    assert result.exit_code == 1
    assert "2\tTL202\tmodule-created-in-forward" in result.output


def test_exit_zero(project):
    project.write("model.py", SEED_004_MODEL)
    assert project.run("check", "--exit-zero", "model.py").exit_code == 0


def test_ignore_and_select(project):
    project.write("model.py", SEED_004_MODEL)
    assert project.run("check", "--ignore", "TL202", "model.py").exit_code == 0
    assert project.run("check", "--select", "TL000", "model.py").exit_code == 0
    assert project.run("check", "--select", "TL2", "model.py").exit_code == 1
    assert project.run("check", "--select", "ALL", "model.py").exit_code == 1
    assert project.run("check", "--select", "module-created-in-forward", "model.py").exit_code == 1


def test_unknown_code_is_a_usage_error(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--select", "TL999", "model.py")
    assert result.exit_code == 2
    assert "TL999" in result.output


def test_missing_path_is_a_usage_error(project):
    result = project.run("check", "no/such/dir")
    assert result.exit_code == 2
    assert "no/such/dir" in result.output


def test_output_file(project):
    project.write("model.py", SEED_004_MODEL)
    result = project.run("check", "--output-format", "json", "-o", "report.json", "model.py")
    assert result.exit_code == 1
    assert json.loads((project.root / "report.json").read_text())[0]["code"] == "TL202"


def test_rule_command_prints_docs(project):
    result = project.run("rule", "TL202")
    assert result.exit_code == 0
    for section in ("# TL202 module-created-in-forward", "## What it does", "## Why is this bad?",
                    "## How to fix", "## Example", "## Use instead", "seed 004"):
        assert section in result.output
    assert project.run("rule", "module-created-in-forward").exit_code == 0
    assert project.run("rule", "TL999").exit_code == 2


def test_rules_command_lists_every_rule(project):
    from trainlint.registry import all_rules

    result = project.run("rules", "--output-format", "json")
    listed = {r["code"]: r for r in json.loads(result.output)}
    assert set(listed) == {r.code for r in all_rules()}
    assert listed["TL202"]["severity"] == "error" and listed["TL202"]["default"] is True
    table = project.run("rules").output
    assert "TL202" in table and "module-created-in-forward" in table
