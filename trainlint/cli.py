"""The command line: a thin face over the engine. No analysis happens here.

Exit codes (as ruff's): 0 no findings, 1 findings, 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from trainlint import __version__
from trainlint.entry import COLOR_CHOICES, EXIT_USAGE, OUTPUT_FORMATS, run_check

app = typer.Typer(
    name="trainlint",
    help="Find the bugs that keep PyTorch training from converging, before the GPU-day is spent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# typer takes choices as an Enum; its members are entry's table, the fast parser's too
OutputFormat = Enum("OutputFormat", [(name, name) for name in OUTPUT_FORMATS], type=str)


ColorChoice = Enum("ColorChoice", [(name, name) for name in COLOR_CHOICES], type=str)


class ListFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"trainlint {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Find the bugs that keep PyTorch training from converging, before the GPU-day is spent."""


@app.command("version")
def version_command() -> None:
    """Print trainlint's version."""
    typer.echo(f"trainlint {__version__}")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"trainlint: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


@app.command()
def check(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders to check [default: .]")] = None,
    select: Annotated[Optional[list[str]], typer.Option(help="Rule codes or prefixes to enable (ALL for every rule); replaces the configured selection.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Rule codes or prefixes to disable.")] = None,
    extend_select: Annotated[Optional[list[str]], typer.Option(help="Rule codes or prefixes to enable on top of the selection.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--output-format", help="How to print findings.")] = OutputFormat.text,
    statistics: Annotated[bool, typer.Option("--statistics", help="Print the number of findings per rule instead of the findings.")] = False,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Use this pyproject.toml or trainlint.toml instead of discovering one.")] = None,
    show_source: Annotated[bool, typer.Option("--show-source/--no-show-source", help="Show the source lines of each finding (text output).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print findings only, no summary.")] = False,
    output_file: Annotated[Optional[Path], typer.Option("--output-file", "-o", help="Write the report to a file instead of stdout.")] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the safe fixes, then report what is left.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="With --fix/--diff/--fix-only: apply the unsafe fixes too.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print the fixes as a unified diff; write nothing (exit 1 if there is something to fix).")] = False,
    fix_only: Annotated[bool, typer.Option("--fix-only", help="Apply fixes; do not report what is left (exit 0).")] = False,
    add_noqa: Annotated[bool, typer.Option("--add-noqa", help="Add `# noqa: CODE` comments to the lines of all findings.")] = False,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Paths to exclude (gitignore patterns); replaces the configured `exclude`.")] = None,
    extend_exclude: Annotated[Optional[list[str]], typer.Option("--extend-exclude", help="Paths to exclude on top of the configured ones.")] = None,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="With `-` as the path: the file the text on stdin stands for (config, per-file-ignores, project facts as for that path).")] = None,
    color: Annotated[ColorChoice, typer.Option("--color", help="Colour the text output: auto (a terminal, unless NO_COLOR; FORCE_COLOR forces it), always, never.")] = ColorChoice.auto,
    show_files: Annotated[bool, typer.Option("--show-files", help="Print the files that would be checked, and exit.")] = False,
    show_settings: Annotated[bool, typer.Option("--show-settings", help="Print the settings in effect (config file, selection, excludes), and exit.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Worker processes \\[default: all cores; 1: serial].")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache (.trainlint_cache/).")] = False,
    probe_script: Annotated[Optional[Path], typer.Option("--probe", help="Run this script for a few steps and give each finding a verdict (as `trainlint probe`).")] = None,
) -> None:
    """Check Python files for training bugs."""
    if probe_script is not None:
        from trainlint.probe.output import run_cli

        raise typer.Exit(run_cli(probe_script, [], output_format="json" if output_format is OutputFormat.json else "text", config=config))
    raise typer.Exit(run_check(
        paths, select=select, ignore=ignore, extend_select=extend_select, output_format=output_format.value,
        statistics=statistics, exit_zero=exit_zero, config=config, show_source=show_source, quiet=quiet,
        output_file=output_file, fix=fix, unsafe_fixes=unsafe_fixes, diff=diff, fix_only=fix_only,
        add_noqa=add_noqa, jobs=jobs, no_cache=no_cache, exclude=exclude, extend_exclude=extend_exclude,
        stdin_filename=stdin_filename, color=color.value, show_files=show_files, show_settings=show_settings,
    ))


