"""The runtime findings TL901-TL911 are rules like the others (codes, names, docs, options,
select/ignore/severity, SARIF) that only `trainlint probe` measures: the engine never runs them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from trainlint.cli import app
from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.finding import Finding, Location, Severity
from trainlint.registry import rule_for, rules_by_code

RUNTIME = {f"TL9{i:02d}" for i in range(1, 13)}


def test_runtime_rules_are_registered_but_never_run_statically(monkeypatch):
    catalog = rules_by_code()
    assert RUNTIME <= set(catalog) and all(catalog[c].runtime for c in RUNTIME)
    assert not any(r.runtime for c, r in catalog.items() if c not in RUNTIME)

    def boom(self, facts):
        raise AssertionError("a runtime rule ran in the static engine")

    for code in RUNTIME:
        monkeypatch.setattr(catalog[code], "check", boom)
    engine = Engine(Config(select=("ALL",)))
    assert RUNTIME <= set(engine.rules)
    source = "import torch\nloss = torch.nn.functional.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]))\n"
    assert engine.check_source(source, "train.py").findings == []


def test_rule_command_and_rules_list_name_them():
    runner = CliRunner()
    shown = runner.invoke(app, ["rule", "TL905"])
    assert shown.exit_code == 0
    assert shown.output.startswith("# TL905 parameters-not-optimized")
    assert "runtime (trainlint probe)" in shown.output and "tests/fixtures/probe/conv_in_forward.py" in shown.output
    by_name = runner.invoke(app, ["rule", "exploding-gradients"])
    assert "[tool.trainlint.rules.TL902]" in by_name.output and "`grad-growth` (default `10.0`)" in by_name.output
    listed = json.loads(runner.invoke(app, ["rules", "--output-format", "json"]).output)
    runtime = {r["code"]: r for r in listed if r["runtime"]}
    assert set(runtime) == RUNTIME and runtime["TL909"]["options"] == {
        "input-mean": 3.0, "input-std": 10.0, "input-mean-confirm": 0.3, "input-mean-healthy": 0.1,
        "input-std-confirm": 3.0, "input-std-healthy": 1.5}
    text = runner.invoke(app, ["rules"], env={"COLUMNS": "250"}).output
    assert "runtime (trainlint probe)" in text


def test_select_and_severity_accept_runtime_codes_and_names():
    config = Config(select=("TL9",), ignore=("constant-inputs",), severity={"TL905": Severity.ERROR})
    assert config.selected_codes() == frozenset(RUNTIME - {"TL911"})
    assert rule_for("non-finite-loss").code == "TL901"


def test_sarif_describes_runtime_findings():
    from trainlint.report.sarif import sarif_document

    finding = Finding("TL905", "parameters-not-optimized", Severity.WARNING, "2 parameters ...", "models/resnet.py",
                      Location(50, 9), Location(50, 30))
    doc = sarif_document([finding])
    driver = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert driver["TL905"]["name"] == "parameters-not-optimized"
    assert driver["TL905"]["properties"]["tags"] == ["runtime"]
    (result,) = doc["runs"][0]["results"]
    assert result["ruleId"] == "TL905" and doc["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "TL905"
