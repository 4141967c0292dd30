"""[tool.trainlint] in pyproject.toml (or trainlint.toml), merged with CLI overrides.

Keys follow ruff's vocabulary so a ruff user already knows them. An unknown key, an
unknown rule code or a value of the wrong type is a ConfigError that names it: a
silently ignored typo would leave a user believing a rule is off (or on).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from trainlint.finding import Severity

CONFIG_FILES = ("trainlint.toml", ".trainlint.toml", "pyproject.toml")

KNOWN_KEYS = {
    "select", "ignore", "extend-select", "extend-ignore", "per-file-ignores", "exclude",
    "extend-exclude", "severity", "rules", "cache-dir", "respect-gitignore", "probe",
}

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs", "__pycache__", "build", "dist",
    "node_modules", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".trainlint_cache",
    ".ipynb_checkpoints",  # Jupyter's autosaved copies of the notebooks beside it
)


class ConfigError(Exception):
    """A configuration problem the user must fix; exit code 2."""


def did_you_mean(word: str, choices) -> str:
    """` (did you mean `extend-select`?)` for the closest valid choice, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] | None = None  # None: every rule that is on by default
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    rule_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    respect_gitignore: bool = True
    cache_dir: str | None = None
    #: The folder the config file lives in; patterns are relative to it.
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    # selection -----------------------------------------------------------------
    def selected_codes(self) -> frozenset[str]:
        from trainlint.registry import catalog as rule_catalog

        catalog = rule_catalog()
        if self.select is None:
            chosen = {r.code for r in catalog if r.default_enabled or r.runs_on_symptoms}
        else:
            chosen = set(expand_selectors(self.select, "select"))
        chosen |= set(expand_selectors(self.extend_select, "extend-select"))
        chosen -= set(expand_selectors(self.ignore, "ignore"))
        return frozenset(chosen)

    def explicitly_selects(self, code: str) -> bool:
        """Whether `select`/`extend-select` name this rule (by code, prefix, name or ALL)."""
        chosen = expand_selectors(self.select or (), "select") + expand_selectors(self.extend_select, "extend-select")
        return code in chosen

    def codes_for(self, path: str) -> frozenset[str]:
        """The selected codes minus the per-file-ignores that match this path."""
        selected = self._selected_cache()
        if not self.per_file_ignores:
            return selected
        relative = self.relative(path)
        ignored: set[str] = set()
        for pattern, codes in self.per_file_ignores:
            if _glob_match(pattern, relative):
                ignored |= set(expand_selectors(codes, "per-file-ignores"))
        return selected - ignored

    def _selected_cache(self) -> frozenset[str]:
        cached = self.__dict__.get("_selected")
        if cached is None:
            cached = self.selected_codes()
            object.__setattr__(self, "_selected", cached)
        return cached

    def relative(self, path: str | Path) -> str:
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError):
            return p.absolute().as_posix()  # outside the project: absolute, so callers can tell

    def with_overrides(self, **changes: Any) -> "Config":
        clean = {k: v for k, v in changes.items() if v is not None}
        new = replace(self, **clean)
        new.__dict__.pop("_selected", None)
        new.selected_codes()  # validate now: a bad --select is a usage error, not a crash later
        return new


def _glob_match(pattern: str, relative: str) -> bool:
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines([pattern])
    return spec.match_file(relative) or PurePosixPath(relative).match(pattern)


def expand_selectors(selectors: tuple[str, ...] | list[str], key: str, where: str = "") -> list[str]:
    """`ALL`, a full code, a prefix (`TL2`) or a rule name -> the codes it selects.
    `where`: " in FILE" when the selectors come from a config file."""
    from trainlint.registry import catalog

    codes = [r.code for r in catalog()]
    names = {r.name: r.code for r in catalog()}
    out: list[str] = []
    for raw in selectors:
        selector = str(raw).strip()
        if selector.upper() == "ALL":
            out.extend(codes)
            continue
        if selector in names:
            out.append(names[selector])
            continue
        matched = [c for c in codes if c.startswith(selector.upper())]
        if not matched or not selector.upper().startswith("TL"):
            hint = did_you_mean(selector.upper() if selector[:2].upper() == "TL" else selector, [*codes, *names])
            raise ConfigError(f"unknown rule selector {selector!r} in `{key}`{where}{hint or ' (see `trainlint rules`)'}")
        out.extend(matched)
    return out


# loading ---------------------------------------------------------------------
def _toml():
    """tomllib, imported when there is a file to read (~3 ms a run without one saves)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib


def find_config_file(start: Path) -> Path | None:
    """The nearest trainlint.toml, or pyproject.toml that has a [tool.trainlint] table."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for directory in (folder, *folder.parents):
        for name in CONFIG_FILES:
            candidate = directory / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml":
                return candidate
            tomllib = _toml()
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return candidate  # let load_config report the broken file
            if "trainlint" in data.get("tool", {}):
                return candidate
    return None


