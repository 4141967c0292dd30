"""Human output: `path:line:col: CODE [severity] message`, with a code frame; color on a terminal only."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from trainlint.finding import Applicability, Finding, Severity

if TYPE_CHECKING:  # rich is imported when findings are printed on a terminal (or with colour asked for)
    from rich.console import Console

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
CONTEXT_LINES = 1


# A line of the report: pieces of text, each with its rich style ("" for none).
Line = list[tuple[str, str]]

# What rich's Text drops from what it prints (rich.control.strip_control_codes): BEL, BS, VT, FF, CR.
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


def _console(out: TextIO, color: bool | None) -> "Console":
    from rich.console import Console

    # color None: rich decides (a terminal; NO_COLOR turns colour off, FORCE_COLOR on)
    return Console(file=out, force_terminal=color, no_color=None if color is None else not color, highlight=False,
                   soft_wrap=True, emoji=False, markup=False)


def _styled(out: TextIO, color: bool | None) -> bool:
    """Whether rich would style the output (Console.is_terminal): else the lines are written as
    they are, and rich (a twentieth of a cold run to import) is not needed."""
    if color is not None:
        return color
    if "IPython" in sys.modules or os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
        return True  # rich's own rules for these (a notebook, the environment's word)
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def _writer(out: TextIO, color: bool | None) -> Callable[..., None]:
    """`write(line, base="")` writes a Line and its newline, `base` the style of the whole line
    under its pieces' own: through rich on a terminal, as plain text elsewhere (the same
    characters rich would write there)."""
    if not _styled(out, color):
        def write(line: Line, base: str = "") -> None:
            out.write("".join(text for text, _ in line).translate(_CONTROL) + "\n")

        return write
    from rich.text import Text

    console = _console(out, color)

    def write_styled(line: Line, base: str = "") -> None:
        text = Text(style=base)
        for piece, style in line:
            text.append(piece, style=style or None)
        console.print(text)

    return write_styled


def write_text(findings: list[Finding], sources: dict[str, str], out: TextIO, *, show_source: bool = True,
               color: bool | None = None, unsafe_fixes: bool = False, fixed: int | None = None) -> None:
    """`unsafe_fixes`: whether --fix would apply the unsafe fixes too (they are offered, not hidden);
    `fixed`: after --fix, how many findings it fixed (the summary says so)."""
    write = _writer(out, color)
    lines_cache: dict[str, list[str]] = {}
    for f in findings:
        style = _STYLE[f.severity]
        head: Line = [(f"{f.place}:", "bold"), (" ", ""), (f.code, style), (f" [{f.severity.value}] ", style), (f.message, "")]
        if f.fix is not None:
            head.append((" [*]" if applies(f, unsafe_fixes) else " [fixable with --unsafe-fixes]", "dim"))
        write(head)
        if show_source and f.path in sources:
            key = f.path if f.cell is None else f"{f.path}:cell {f.cell}"
            if key not in lines_cache:
                lines_cache[key] = _source_lines(f, sources[f.path])
            _frame(write, f, lines_cache[key])
    if findings or fixed:
        write([(summary(findings, unsafe_fixes=unsafe_fixes, fixed=fixed), "bold")])


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


def _frame(write: Callable[..., None], f: Finding, lines: list[str]) -> None:
    first = max(1, f.location.row - CONTEXT_LINES)
    last = min(len(lines), f.location.row + CONTEXT_LINES)
    width = len(str(last))
    for row in range(first, last + 1):
        line = lines[row - 1].expandtabs(4) if row - 1 < len(lines) else ""
        write([(f"{row:>{width}} │ ", ""), (line[:200], "")], base="blue")
        if row == f.location.row:
            start = f.location.column - 1
            end = f.end_location.column - 1 if f.end_location.row == row else len(line.rstrip())
            marker = " " * start + "^" * max(1, min(end, 200) - start)
            write([(" " * width + " │ ", ""), (marker, _STYLE[f.severity])], base="blue")
    write([])


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
