"""Run a rule's examples through the real engine; used by the test suite and by rule authors."""

from __future__ import annotations

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
    for summary in engine.summarize_source(source, example.filename, module_name=name, package=package):
        index.add(summary)
    result = engine.check_source(source, example.filename, index=index, module_name=name, package=package)
    return [f for f in result.findings if every_rule or f.code == rule.code]
