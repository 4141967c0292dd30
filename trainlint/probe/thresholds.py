"""The probe's thresholds: the runtime rules' options, the config and `--threshold KEY=VALUE`.

Each threshold belongs to one runtime rule (rules/runtime/), which declares it with its
default and meaning in its `options`, and is set as that rule's option,
`[tool.trainlint.rules.TL902] grad-growth = 20`, like any rule setting; `[tool.trainlint.probe]`
holds the probe's own settings (`max-batches`). The defaults keep the healthy scripts of
benchmarks/probe_cases/ silent (docs/probe.md, "Accuracy benchmark").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainlint.config import Config

#: Settings of the probe as a whole, in `[tool.trainlint.probe]`; every other key is a rule's option.
PROBE_SETTINGS: dict[str, Any] = {
    "max-batches": 8,  # how many batches of each DataLoader are inspected
}
PROBE_KEYS = tuple(PROBE_SETTINGS)


def _defaults() -> dict[str, Any]:
    """Every threshold's default: the probe's settings and each runtime rule's `options`
    (the rule module documents them: a new runtime rule brings its thresholds along)."""
    from trainlint.probe.catalog import runtime_rules

    values = dict(PROBE_SETTINGS)
    for rule in runtime_rules().values():
        values.update(rule.options)
    return values


class Thresholds:
    """The values the runtime rules compare their measurements with, by option name
    (`thresholds.grad_growth` reads the option `grad-growth`). Immutable: `with_values`
    returns a new one."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", {**_defaults(), **(values or {})})

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._values[attr.replace("_", "-")]
        except KeyError:
            raise AttributeError(f"no probe threshold {attr.replace('_', '-')!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("Thresholds are immutable: use with_values()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thresholds) and self._values == other._values

    def __repr__(self) -> str:
        return f"Thresholds({self._values!r})"

    def keys(self) -> list[str]:
        return list(self._values)

    def with_values(self, values: dict[str, Any], where: str = "") -> "Thresholds":
        changes = {}
        for key, value in values.items():
            name = str(key).replace("_", "-")
            if name not in self._values:
                raise ValueError(f"unknown probe threshold {key!r}{where} (known: {', '.join(self.keys())})")
            default = self._values[name]
            try:
                changes[name] = type(default)(value)
            except (TypeError, ValueError):
                raise ValueError(f"probe threshold {key!r}{where} must be a number, got {value!r}") from None
        return Thresholds({**self._values, **changes})

    def to_json(self) -> dict:
        return dict(self._values)


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """["grad-growth=20", "max-batches=4"] -> {"grad-growth": "20", ...}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--threshold expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def load_thresholds(config: "Config", overrides: dict[str, Any] | None = None) -> Thresholds:
    """Defaults, then `[tool.trainlint.probe]` and the runtime rules' options of the config, then the overrides."""
    from trainlint.probe.catalog import runtime_rules

    thresholds = Thresholds()
    where = f" in {config.source}" if config.source else ""
    owner = {key: rule.code for rule in runtime_rules().values() for key in rule.options}
    probe_table = _probe_table(config.source)
    for key in probe_table:
        if key in owner:
            raise ValueError(f"`{key}` in [tool.trainlint.probe]{where} is an option of {owner[key]}: "
                             f"set it in [tool.trainlint.rules.{owner[key]}]")
        if key not in PROBE_KEYS:
            raise ValueError(f"unknown key {key!r} in [tool.trainlint.probe]{where} (known: {', '.join(PROBE_KEYS)})")
    thresholds = thresholds.with_values(probe_table, where)
    for code, settings in sorted(config.rule_settings.items()):
        if code in owner.values():
            thresholds = thresholds.with_values(settings, f" in [tool.trainlint.rules.{code}]{where}")
    if overrides:
        thresholds = thresholds.with_values(overrides)
    return thresholds


def _probe_table(path: Path | None) -> dict[str, Any]:
    from trainlint.config import ConfigError, tomllib

    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    table = data.get("tool", {}).get("trainlint", {}) if path.name == "pyproject.toml" else data
    probe = table.get("probe", {}) if isinstance(table, dict) else {}
    if not isinstance(probe, dict):
        raise ConfigError(f"[tool.trainlint.probe] in {path} must be a table")
    return probe
