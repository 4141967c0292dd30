"""The rule docs live once, in the rules: the README table and docs/rules.md are generated."""

from __future__ import annotations

from pathlib import Path

from trainlint.docs import all_rules_markdown, render_readme

ROOT = Path(__file__).resolve().parent.parent


def test_docs_rules_md_is_up_to_date():
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == all_rules_markdown(), (
        "docs/rules.md is stale: run `python -m trainlint.docs`"
    )


def test_readme_rule_table_is_up_to_date():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme) == readme, "README.md's rule table is stale: run `python -m trainlint.docs`"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```console\n")[1:3]]
    assert "trainlint check examples/" in blocks[0]
    assert "pytest" in blocks[1] and "torch==2.13.0" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "torch==2.13.0" in ci and "pytest" in ci
