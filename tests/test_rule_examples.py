"""Every rule's documented examples are tests: bad ones must fire exactly where marked,
good ones must stay silent, and a fix must produce the documented code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trainlint.fix import apply_edits
from trainlint.registry import all_rules
from trainlint.testing import check_example

ROOT = Path(__file__).resolve().parent.parent
BAD = [(rule, i, ex) for rule in all_rules() for i, ex in enumerate(rule.bad)]
GOOD = [(rule, i, ex) for rule in all_rules() for i, ex in enumerate(rule.good)]


def _id(case) -> str:
    rule, i, _ = case
    return f"{rule.code}-{i}"


@pytest.mark.parametrize("case", BAD, ids=[_id(c) for c in BAD])
def test_bad_example_is_reported(case):
    rule, _, example = case
    findings = check_example(rule, example)
    assert sorted({f.location.row for f in findings}) == sorted(set(example.lines)), (
        f"{rule.code} on:\n{example.source}\nreported {[(f.location.row, f.message) for f in findings]}"
    )
    if example.fixed_source is not None:
        fixable = [f for f in findings if f.fix is not None]
        assert fixable, f"{rule.code} carries no fix for this example"
        fixed = apply_edits(example.source, [e for f in fixable for e in f.fix.edits])
        assert fixed == example.fixed_source
        assert check_example(rule, type(example)(code=fixed, files=example.files, filename=example.filename)) == []


@pytest.mark.parametrize("case", GOOD, ids=[_id(c) for c in GOOD])
def test_good_example_is_silent(case):
    rule, _, example = case
    findings = check_example(rule, example)
    assert findings == [], f"{rule.code} fired on a good example:\n{example.source}\n{findings}"


# Advice that a practice is missing (no gradient clipping, no LR schedule, one param group
# for all weights): a snippet about something else need not show every practice, and
# adding a clip and a scheduler to each of the ~40 loops would bury what each one shows.
# Each of these rules has its own good examples, which are clean under every rule.
ABSENT_PRACTICE = {"TL403", "TL404", "TL413"}


@pytest.mark.parametrize("case", GOOD, ids=[_id(c) for c in GOOD])
def test_good_example_is_clean_under_every_rule(case):
    """What the docs show as the right way must not be flagged by another rule (`--select ALL`)."""
    rule, _, example = case
    findings = [f for f in check_example(rule, example, every_rule=True)
                if f.code not in ABSENT_PRACTICE or f.code == rule.code]
    assert findings == [], (
        f"{rule.code}'s good example is flagged under --select ALL:\n{example.source}\n"
        + "\n".join(f"{f.location.row}: {f.code} {f.message}" for f in findings)
    )


@pytest.mark.parametrize("rule", all_rules(), ids=[r.code for r in all_rules()])
def test_rule_is_documented(rule):
    doc = rule.doc()
    for section in ("## What it does", "## Why is this bad?", "## How to fix"):
        assert section in doc, f"{rule.code} docs lack {section!r}"
    assert rule.summary and rule.name and rule.code.startswith("TL")
    if rule.runtime:  # measured by the probe: its evidence is a fixture script, named in the docs
        fixtures = re.findall(r"tests/fixtures/probe/\w+\.py", doc)
        assert fixtures, f"{rule.code} docs name no probe fixture (tests/fixtures/probe/*.py)"
        assert all((ROOT / f).is_file() for f in fixtures), f"{rule.code} docs name a missing fixture: {fixtures}"
        assert not rule.bad and not rule.good, f"{rule.code} is measured by the probe: no static examples"
    elif not rule.engine_reported or rule.code == "TL000":
        assert len(rule.bad) >= 2, f"{rule.code} needs at least 2 bad examples"
        assert len(rule.good) >= 3, f"{rule.code} needs at least 3 good examples"


@pytest.mark.parametrize("rule", all_rules(), ids=[r.code for r in all_rules()])
def test_rule_docs_have_each_heading_once(rule):
    from trainlint.docs import rule_markdown

    headings = [line for line in rule_markdown(rule).splitlines() if line.startswith("#")]
    assert len(headings) == len(set(headings)), f"{rule.code}'s docs repeat a heading: {headings}"
