"""A new runtime rule is one module: dropped into the runtime rules' package, it is found the
way every rule is (trainlint.registry walks trainlint.rules), and the probe reports its
finding, reads its threshold from the configuration, and reads the static finding it
confirms on its band, with no other file touched."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from trainlint.probe.runner import torch_available

FIXTURES = Path(__file__).parent / "fixtures" / "probe"

#: A rule the catalog does not have (TL990 is no code of the product): the learning rate did not
#: change over the probed steps, which confirms TL404 (an optimizer stepped with a fixed
#: learning rate) on its band.
RULE = '''
from trainlint.finding import Severity
from trainlint.probe.measurements import Band, Evidence, Measurements
from trainlint.probe.numbers import fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    rates = [step[0] for step in m.r.lrs if step and step[0]]
    if len(rates) < m.t.fixed_lr_steps:
        return Evidence(False, message=f"{len(rates)} step(s) with a learning rate")
    change = (max(rates) - min(rates)) / max(rates)
    return Evidence(True, change <= m.t.fixed_lr_change,
                    f"the learning rate stayed at {fmt(rates[0])} over {len(rates)} optimizer steps",
                    {"change": change, "steps": len(rates)}, m.optimizer_site)


def band(m: Measurements) -> list[Band]:
    change = m.measure("TL990").numbers.get("change")
    return [] if change is None else [Band("learning rate change", change, m.t.fixed_lr_change, 0.01)]


class FixedLearningRateMeasured(Rule):
    """
    ## What it does
    Measured by `trainlint probe`: the learning rate did not change over the probed steps.

    ## Why is this bad?
    A schedule usually helps.

    ## How to fix
    Add a scheduler.
    """

    code = "TL990"
    name = "fixed-learning-rate-measured"
    severity = Severity.WARNING
    summary = "the learning rate did not change over the probed steps"
    runtime = True
    options = {"fixed-lr-steps": 5, "fixed-lr-change": 1e-6}
    measure = staticmethod(measure)
    confirms = ("TL404",)
    banded = ("TL404",)
    band = staticmethod(band)
'''


@pytest.fixture
def rule_module(tmp_path, monkeypatch):
    """fixed_learning_rate_measured.py in a folder of the runtime rules' package (as a file
    dropped into rules/runtime/ is), with the rule caches emptied before and after."""
    import trainlint.rules.runtime as package
    from trainlint import registry

    folder = tmp_path / "runtime"
    folder.mkdir()
    (folder / "fixed_learning_rate_measured.py").write_text(textwrap.dedent(RULE))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the rule catalog is cached per build
    registry.all_rules.cache_clear()
    registry.catalog.cache_clear()
    yield "trainlint.rules.runtime.fixed_learning_rate_measured"
    registry.all_rules.cache_clear()
    registry.catalog.cache_clear()
    sys.modules.pop("trainlint.rules.runtime.fixed_learning_rate_measured", None)


def test_a_rule_module_brings_its_code_and_thresholds(rule_module):
    from trainlint.probe.analyze import STATIC_EVIDENCE
    from trainlint.probe.catalog import runtime_rules
    from trainlint.probe.thresholds import Thresholds
    from trainlint.registry import rule_info_for

    rule = runtime_rules()["TL990"]
    assert rule.__module__ == rule_module
    assert Thresholds().fixed_lr_steps == 5  # its options are probe thresholds
    assert "TL404" in STATIC_EVIDENCE  # the static code it confirms is observable now
    assert rule_info_for("fixed-learning-rate-measured").code == "TL990"  # selectable by name


@pytest.mark.skipif(not torch_available(), reason="torch is not installed")
@pytest.mark.probe
def test_the_probe_reports_a_new_rule_module(rule_module):
    from trainlint.probe.analyze import Measurements, runtime_findings, verdict_for
    from trainlint.probe.runner import run_probe
    from trainlint.probe.thresholds import Thresholds

    script = FIXTURES / "checkpoint.py"  # SGD at lr 0.1, no scheduler: TL404 statically
    result = run_probe(script, steps=6, timeout=120)
    (found,) = [f for f in result.runtime if f.code == "TL990"]
    assert found.message == "the learning rate stayed at 0.1 over 6 optimizer steps"
    assert found.location.row == 10  # the optimizer's line
    (fixed,) = [f for f in result.static if f.code == "TL404"]
    assert fixed.details["verdict"] == "confirmed"  # before this rule: "not observable"
    assert "learning rate change 0: confirmed < 1.0e-06" in fixed.details["verdict_message"]

    # its threshold is set like any runtime rule's (`[tool.trainlint.rules.TL990]`, --threshold)
    fewer = Measurements(result.report, Thresholds().with_values({"fixed-lr-steps": 50}))
    assert [f.code for f in runtime_findings(fewer, str(script))] == []
    assert verdict_for(fixed, fewer).details["verdict"] == "not observable"