def load_config(path: Path | None = None, *, start: Path | None = None) -> Config:
    """Read the config at `path`, or the nearest one above `start`; defaults if none."""
    if path is None:
        path = find_config_file(start or Path.cwd())
        if path is None:
            # no config file: the project is the current folder, as for ruff (the cache lives there)
            return Config(root=Path.cwd().resolve())
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    tomllib = _toml()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("trainlint", {}) if path.name == "pyproject.toml" else data
    return config_from_table(table, root=path.parent.resolve(), source=path)


def config_from_table(table: dict[str, Any], *, root: Path, source: Path | None = None) -> Config:
    where = f" in {source}" if source else ""
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in [tool.trainlint]{where}{did_you_mean(unknown[0], KNOWN_KEYS)}")

    def codes(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"`{key}`{where} must be a list of rule codes")
        expand_selectors(value, key, where)
        return tuple(value)

    def patterns(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"`{key}`{where} must be a list of glob patterns")
        return tuple(value)

    per_file: list[tuple[str, tuple[str, ...]]] = []
    raw_pfi = table.get("per-file-ignores", {})
    if not isinstance(raw_pfi, dict):
        raise ConfigError(f"`per-file-ignores`{where} must be a table of glob = [codes]")
    for pattern, value in raw_pfi.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"`per-file-ignores.{pattern}`{where} must be a list of rule codes")
        expand_selectors(value, f"per-file-ignores.{pattern}", where)
        per_file.append((pattern, tuple(value)))

    severity: dict[str, Severity] = {}
    raw_sev = table.get("severity", {})
    if not isinstance(raw_sev, dict):
        raise ConfigError(f"`severity`{where} must be a table of CODE = \"error\"|\"warning\"|\"info\"")
    for selector, level in raw_sev.items():
        try:
            sev = Severity(str(level).lower())
        except ValueError:
            raise ConfigError(f"`severity.{selector}`{where}: {level!r} is not error, warning or info") from None
        for code in expand_selectors([selector], "severity", where):
            severity[code] = sev

    rule_settings = parse_rule_settings(table.get("rules", {}), where)

    select = codes("select") if "select" in table else None
    gitignore = table.get("respect-gitignore", True)
    if not isinstance(gitignore, bool):
        raise ConfigError(f"`respect-gitignore`{where} must be true or false")
    cache_dir = table.get("cache-dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"`cache-dir`{where} must be a path")
    return Config(
        select=select,
        ignore=codes("ignore") + codes("extend-ignore"),
        extend_select=codes("extend-select"),
        per_file_ignores=tuple(per_file),
        exclude=patterns("exclude") if "exclude" in table else DEFAULT_EXCLUDE,
        extend_exclude=patterns("extend-exclude"),
        severity=severity,
        rule_settings=rule_settings,
        respect_gitignore=gitignore,
        cache_dir=cache_dir,
        root=root,
        source=source,
    )


def parse_rule_settings(raw: Any, where: str = "") -> dict[str, dict[str, Any]]:
    """[tool.trainlint.rules.TL201] min-depth = 6 -> {"TL201": {"min-depth": 6}}, checked."""
    from trainlint.registry import rule_info_for as rule_for

    if not isinstance(raw, dict):
        raise ConfigError(f"`rules`{where} must be a table of [rules.CODE] tables")
    settings: dict[str, dict[str, Any]] = {}
    for key, values in raw.items():
        rule = rule_for(key)
        if rule is None:
            from trainlint.registry import catalog

            known = [r.code for r in catalog()] + [r.name for r in catalog()]
            raise ConfigError(f"unknown rule {key!r} in [tool.trainlint.rules]{where}{did_you_mean(key, known)}")
        if not isinstance(values, dict):
            raise ConfigError(f"[tool.trainlint.rules.{key}]{where} must be a table")
        for option, value in values.items():
            if option not in rule.options:
                known = ", ".join(sorted(rule.options)) or "none"
                hint = did_you_mean(option, rule.options)
                raise ConfigError(f"unknown option {option!r} for {rule.code}{where}{hint or f' (options: {known})'}")
            default = rule.options[option]
            if not _same_kind(default, value):
                raise ConfigError(
                    f"option {option!r} of {rule.code}{where} must be {type(default).__name__}, got {value!r}"
                )
        settings[rule.code] = dict(values)
    return settings


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))


def __getattr__(name: str) -> Any:  # `from trainlint.config import tomllib` (the probe's thresholds) still works
    if name == "tomllib":
        return _toml()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
