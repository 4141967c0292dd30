"""Rule documentation, generated from the rules themselves: `trainlint rule`, the README
table, docs/rules.md, SARIF help and editor hovers all come from here."""

from __future__ import annotations

from trainlint.registry import all_rules
from trainlint.rule import Rule

SEED_TITLES = {
    "000": "VGG16 does not converge",
    "001": "why the training loss does not fall",
    "002": "learning-rate size and schedulers",
    "003": "tuning experience",
    "004": "hand-written ResNet whose loss grows to inf",
}


def rule_markdown(rule: type[Rule], *, heading: str = "#") -> str:
    parts = [f"{heading} {rule.code} {rule.name}", ""]
    meta = f"Severity: **{rule.severity.value}** · {_default(rule)} by default"
    if rule.fix_applicability is not None:
        meta += f" · fix: {rule.fix_applicability.value}"
    parts += [meta, "", _demote(rule.doc(), heading), ""]
    if rule.bad:
        parts += [f"{heading}# Example", "", "```python", rule.bad[0].source.rstrip(), "```", ""]
    if rule.good:
        parts += [f"{heading}# Use instead", "", "```python", rule.good[0].source.rstrip(), "```", ""]
    if rule.options:
        parts += [f"{heading}# Options", "", f"In `[tool.trainlint.rules.{rule.code}]`:", ""]
        parts += [f"- `{key}` (default `{value!r}`)" for key, value in rule.options.items()]
        parts.append("")
    if rule.seeds:
        parts += [f"{heading}# References", ""]
        for seed in rule.seeds:
            number = seed.split()[0]
            title = SEED_TITLES.get(number, "")
            parts.append(f"- seed {seed}" + (f": {title}" if title else ""))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _default(rule: type[Rule]) -> str:
    state = rule.default_state()
    return "on only where the file shows a symptom it explains," if state == "symptoms" else state


def _demote(doc: str, heading: str) -> str:
    """The docstring uses `##` sections; nest them under the rule's own heading level."""
    if heading == "#":
        return doc
    return "\n".join(("#" * (len(heading) - 1) + line) if line.startswith("## ") else line for line in doc.splitlines())


def rules_table_markdown() -> str:
    rows = [
        "| code | name | severity | default | fix | what it finds |",
        "|---|---|---|---|---|---|",
    ]
    for rule in all_rules():
        fix = rule.fix_applicability.value if rule.fix_applicability else ""
        rows.append(
            f"| [{rule.code}](docs/rules.md#{rule.code.lower()}-{rule.name}) | {rule.name} | {rule.severity.value} | "
            f"{rule.default_state()} | {fix} | {rule.summary} |"
        )
    return "\n".join(rows) + "\n"


def all_rules_markdown() -> str:
    header = (
        "# trainlint rules\n\n"
        "Generated from the rules' own docs by `trainlint rules --output-format markdown --full`; "
        "do not edit by hand.\n\n"
    )
    return header + "\n".join(rule_markdown(rule, heading="##") for rule in all_rules())
