"""The runtime rules (rules/runtime/, TL9xx) as the registry holds them: code, name,
severity, docs and, as options, their thresholds. Its own module so that the thresholds
and the analysis both read it without importing each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainlint.rule import Rule


def runtime_rules() -> dict[str, type["Rule"]]:
    """The runtime findings' rules, by code."""
    from trainlint.registry import all_rules

    return {rule.code: rule for rule in all_rules() if rule.runtime}
