"""GitHub Actions workflow commands: annotations on the pull request's diff."""

from __future__ import annotations

from typing import TextIO

from trainlint.finding import Finding, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def write_github(findings: list[Finding], out: TextIO, sources: dict[str, str] | None = None) -> None:
    """`sources` (path -> text) lets a notebook's findings point into its JSON text, the lines
    a pull request's diff shows."""
    from trainlint.report.places import FilePlaces, cell_prefix

    places = FilePlaces(sources)
    for f in findings:
        start, end = places.region(f)
        props = (
            f"file={_escape_property(f.path)},line={start.row},col={start.column},"
            f"endLine={end.row},endColumn={end.column},"
            f"title={_escape_property(f'{f.code} {f.name}')}"
        )
        out.write(f"::{_LEVEL[f.severity]} {props}::{_escape_data(f'{cell_prefix(f)}{f.code} {f.message}')}\n")
