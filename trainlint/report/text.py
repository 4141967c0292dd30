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

    return Console(file=out, force_terminal=color, no_color=color is False, highlight=False, soft_wrap=True,
                   emoji=False, markup=False)


def write_text(findings: list[Finding], sources: dict[str, str], out: TextIO, *, show_source: bool = True,
               color: bool | None = None) -> None:
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
            head.append(" [*]" if f.fix.applicability.value == "safe" else " [fixable with --unsafe-fixes]", style="dim")
        console.print(head)
        if show_source and f.path in sources:
            key = f.path if f.cell is None else f"{f.path}:cell {f.cell}"
            if key not in lines_cache:
                lines_cache[key] = _source_lines(f, sources[f.path])
            _frame(console, f, lines_cache[key])
    if findings:
        counts = Counter(f.severity for f in findings)
        parts = [f"{counts[s]} {s.value}{'s' if counts[s] != 1 else ''}" for s in Severity if counts[s]]
        fixable = sum(1 for f in findings if f.fix is not None)
        summary = f"Found {len(findings)} problem{'s' if len(findings) != 1 else ''} ({', '.join(parts)})."
        if fixable:
            summary += f" [*] {fixable} fixable with `trainlint check --fix`."
        console.print(Text(summary, style="bold"))


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


def write_statistics(findings: list[Finding], out: TextIO) -> None:
    """`COUNT<TAB>CODE<TAB>[*] name`, most frequent first, as ruff's --statistics prints it
    ([*] when `--fix` would fix some of them: safe fixes only)."""
    counts: Counter = Counter()
    names: dict[str, str] = {}
    fixable: set[str] = set()
    for f in findings:
        counts[f.code] += 1
        names[f.code] = f.name
        if f.fix is not None and f.fix.applicability is Applicability.SAFE:
            fixable.add(f.code)
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"{n}\t{code}\t{'[*] ' if code in fixable else ''}{names[code]}\n")
