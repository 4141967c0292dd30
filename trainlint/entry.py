"""The `trainlint` executable: `check` without typer/click/rich when it can.

A warm `trainlint check` is mostly interpreter start and imports: parsing its argv
here (the plain options only) and running the check without importing typer, click
or rich saves ~40% of it. Anything this parser does not know for sure (help, fixes,
the probe, `--opt=...` forms it does not handle, a bad value, another command) goes
to the typer app in trainlint.cli, which gives the same behaviour and messages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, TextIO

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
OUTPUT_FORMATS = ("text", "concise", "json", "sarif", "github")
COLOR_CHOICES = ("auto", "always", "never")


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
    while not start.exists() and start != start.parent:  # --stdin-filename of a file not written yet
        start = start.parent if start.is_absolute() or str(start.parent) != "." else Path.cwd()
    config = load_config(config_path, start=start if start.exists() else Path.cwd())
    return config.with_overrides(**overrides)


def color_for(choice: str, to_file: bool) -> Optional[bool]:
    """--color: always/never decide. auto: a report written to a file has none; NO_COLOR (set
    and not empty) turns it off, else FORCE_COLOR on; else rich asks whether stdout is a terminal."""
    import os

    if choice == "always":
        return True
    if choice == "never" or to_file or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return None


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
    exclude: Optional[list[str]] = None,
    extend_exclude: Optional[list[str]] = None,
    stdin_filename: Optional[str] = None,
    color: str = "auto",
    show_files: bool = False,
    show_settings: bool = False,
) -> int:
    """`trainlint check` after parsing: returns the exit code."""
    from trainlint.config import ConfigError
    from trainlint.project import PathNotFound, check_paths

    targets = paths or [Path(".")]
    stdin = [str(p) for p in targets] == ["-"]
    if "-" in [str(p) for p in targets] and not stdin:
        return _error("`-` (stdin) cannot be checked together with other paths")
    if stdin and add_noqa:
        return _error("--add-noqa cannot be used with stdin")
    try:
        cfg = load_effective_config(config, [Path(stdin_filename)] if stdin and stdin_filename else
                                    ([] if stdin else targets), select=_split(select))
        # --ignore and --extend-select add to what the config says, as in ruff
        if ignore:
            cfg = cfg.with_overrides(ignore=cfg.ignore + _split(ignore))
        if extend_select:
            cfg = cfg.with_overrides(extend_select=cfg.extend_select + _split(extend_select))
        if exclude:
            cfg = cfg.with_overrides(exclude=_split(exclude))
        if extend_exclude:
            cfg = cfg.with_overrides(extend_exclude=cfg.extend_exclude + _split(extend_exclude))
        if show_settings:
            from trainlint.settings import settings_text

            one = Path(stdin_filename) if stdin and stdin_filename else (
                targets[0] if len(targets) == 1 and targets[0].is_file() else None)
            _echo(settings_text(cfg, one), sys.stdout)
            return EXIT_CLEAN
        if show_files:
            from trainlint.project import discover

            if not stdin:
                for path in sorted(discover(targets, cfg), key=str):
                    _echo(str(path.resolve()), sys.stdout)
            return EXIT_CLEAN
        if stdin:
            from trainlint.stdin import check_stdin

            return _report_stdin(check_stdin(sys.stdin.buffer.read(), stdin_filename, cfg, cache=not no_cache),
                                 output_format=output_format, statistics=statistics, exit_zero=exit_zero,
                                 show_source=show_source, quiet=quiet, output_file=output_file, fix=fix,
                                 unsafe_fixes=unsafe_fixes, diff=diff, fix_only=fix_only, color=color)
        run = check_paths(targets, cfg, jobs=jobs, cache=not no_cache)
    except ConfigError as exc:
        return _error(str(exc))
    except PathNotFound as exc:
        return _error(f"{exc}: no such file or directory")
    fixed = None
    if fix or fix_only or diff or add_noqa:
        from trainlint.fix import run_fix_options

        done = run_fix_options(run, fix_only=fix_only, diff=diff, add_noqa=add_noqa, unsafe=unsafe_fixes)
        if done is not None:
            return done
        fixed = sum(o.applied for o in run.fixes)
    return _report(run.findings, run.sources(), output_format=output_format, statistics=statistics,
                   exit_zero=exit_zero, show_source=show_source, quiet=quiet, output_file=output_file,
                   color=color, unsafe_fixes=unsafe_fixes, fixed=fixed)


def _report(findings, sources: dict, *, output_format: str, statistics: bool, exit_zero: bool, show_source: bool,
            quiet: bool, output_file: Optional[Path], color: str, unsafe_fixes: bool, fixed: Optional[int],
            stream: Optional[TextIO] = None) -> int:
    """Print the findings as asked; the exit code they give."""
    plain = output_format in ("text", "concise")
    colored = color_for(color, output_file is not None)
    out = output_file.open("w", encoding="utf-8") if output_file else (stream or sys.stdout)
    try:
        if statistics:
            from trainlint.report.text import write_statistics

            write_statistics(findings, out, unsafe_fixes=unsafe_fixes)
        elif quiet and plain:
            from trainlint.report.text import write_text

            write_text(findings, sources, out, show_source=False, color=colored)
        elif findings or fixed or not plain:
            from trainlint.report import write_report

            write_report(output_format, findings, sources, out, show_source=show_source, color=colored,
                         **({"unsafe_fixes": unsafe_fixes, "fixed": fixed} if plain else {}))
        if not findings and not fixed and plain and not quiet and not statistics:
            _echo("All checks passed!", out)
    finally:
        if output_file:
            out.close()
    return EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN


def _report_stdin(checked, *, fix: bool, unsafe_fixes: bool, diff: bool, fix_only: bool, **options) -> int:
    """As ruff: with --fix the fixed text goes to stdout and the findings left to stderr;
    with --diff the diff goes to stdout."""
    result = checked.result
    sources = {result.path: checked.text} if checked.text is not None else {}
    if not (fix or fix_only or diff) or checked.text is None:
        if fix or fix_only:  # the text cannot be fixed: give it back as it came
            sys.stdout.write(checked.text or "")
        return _report(result.findings, sources, fixed=None, unsafe_fixes=unsafe_fixes,
                       stream=sys.stderr if (fix or fix_only) else None, **options)
    from trainlint.fix import fix_text, unified_diff

    outcome = fix_text(checked.engine, checked.text, result.path, unsafe=unsafe_fixes, index=checked.index,
                       module_name=checked.module_name, package=checked.package, first=result)
    if outcome.problem:
        _echo(f"trainlint: warning: {outcome.problem}", sys.stderr)
    if diff:
        sys.stdout.write(unified_diff(result.path, outcome.original, outcome.fixed))
        return EXIT_FINDINGS if outcome.changed else EXIT_CLEAN
    sys.stdout.write(outcome.fixed)
    sys.stdout.flush()
    if fix_only:
        return EXIT_CLEAN
    left = outcome.result.findings if outcome.result is not None else result.findings
    return _report(left, {result.path: outcome.fixed}, fixed=outcome.applied, unsafe_fixes=unsafe_fixes,
                   stream=sys.stderr, **options)


# The `check` options this parser takes: flag -> (keyword, value); option -> (keyword, kind).
_FLAGS = {
    "--statistics": ("statistics", True),
    "--exit-zero": ("exit_zero", True),
    "--show-source": ("show_source", True),
    "--no-show-source": ("show_source", False),
    "--quiet": ("quiet", True),
    "-q": ("quiet", True),
    "--no-cache": ("no_cache", True),
    "--show-files": ("show_files", True),
    "--show-settings": ("show_settings", True),
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
    "--exclude": ("exclude", "list"),
    "--extend-exclude": ("extend_exclude", "list"),
    "--stdin-filename": ("stdin_filename", "text"),
    "--color": ("color", "color"),
}


def parse_check(args: list[str]) -> Optional[dict]:
    """The keywords of run_check for `check ARGS`, or None when typer must parse them."""
    kwargs: dict = {}
    paths: list[Path] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-" or not arg.startswith("-"):
            paths.append(Path(arg))
            continue
        if arg in _FLAGS:
            key, value = _FLAGS[arg]
            kwargs[key] = value
            continue
        name, eq, value = arg.partition("=")
        if name.startswith("-j") and name[2:].isdigit() and not eq:
            name, eq, value = "-j", "=", name[2:]  # `-j4`, as click reads a short option's attached value
        elif name not in _OPTIONS or (eq and not name.startswith("--")):
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
        elif kind == "color":
            if value not in COLOR_CHOICES:
                return None
            kwargs[key] = value
        elif kind == "text":
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
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `trainlint check | head`: as click, exit 1 quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    # Everything is written (the report, the cache, the fixes) and the workers are gone: what
    # is left is tearing down the heap object by object (LibCST, the rules, the trees), a
    # twenty-fifth of a cold run for nothing. As mypy does, the process ends here.
    os._exit(code)


if __name__ == "__main__":
    main()
