"""Discover the rule catalog: every Rule subclass in the trainlint.rules package."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the Rule base imports LibCST, which catalog() lets a warm run skip
    from trainlint.rule import Rule

RULES_PACKAGE = "trainlint.rules"


@lru_cache(maxsize=1)
def all_rules() -> tuple[type["Rule"], ...]:
    from trainlint.rule import Rule

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


def rules_by_code() -> dict[str, type["Rule"]]:
    return {rule.code: rule for rule in all_rules()}


def rule_for(code_or_name: str) -> type["Rule"] | None:
    key = code_or_name.strip()
    for rule in all_rules():
        if rule.code.upper() == key.upper() or rule.name == key:
            return rule
    return None


class RuleInfo:
    """A rule's plain class attributes (code, name, default_enabled, options, ...) without
    its module: what config validation and selection read."""

    def __init__(self, attributes: dict) -> None:
        self.__dict__.update(attributes)


def _plain(value: object) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _attributes(rule: type) -> dict:
    attributes = {}
    for name in dir(rule):
        if not name.startswith("_"):
            value = getattr(rule, name)
            if not callable(value) and _plain(value):
                attributes[name] = value.value if name == "severity" else value
    return attributes


_DISCOVER = all_rules


def user_cache_dir() -> str:
    """platformdirs.user_cache_dir("trainlint"); on Linux without importing platformdirs (~5 ms
    of a warm run) where the answer is plain: $XDG_CACHE_HOME or $HOME/.cache, absolute."""
    import os
    import sys

    if sys.platform == "linux" and not hasattr(sys, "getandroidapilevel") and "ANDROID_DATA" not in os.environ:
        xdg, home = os.environ.get("XDG_CACHE_HOME", ""), os.environ.get("HOME", "")
        if os.path.isabs(xdg):
            return os.path.join(xdg, "trainlint")
        if os.path.isabs(home):
            return os.path.join(home, ".cache", "trainlint")
    import platformdirs

    return platformdirs.user_cache_dir("trainlint")


@lru_cache(maxsize=1)
def catalog() -> tuple[RuleInfo, ...]:
    """Every rule's plain attributes. A run of the same build wrote them down in the user
    cache, so a warm run reads them instead of importing the rules (and LibCST: ~160 ms)."""
    import json
    import os

    path = None
    if all_rules is not _DISCOVER:  # rules added by a plugin or a test: ask them, write nothing
        return tuple(RuleInfo(_attributes(rule)) for rule in all_rules())
    try:
        from trainlint.fingerprint import tool_fingerprint

        path = os.path.join(user_cache_dir(), f"catalog-{tool_fingerprint()}.json")
        with open(path, encoding="utf-8") as handle:
            return tuple(RuleInfo(item) for item in json.load(handle))
    except (OSError, ValueError, ImportError):
        pass
    items = [_attributes(rule) for rule in all_rules()]
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(items, handle)
            os.replace(tmp, path)
            _prune_catalogs(os.path.dirname(path))
        except OSError:
            pass
    return tuple(RuleInfo(item) for item in items)


#: catalogs kept in the user cache: the builds used lately (two venvs, an upgrade), not every one
KEEP_CATALOGS = 4


def _prune_catalogs(folder: str) -> None:
    import os

    catalogs = []
    for entry in os.scandir(folder):
        if entry.name.startswith("catalog-") and entry.name.endswith(".json"):
            try:
                catalogs.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                continue
    for _, stale in sorted(catalogs, reverse=True)[KEEP_CATALOGS:]:
        try:
            os.unlink(stale)
        except OSError:
            pass


def rule_info_for(code_or_name: str) -> RuleInfo | None:
    key = code_or_name.strip()
    for rule in catalog():
        if rule.code.upper() == key.upper() or rule.name == key:
            return rule
    return None
