"""The probe's thresholds: documented defaults, the runtime rules' options and `--threshold KEY=VALUE`.

Each threshold belongs to one runtime rule (rules/runtime/) and is set as that rule's option,
`[tool.trainlint.rules.TL902] grad-growth = 20`, like any rule setting; `[tool.trainlint.probe]`
holds the probe's own settings (`max-batches`). The defaults separated one healthy script
from five sick ones (torch 2.13, CPU, see docs/probe.md): a healthy small script reports
nothing with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainlint.config import Config

#: Settings of the probe as a whole, in `[tool.trainlint.probe]`; every other key is a rule's option.
PROBE_KEYS = ("max-batches",)


@dataclass(frozen=True)
class Thresholds:
    #: TL902: the raw total gradient norm (read right after backward) reaches this multiple of its first value.
    grad_growth: float = 10.0
    #: TL907: the loss reaches this multiple of its first value (3x is crossed by a healthy but unshuffled run).
    loss_growth: float = 10.0
    #: TL903: first-layer / last-layer gradient-norm ratio (median over iterations) below this.
    vanishing_ratio: float = 1e-4
    #: TL904: share of a layer's units dead (ReLU zero for every sample of the last 3 batches, or weight-gradient
    #: rows zero in each of them) or saturated (sigmoid < 0.01 or > 0.99, |tanh| > 0.99) over the last iterations.
    dead_fraction: float = 0.5
    #: TL909: |mean| of the training inputs above this, or their std above `input-std`.
    input_mean: float = 3.0
    input_std: float = 10.0
    #: TL911: std of a training batch's inputs below this.
    constant_std: float = 1e-6
    #: TL910: a batch holds at least this share of one class ...
    single_class_share: float = 0.9
    #: ... in more than this share of the first training batches.
    single_class_batches: float = 0.5
    #: TL908: cross-entropy at the first iteration above this multiple of ln(number of classes).
    initial_loss_factor: float = 3.0
    #: TL912: over the last probed iterations the loss moves less than this share of its value ...
    stall_loss_change: float = 1e-3
    #: ... and each step's own gradient norm is at most this share of the largest one of the run.
    stall_grad_ratio: float = 1e-3
    # Verdict bands: a static finding predicts its symptom, so weaker evidence than the runtime
    # rule's own threshold confirms it. Past `*-confirm` it is confirmed, on the healthy side of
    # `*-healthy` not confirmed, and inconclusive between (docs/probe.md, "Verdicts").
    #: TL201/TL204 (measured as TL903): the first/last gradient ratio below this confirms ...
    vanishing_confirm: float = 1e-3
    #: ... and from this up (healthy nets: 0.02-3) refutes.
    vanishing_healthy: float = 1e-2
    #: TL408 (measured as TL907): the loss reaching this multiple of its first value confirms ...
    loss_growth_confirm: float = 3.0
    #: ... and staying below this multiple refutes.
    loss_growth_healthy: float = 1.5
    #: TL102 (measured as TL909): |mean| of the training inputs from this up confirms (0..1 pixels: ~0.45) ...
    input_mean_confirm: float = 0.3
    #: ... and below this refutes (with the std inside the band below).
    input_mean_healthy: float = 0.1
    #: TL102: an input std from this up confirms ...
    input_std_confirm: float = 3.0
    #: ... and below this refutes.
    input_std_healthy: float = 1.5
    #: How many batches of each DataLoader are inspected.
    max_batches: int = 8

    @classmethod
    def defaults(cls, *keys: str) -> dict[str, Any]:
        """{"grad-growth": 10.0}: the defaults of these keys, as a runtime rule's `options`."""
        values = cls().to_json()
        return {key: values[key] for key in keys}

    @staticmethod
    def keys() -> list[str]:
        return [f.name.replace("_", "-") for f in fields(Thresholds)]

    def with_values(self, values: dict[str, Any], where: str = "") -> "Thresholds":
        changes = {}
        for key, value in values.items():
            attr = str(key).replace("-", "_")
            if attr not in {f.name for f in fields(Thresholds)}:
                raise ValueError(f"unknown probe threshold {key!r}{where} (known: {', '.join(self.keys())})")
            default = getattr(self, attr)
            try:
                changes[attr] = type(default)(value)
            except (TypeError, ValueError):
                raise ValueError(f"probe threshold {key!r}{where} must be a number, got {value!r}") from None
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {k.replace("_", "-"): v for k, v in asdict(self).items()}


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