@app.command("rule")
def rule_command(
    code: Annotated[Optional[str], typer.Argument(help="A rule code (TL202) or name (module-created-in-forward).")] = None,
    all_rules: Annotated[bool, typer.Option("--all", help="Print the docs of every rule.")] = False,
) -> None:
    """Explain a rule: what it finds, why it hurts training, how to fix it, with examples."""
    from trainlint.docs import all_rules_markdown, rule_markdown
    from trainlint.registry import rule_for

    if all_rules:
        typer.echo(all_rules_markdown(), nl=False)
        return
    if not code:
        raise _fail("give a rule code, e.g. `trainlint rule TL202`, or --all")
    rule = rule_for(code)
    if rule is None:
        raise _fail(f"unknown rule {code!r} (see `trainlint rules`)")
    typer.echo(rule_markdown(rule), nl=False)


@app.command("rules")
def rules_command(
    output_format: Annotated[ListFormat, typer.Option("--output-format", help="text table, json, or markdown.")] = ListFormat.text,
    full: Annotated[bool, typer.Option("--full", help="With markdown: every rule's full docs, as docs/rules.md.")] = False,
) -> None:
    """List every rule: code, name, severity, on by default, fixable."""
    import json

    from trainlint.docs import all_rules_markdown, rules_table_markdown, table_summary
    from trainlint.registry import all_rules

    rules = all_rules()
    if output_format is ListFormat.json:
        typer.echo(json.dumps([
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity.value,
                "default": r.default_enabled,
                "fix": r.fix_applicability.value if r.fix_applicability else None,
                "summary": r.summary,
                "runtime": r.runtime,
                "options": r.options,
            }
            for r in rules
        ], indent=2))
        return
    if output_format is ListFormat.markdown:
        typer.echo(all_rules_markdown() if full else rules_table_markdown(), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("code", "name", "severity", "default", "fix", "what it finds"):
        table.add_column(column, no_wrap=column != "what it finds")
    for r in rules:
        table.add_row(r.code, r.name, r.severity.value, r.default_state(),
                      r.fix_applicability.value if r.fix_applicability else "", table_summary(r))
    Console(highlight=False).print(table)


class ProbeFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def probe(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="The training script; its own arguments go after `--`.")],
    steps: Annotated[int, typer.Option(help="Stop after this many optimizer steps.")] = 20,
    timeout: Annotated[float, typer.Option(help="Stop after this many seconds (torch import included).")] = 300.0,
    output_format: Annotated[ProbeFormat, typer.Option("--output-format", help="text or json.")] = ProbeFormat.text,
    plot: Annotated[Optional[Path], typer.Option(help="Write a gradient-flow plot (PNG) here.")] = None,
    nproc_per_node: Annotated[Optional[int], typer.Option(help="Launch with torchrun and this many ranks.")] = None,
    threshold: Annotated[Optional[list[str]], typer.Option(help="Override a probe threshold: KEY=VALUE (see docs/probe.md).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Use this pyproject.toml or trainlint.toml.")] = None,
    through_eval: Annotated[bool, typer.Option("--through-eval", help="Run on past --steps to the first evaluation pass and 3 training steps after it (eval-mode rules TL501/TL502).")] = False,
) -> None:
    """Run SCRIPT for a few optimizer steps under instrumentation: measure, and confirm the static findings."""
    from trainlint.probe.output import run_cli

    raise typer.Exit(run_cli(script, list(ctx.args), steps=steps, timeout=timeout, output_format=output_format.value,
                             plot=plot, nproc_per_node=nproc_per_node, thresholds=threshold, config=config,
                             through_eval=through_eval))


@app.command("server")
def server_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="Use this pyproject.toml or trainlint.toml instead of discovering one.")] = None,
) -> None:
    """Start the language server on stdin/stdout, for editors (VS Code, Neovim, Helix, ...)."""
    from trainlint.server import serve

    serve(config)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
