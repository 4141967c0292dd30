"""Run a rule's examples through the real engine; used by the test suite and by rule authors."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.finding import Finding
from trainlint.index import ProjectIndex
from trainlint.rule import Example, Rule


def _module_name(path: str) -> tuple[str, str]:
    parts = PurePosixPath(path).with_suffix("").parts
    return ".".join(parts), ".".join(parts[:-1])


def check_example(rule: type[Rule], example: Example, *, every_rule: bool = False) -> list[Finding]:
    """Findings of `rule` alone on an example, with its other project files indexed; with
    `every_rule`, the findings of every rule (`--select ALL`) instead."""
    # a rule about `# noqa` comments judges what the other rules reported: run them all
    select = ("ALL",) if every_rule or rule.reads_suppressions else (rule.code,)
    config = Config(select=select, rule_settings={rule.code: example.settings} if example.settings else {})
    engine = Engine(config)
    index = ProjectIndex()
    for path, code in example.project_files.items():
        name, package = _module_name(path)
        for summary in engine.summarize_source(code, path, module_name=name, package=package):
            index.add(summary)
    name, package = _module_name(example.filename)
    source = example.source
    if example.filename.endswith(".ipynb"):
        source = as_notebook(source)  # one code cell: its rows are the example's lines
    else:
        for summary in engine.summarize_source(source, example.filename, module_name=name, package=package):
            index.add(summary)
    result = engine.check_source(source, example.filename, index=index, module_name=name, package=package)
    return [f for f in result.findings if every_rule or f.code == rule.code]


def as_notebook(code: str) -> str:
    """A notebook whose one code cell holds `code`: how an example shaped like a notebook's
    cells (`filename="train.ipynb"`) is checked."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": code.splitlines(keepends=True)}
    notebook = {"cells": [cell], "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1) + "\n"
