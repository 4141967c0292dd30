"""Discover the rule catalog: every Rule subclass in the trainlint.rules package."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from trainlint.rule import Rule

RULES_PACKAGE = "trainlint.rules"


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    package = importlib.import_module(RULES_PACKAGE)
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.walk_packages(package.__path__, RULES_PACKAGE + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
            ):
                if value.code in found and found[value.code] is not value:
                    raise RuntimeError(f"two rules claim {value.code}: {found[value.code].__name__}, {value.__name__}")
                found[value.code] = value
    return tuple(sorted(found.values(), key=lambda r: r.code))


def rules_by_code() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in all_rules()}


def rule_for(code_or_name: str) -> type[Rule] | None:
    key = code_or_name.strip()
    for rule in all_rules():
        if rule.code.upper() == key.upper() or rule.name == key:
            return rule
    return None
