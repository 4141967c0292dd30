"""SARIF 2.1.0, as GitHub code scanning reads it."""

from __future__ import annotations

import json
from typing import TextIO

from trainlint import __version__
from trainlint.finding import Finding, Severity, docs_url

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_document(findings: list[Finding], sources: dict[str, str] | None = None) -> dict:
    """`sources` (path -> text) lets a notebook's findings point into its JSON text."""
    from trainlint.docs import rule_markdown
    from trainlint.report.places import FilePlaces, cell_prefix
    from trainlint.registry import all_rules

    rules = list(all_rules())
    order = {rule.code: i for i, rule in enumerate(rules)}
    driver_rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.doc().split("\n\n")[1] if "\n\n" in rule.doc() else rule.summary},
            "helpUri": docs_url(rule.code, rule.name),
            "help": {"text": rule.doc(), "markdown": rule_markdown(rule)},
            "defaultConfiguration": {"level": _LEVEL[rule.severity]},
            "properties": {"tags": [rule.__module__.rsplit(".", 2)[-2]]},
        }
        for rule in rules
    ]
    results = []
    places = FilePlaces(sources)
    for f in findings:
        start, end = places.region(f)
        result = {
            "ruleId": f.code,
            "ruleIndex": order.get(f.code, 0),
            "level": _LEVEL[f.severity],
            "message": {"text": f"{cell_prefix(f)}{f.code} {f.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": start.row,
                            "startColumn": start.column,
                            "endLine": end.row,
                            "endColumn": end.column,
                        },
                    }
                }
            ],
        }
        if f.cell is not None:
            result["properties"] = {
                "cell": f.cell,
                "cellRegion": {"startLine": f.location.row, "startColumn": f.location.column,
                               "endLine": f.end_location.row, "endColumn": f.end_location.column},
            }
        if f.fix is not None and f.cell is None:  # a notebook's fix edits its cells, not lines of its JSON
            result["fixes"] = [
                {
                    "description": {"text": f.fix.message},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": e.location.row,
                                        "startColumn": e.location.column,
                                        "endLine": e.end_location.row,
                                        "endColumn": e.end_location.column,
                                    },
                                    "insertedContent": {"text": e.content},
                                }
                                for e in f.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "trainlint",
                        "version": __version__,
                        "informationUri": "https://github.com/trainlint/trainlint",
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }


def write_sarif(findings: list[Finding], out: TextIO, sources: dict[str, str] | None = None) -> None:
    json.dump(sarif_document(findings, sources), out, indent=2, ensure_ascii=False)
    out.write("\n")
