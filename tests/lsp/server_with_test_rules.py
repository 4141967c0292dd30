"""`trainlint server` with two test-only rules added to the catalog, the way a rule
plugin would add them: TL990 raises on a marked file, TL991 reports `momentun` with a
safe fix. Started by tests/test_server.py as the server subprocess; never installed."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

import trainlint.registry as registry
from trainlint.finding import Applicability, Severity
from trainlint.rule import Replacement, Report, Rule

DOCS = """
    ## What it does
    A rule that exists only in the language server's tests.

    ## Why is this bad?
    It is not.

    ## How to fix
    Nothing to fix.
    """


class RaisingRule(Rule):
    __doc__ = DOCS
    code = "TL990"
    name = "test-raises"
    severity = Severity.ERROR
    summary = "raises on files that mention explode_here"

    def check(self, facts) -> Iterator[Report]:
        if "explode_here" in facts.source:
            raise RuntimeError("the test rule exploded")
        return iter(())


class FixableRule(Rule):
    __doc__ = DOCS
    code = "TL991"
    name = "test-fixable"
    severity = Severity.WARNING
    summary = "`momentun` is a typo for `momentum`"
    fix_applicability = Applicability.SAFE

    def check(self, facts) -> Iterator[Report]:
        for node in _names(facts.module, "momentun"):
            yield self.report(node, "`momentun` is a typo", fix=self.fix("Rename to `momentum`", Replacement(node, "momentum")))


def _names(module: cst.Module, wanted: str) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Visitor(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == wanted:
                found.append(node)

    module.visit(Visitor())
    return found


def _with_test_rules(real=registry.all_rules):
    def all_rules():
        return tuple(sorted((*real(), RaisingRule, FixableRule), key=lambda r: r.code))

    return all_rules


if __name__ == "__main__":
    registry.all_rules = _with_test_rules()
    from trainlint.server import serve

    serve()
