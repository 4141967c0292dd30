"""Output formats. Each writer takes the findings (and sources, for code frames) and a stream.

The formats' names are one table, trainlint.entry.OUTPUT_FORMATS (the option parsers read it).
"""

from __future__ import annotations

from typing import TextIO

from trainlint.finding import Finding


def write_report(fmt: str, findings: list[Finding], sources: dict[str, str], out: TextIO, *, show_source: bool = True,
                 color: bool | None = None, **summary) -> None:
    """`summary`: write_text's unsafe_fixes and fixed, for the closing lines of the text formats."""
    if fmt == "json":
        from trainlint.report.json import write_json

        write_json(findings, out)
    elif fmt == "sarif":
        from trainlint.report.sarif import write_sarif

        write_sarif(findings, out, sources)
    elif fmt == "github":
        from trainlint.report.github import write_github

        write_github(findings, out, sources)
    else:
        from trainlint.report.text import write_text

        write_text(findings, sources, out, show_source=show_source and fmt == "text", color=color, **summary)
