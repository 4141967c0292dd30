"""`python -m trainlint.new_rule`: the module it writes is a rule the catalog, the example
tests and the docs pick up with no other edit; what it cannot write, it refuses.

Each test runs it on a copy of the package laid out as installed (rules/ inside trainlint/,
first on PYTHONPATH), so the checkout is never written to.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from trainlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent


def _load_staging():
    loader = SourceFileLoader("lint_imports", str(ROOT / ".ci" / "lint-imports"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("lint_imports", loader))
    loader.exec_module(module)
    return module.stage


@pytest.fixture
def installed(tmp_path):
    """A copy of trainlint as the wheel lays it out, and a way to run Python on it."""
    site = tmp_path / "site"
    _load_staging()(site)

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(site)}
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

    run.site = site
    return run


def _next_tl4() -> str:
    highest = max(int(rule.code[3:]) for rule in all_rules() if re.fullmatch(r"TL4\d\d", rule.code))
    return f"TL4{highest + 1:02d}"


def test_the_new_module_is_a_rule_the_catalog_the_tests_and_the_docs_find(installed):
    code = _next_tl4()
    made = installed("-m", "trainlint.new_rule", "TL4", "optimizer-never-stepped")
    assert made.returncode == 0, made.stderr
    module = installed.site / "trainlint" / "rules" / "optim" / "optimizer_never_stepped.py"
    assert module.is_file()
    assert f"{code} optimizer-never-stepped" in made.stdout and "python -m trainlint.docs" in made.stdout
    assert "RULES.md" in made.stdout  # the reserved codes are the user's to check

    found = installed("-c", "from trainlint.registry import rule_for; r = rule_for('optimizer-never-stepped');"
                            "print(r.code, r.__module__, r.__name__)")
    assert found.stdout.split() == [code, "trainlint.rules.optim.optimizer_never_stepped", "OptimizerNeverStepped"], found.stderr

    collected = installed("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "test_rule_examples.py"), "-k", code)
    ids = set(re.findall(r"\[(TL\d+(?:-\d+)?)\]", collected.stdout))
    assert {f"{code}-0", f"{code}-1", code} <= ids, collected.stdout + collected.stderr

    docs = installed("-c", "from trainlint.docs import all_rules_markdown, rules_table_markdown;"
                           "print(all_rules_markdown()); print(rules_table_markdown())")
    assert f"## {code} optimizer-never-stepped" in docs.stdout and "### Why is this bad?" in docs.stdout, docs.stderr


def test_a_full_code_is_taken_as_given(installed):
    made = installed("-m", "trainlint.new_rule", "TL199", "labels-shuffled-apart")
    assert made.returncode == 0, made.stderr
    text = (installed.site / "trainlint" / "rules" / "data" / "labels_shuffled_apart.py").read_text()
    assert 'code = "TL199"' in text and "class LabelsShuffledApart(Rule):" in text
    assert "RULES.md" not in made.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["TL4", "no-lr-scheduler"], "TL404 is already called 'no-lr-scheduler'"),
        (["TL404", "brand-new-name"], "TL404 is no-lr-scheduler's: rule codes are never reused"),
        (["TL7", "some-name"], "no rule group has the prefix TL7; the groups are TL0"),
        (["TL9", "some-name"], "runtime findings"),
        (["TL4", "Some_Name"], "'Some_Name' is not a rule name"),
        (["optim", "some-name"], "neither a code group (TL4) nor a code (TL415)"),
        (["TL4"], "usage: python -m trainlint.new_rule"),
    ],
)
def test_it_refuses_what_it_cannot_write(installed, args, message):
    before = sorted(p.relative_to(installed.site) for p in installed.site.rglob("*.py"))
    refused = installed("-m", "trainlint.new_rule", *args)
    assert refused.returncode == 2
    assert message in refused.stderr
    assert sorted(p.relative_to(installed.site) for p in installed.site.rglob("*.py")) == before


def test_it_refuses_a_module_that_exists(installed):
    (installed.site / "trainlint" / "rules" / "loss" / "label_smoothing_twice.py").write_text("# a helper\n")
    refused = installed("-m", "trainlint.new_rule", "TL3", "label-smoothing-twice")
    assert refused.returncode == 2 and "label_smoothing_twice.py exists already" in refused.stderr
    assert (installed.site / "trainlint" / "rules" / "loss" / "label_smoothing_twice.py").read_text() == "# a helper\n"
