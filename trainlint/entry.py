"""The `trainlint` executable: `check` without typer/click/rich when it can.

A warm `trainlint check` is mostly interpreter start and imports: parsing its argv
here (the plain options only) and running the check without importing typer, click
or rich saves ~40% of it. Anything this parser does not know for sure (help, fixes,
the probe, `--opt=...` forms it does not handle, a bad value, another command) goes
to the typer app in trainlint.cli, which gives the same behaviour and messages.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, TextIO

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
OUTPUT_FORMATS = ("text", "concise", "json", "sarif", "github")


def _split(values: Optional[list[str]]) -> Optional[tuple[str, ...]]:
    """`--select TL1,TL2 --select TL3` -> ("TL1", "TL2", "TL3")."""
    if values is None:
        return None
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _echo(message: str, file: TextIO) -> None:
    file.write(message + "\n")
    file.flush()


def _error(message: str) -> int:
    _echo(f"trainlint: error: {message}", sys.stderr)
    return EXIT_USAGE


def load_effective_config(config_path: Optional[Path], paths: list[Path], **overrides):
    from trainlint.config import load_config

    start = paths[0] if paths else Path.cwd()
    config = load_config(config_path, start=start if start.exists() else Path.cwd())
    return config.with_overrides(**overrides)


def run_check(
    paths: Optional[list[Path]] = None,
    *,
    select: Optional[list[str]] = None,
    ignore: Optional[list[str]] = None,
    extend_select: Optional[list[str]] = None,
    output_format: str = "text",
    statistics: bool = False,
    exit_zero: bool = False,
    config: Optional[Path] = None,
    show_source: bool = True,
    quiet: bool = False,
    output_file: Optional[Path] = None,
    fix: bool = False,
    unsafe_fixes: bool = False,
    diff: bool = False,
    fix_only: bool = False,
    add_noqa: bool = False,
    jobs: Optional[int] = None,
    no_cache: bool = False,
) -> int:
    """`trainlint check` after parsing: returns the exit code."""
    from trainlint.config import ConfigError
    from trainlint.project import PathNotFound, check_paths

    targets = paths or [Path(".")]
    try:
        cfg = load_effective_config(config, targets, select=_split(select))
        # --ignore and --extend-select add to what the config says, as in ruff
        if ignore:
            cfg = cfg.with_overrides(ignore=cfg.ignore + _split(ignore))
        if extend_select:
            cfg = cfg.with_overrides(extend_select=cfg.extend_select + _split(extend_select))
        run = check_paths(targets, cfg, jobs=jobs, cache=not no_cache)
    except ConfigError as exc:
        return _error(str(exc))
    except PathNotFound as exc:
        return _error(f"{exc}: no such file or directory")
    if fix or fix_only or diff or add_noqa:
        from trainlint.fix import run_fix_options

        done = run_fix_options(run, fix_only=fix_only, diff=diff, add_noqa=add_noqa, unsafe=unsafe_fixes)
        if done is not None:
            return done

    findings = run.findings
    plain = output_format in ("text", "concise")
    stream = output_file.open("w", encoding="utf-8") if output_file else sys.stdout
    try:
        if statistics:
            from trainlint.report.text import write_statistics

            write_statistics(findings, stream)
        elif quiet and plain:
            from trainlint.report.text import write_text

            write_text(findings, run.sources(), stream, show_source=False, color=None if not output_file else False)
        elif findings or not plain:
            from trainlint.report import write_report

            write_report(output_format, findings, run.sources(), stream, show_source=show_source,
                         color=False if output_file else None)
        if not findings and plain and not quiet and not statistics:
            _echo("All checks passed!", stream)
    finally:
        if output_file:
            stream.close()
    return EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN


# The `check` options this parser takes: flag -> (keyword, value); option -> (keyword, kind).
_FLAGS = {
    "--statistics": ("statistics", True),
    "--exit-zero": ("exit_zero", True),
    "--show-source": ("show_source", True),
    "--no-show-source": ("show_source", False),
    "--quiet": ("quiet", True),
    "-q": ("quiet", True),
    "--no-cache": ("no_cache", True),
}
_OPTIONS = {
    "--select": ("select", "list"),
    "--ignore": ("ignore", "list"),
    "--extend-select": ("extend_select", "list"),
    "--output-format": ("output_format", "format"),
    "--config": ("config", "path"),
    "--output-file": ("output_file", "path"),
    "-o": ("output_file", "path"),
    "--jobs": ("jobs", "jobs"),
    "-j": ("jobs", "jobs"),
}


def parse_check(args: list[str]) -> Optional[dict]:
    """The keywords of run_check for `check ARGS`, or None when typer must parse them."""
    kwargs: dict = {}
    paths: list[Path] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            paths.append(Path(arg))
            continue
        if arg in _FLAGS:
            key, value = _FLAGS[arg]
            kwargs[key] = value
            continue
        name, eq, value = arg.partition("=")
        if name not in _OPTIONS or (eq and not name.startswith("--")):
            return None
        if not eq:
            if i >= len(args) or args[i].startswith("-"):
                return None  # click's message, or a value that looks like an option
            value = args[i]
            i += 1
        key, kind = _OPTIONS[name]
        if kind == "list":
            kwargs.setdefault(key, []).append(value)
        elif kind == "format":
            if value not in OUTPUT_FORMATS:
                return None
            kwargs[key] = value
        elif kind == "path":
            kwargs[key] = Path(value)
        else:
            if not value.isdigit() or int(value) < 1:
                return None
            kwargs[key] = int(value)
    kwargs["paths"] = paths or None
    return kwargs


def main() -> None:
    try:
        args = sys.argv[1:]
        kwargs = parse_check(args[1:]) if args[:1] == ["check"] else None
        if kwargs is None:
            # The one import back into the command line (trainlint.cli imports run_check from
            # here): what this parser is not sure of goes to the typer app. Lazy, so the fast
            # path never loads typer.
            from trainlint.cli import main as typer_main

            typer_main()
            return
        code = run_check(**kwargs)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `trainlint check | head`: as click, exit 1 quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    main()
