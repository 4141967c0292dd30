"""`trainlint check --show-settings`: the settings in effect, one `key = value` a line, as TOML
reads them, so a user can see which config file was found and what it selects."""

from __future__ import annotations

import json
from pathlib import Path

from trainlint.config import Config


def _toml_value(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value if not isinstance(value, Path) else str(value))


def settings_text(config: Config, path: Path | None = None) -> str:
    """The resolved settings; with `path`, the rules that run on that file after per-file-ignores."""
    lines = [
        f"# config file: {config.source or '(none found: defaults)'}",
        f"root = {_toml_value(str(config.root))}",
        f"select = {_toml_value(config.select) if config.select is not None else '(the rules on by default)'}",
        f"extend-select = {_toml_value(config.extend_select)}",
        f"ignore = {_toml_value(config.ignore)}",
        f"exclude = {_toml_value(config.exclude)}",
        f"extend-exclude = {_toml_value(config.extend_exclude)}",
        f"respect-gitignore = {_toml_value(config.respect_gitignore)}",
        f"cache-dir = {_toml_value(config.cache_dir or '.trainlint_cache')}",
    ]
    for pattern, codes in config.per_file_ignores:
        lines.append(f"per-file-ignores.{_toml_value(pattern)} = {_toml_value(codes)}")
    for code, severity in sorted(config.severity.items()):
        lines.append(f"severity.{code} = {_toml_value(severity.value)}")
    for code, values in sorted(config.rule_settings.items()):
        for option, value in values.items():
            lines.append(f"rules.{code}.{option} = {json.dumps(value)}")
    codes = config.codes_for(str(path)) if path is not None else config.selected_codes()
    where = f" for {path}" if path is not None else ""
    lines.append(f"# rules that run{where}: {len(codes)}")
    lines.append(f"enabled = {_toml_value(sorted(codes))}")
    return "\n".join(lines)
