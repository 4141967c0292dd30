"""Editor settings (`trainlint.enable/select/ignore/severity`) on top of the workspace config.

The workspace's pyproject.toml is the project's truth; the editor's settings narrow or
widen it for one user, as ruff's editor settings do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainlint.config import Config, ConfigError, expand_selectors
from trainlint.finding import Severity

#: Re-lint this long after the last keystroke: typing a word costs one run, not five.
DEFAULT_DEBOUNCE_MS = 80


@dataclass(frozen=True)
class ClientSettings:
    enable: bool = True
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    debounce_ms: int = DEFAULT_DEBOUNCE_MS

    @classmethod
    def from_json(cls, raw: Any) -> "ClientSettings":
        """Accepts `{"trainlint": {...}}`, `{...}` or the template's `{"settings": {...}}`; ignores junk."""
        if not isinstance(raw, dict):
            return cls()
        for key in ("trainlint", "settings"):
            if isinstance(raw.get(key), dict):
                raw = raw[key]
        return cls(
            enable=raw.get("enable", True) is not False,
            select=_strings(raw.get("select")),
            ignore=_strings(raw.get("ignore")),
            severity={str(k): str(v) for k, v in raw.get("severity", {}).items()} if isinstance(raw.get("severity"), dict) else {},
            debounce_ms=raw["debounceMs"] if isinstance(raw.get("debounceMs"), int) and raw["debounceMs"] >= 0 else DEFAULT_DEBOUNCE_MS,
        )

    def apply(self, config: Config) -> Config:
        """The config with these settings on top; ConfigError names a bad code or level."""
        severity = dict(config.severity)
        for selector, level in self.severity.items():
            try:
                value = Severity(level.lower())
            except ValueError:
                raise ConfigError(f"trainlint.severity.{selector}: {level!r} is not error, warning or info") from None
            for code in expand_selectors([selector], "trainlint.severity"):
                severity[code] = value
        return config.with_overrides(
            select=self.select or None,
            ignore=config.ignore + self.ignore,
            severity=severity,
        )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(str(v).strip() for v in value if str(v).strip())
