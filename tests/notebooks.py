"""Notebooks for tests, written the way Jupyter (nbformat) writes them: one-space indents,
sorted keys, non-ASCII kept, sources as lists of lines, a final newline."""

from __future__ import annotations

import json

#: A model cell whose head is a softmax: fed to CrossEntropyLoss in a later cell, TL302.
MODEL = """\
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)"""


def cell(kind: str, source: str, n: int = 0, **extra) -> dict:
    lines = source.splitlines(keepends=True)
    item = {"cell_type": kind, "id": f"c{n:04x}", "metadata": {}, "source": lines}
    if kind == "code":
        item.update({"execution_count": n or None, "outputs": extra.pop("outputs", [])})
    item.update(extra)
    return item


def notebook(*cells: dict, language: str = "python", nbformat: int = 4, minor: int = 5) -> dict:
    for n, item in enumerate(cells):
        item["id"] = f"cell-{n}"
    return {
        "cells": list(cells),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"},
            "language_info": {"name": language, "version": "3.11.7"},
        },
        "nbformat": nbformat,
        "nbformat_minor": minor,
    }


def dumps(document: dict, indent: int | None = 1) -> str:
    return json.dumps(document, indent=indent, sort_keys=True, ensure_ascii=False) + "\n"


def code_notebook(*sources: str, **kwargs) -> str:
    """A notebook of code cells (a source starting with `md:` is a markdown cell)."""
    cells = [
        cell("markdown", s[3:]) if s.startswith("md:") else cell("code", s, n)
        for n, s in enumerate(sources, start=1)
    ]
    return dumps(notebook(*cells, **kwargs))
