"""Human output: `path:line:col: CODE [severity] message`, with a code frame; color on a terminal only."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, TextIO

from trainlint.finding import Applicability, Finding, Severity

if TYPE_CHECKING:  # rich is imported when findings are printed, not for --statistics or a clean run
    from rich.console import Console

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
CONTEXT_LINES = 1


def _console(out: TextIO, color: bool | None) -> "Console":
    from rich.console import Console

    # color None: rich decides (a terminal; NO_COLOR turns colour off, FORCE_COLOR on)
    return Console(file=out, force_terminal=color, no_color=None if color is None else not color, highlight=False,
                   soft_wrap=True, emoji=False, markup=False)


def write_text(findings: list[Finding], sources: dict[str, str], out: TextIO, *, show_source: bool = True,
               color: bool | None = None, unsafe_fixes: bool = False, fixed: int | None = None) -> None:
    """`unsafe_fixes`: whether --fix would apply the unsafe fixes too (they are offered, not hidden);
    `fixed`: after --fix, how many findings it fixed (the summary says so)."""
    from rich.text import Text

    console = _console(out, color)
    lines_cache: dict[str, list[str]] = {}
    for f in findings:
        head = Text()
        head.append(f"{f.place}:", style="bold")
        head.append(" ")
        head.append(f.code, style=_STYLE[f.severity])
        head.append(f" [{f.severity.value}] ", style=_STYLE[f.severity])
        head.append(f.message)
        if f.fix is not None:
            head.append(" [*]" if applies(f, unsafe_fixes) else " [fixable with --unsafe-fixes]", style="dim")
        console.print(head)
        if show_source and f.path in sources:
            key = f.path if f.cell is None else f"{f.path}:cell {f.cell}"
            if key not in lines_cache:
                lines_cache[key] = _source_lines(f, sources[f.path])
            _frame(console, f, lines_cache[key])
    if findings or fixed:
        console.print(Text(summary(findings, unsafe_fixes=unsafe_fixes, fixed=fixed), style="bold"))


def applies(finding: Finding, unsafe_fixes: bool) -> bool:
    """Whether `--fix` (with `--unsafe-fixes` when it is given) applies this finding's fix."""
    fix = finding.fix
    return fix is not None and (unsafe_fixes or fix.applicability is Applicability.SAFE)


def summary(findings: list[Finding], *, unsafe_fixes: bool = False, fixed: int | None = None) -> str:
    """ruff's closing lines: the count, then what `--fix` would fix and what only `--unsafe-fixes` would."""
    n = len(findings)
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s.value}{'s' if counts[s] != 1 else ''}" for s in Severity if counts[s]]
    if fixed is not None:
        text = f"Found {n + fixed} problem{'s' if n + fixed != 1 else ''} ({fixed} fixed, {n} remaining)."
    else:
        text = f"Found {n} problem{'s' if n != 1 else ''} ({', '.join(parts)})."
    fixable = sum(1 for f in findings if applies(f, unsafe_fixes))
    hidden = sum(1 for f in findings if f.fix is not None and not applies(f, unsafe_fixes))
    hint = f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)"
    if fixable:
        text += f"\n[*] {fixable} fixable with the `--fix` option" + (f" {hint}" if hidden else ".")
    elif hidden:
        text += f"\nNo fixes available {hint}"
    return text


def _source_lines(f: Finding, source: str) -> list[str]:
    """The lines the finding's rows count: the file's, or in a notebook its cell's as written."""
    if f.cell is None:
        return source.splitlines()
    from trainlint.notebook import read_notebook
    from trainlint.source import FileProblem

    try:
        cell = read_notebook(source).cell(f.cell)
    except FileProblem:
        return []
    return cell.source.splitlines() if cell is not None else []


def _frame(console: "Console", f: Finding, lines: list[str]) -> None:
    from rich.text import Text

    first = max(1, f.location.row - CONTEXT_LINES)
    last = min(len(lines), f.location.row + CONTEXT_LINES)
    width = len(str(last))
    for row in range(first, last + 1):
        line = lines[row - 1].expandtabs(4) if row - 1 < len(lines) else ""
        gutter = Text(f"{row:>{width}} │ ", style="blue")
        console.print(gutter + Text(line[:200]))
        if row == f.location.row:
            start = f.location.column - 1
            end = f.end_location.column - 1 if f.end_location.row == row else len(line.rstrip())
            marker = " " * start + "^" * max(1, min(end, 200) - start)
            console.print(Text(" " * width + " │ ", style="blue") + Text(marker, style=_STYLE[f.severity]))
    console.print()


def write_statistics(findings: list[Finding], out: TextIO, *, unsafe_fixes: bool = False) -> None:
    """`COUNT<TAB>CODE<TAB>[*] name`, most frequent first, as ruff's --statistics prints it
    ([*] when `--fix` would fix some of them: safe fixes only, unless `--unsafe-fixes`)."""
    counts: Counter = Counter()
    names: dict[str, str] = {}
    fixable: set[str] = set()
    for f in findings:
        counts[f.code] += 1
        names[f.code] = f.name
        if applies(f, unsafe_fixes):
            fixable.add(f.code)
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"{n}\t{code}\t{'[*] ' if code in fixable else ''}{names[code]}\n")
