"""The probe's thresholds: documented defaults, `[tool.trainlint.probe]` and `--threshold KEY=VALUE`.

The defaults separated one healthy script from five sick ones (torch 2.13, CPU, see
docs/probe.md): a healthy small script reports nothing with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    #: TL902: the raw total gradient norm (read right after backward) reaches this multiple of its first value.
    grad_growth: float = 10.0
    #: TL907: the loss reaches this multiple of its first value (3x is crossed by a healthy but unshuffled run).
    loss_growth: float = 10.0
    #: TL903: first-layer / last-layer gradient-norm ratio (median over iterations) below this.
    vanishing_ratio: float = 1e-4
    #: TL904: share of a layer's units dead (ReLU zero for the whole batch, or zero weight-gradient rows)
    #: or saturated (sigmoid < 0.01 or > 0.99, |tanh| > 0.99) over the last iterations.
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
    #: How many batches of each DataLoader are inspected.
    max_batches: int = 8

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


def load_thresholds(start: Path, overrides: dict[str, Any] | None = None, config_path: Path | None = None) -> Thresholds:
    """Defaults, then `[tool.trainlint.probe]` of the nearest config file, then the overrides."""
    from trainlint.config import find_config_file, tomllib

    thresholds = Thresholds()
    path = config_path or find_config_file(start)
    if path is not None and path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        table = data.get("tool", {}).get("trainlint", {}) if path.name == "pyproject.toml" else data
        probe_table = table.get("probe", {}) if isinstance(table, dict) else {}
        if isinstance(probe_table, dict) and probe_table:
            thresholds = thresholds.with_values(probe_table, f" in {path}")
    if overrides:
        thresholds = thresholds.with_values(overrides)
    return thresholds
