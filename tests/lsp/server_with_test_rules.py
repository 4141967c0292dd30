"""`trainlint server` with three test-only rules added to the catalog, the way a rule
plugin would add them: TL990 raises on a marked file, TL991 reports `momentun` with a
safe fix, TL992 reports `shaky` with a fix over two places (the name and the first
statement, as an added import) whose text does not parse. Started by tests/test_server.py as the server subprocess; never installed."""

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


class UnparsableFixRule(Rule):
    __doc__ = DOCS
    code = "TL992"
    name = "test-unparsable-fix"
    severity = Severity.WARNING
    summary = "`shaky` has a fix that gives code that does not parse"
    fix_applicability = Applicability.SAFE

    def check(self, facts) -> Iterator[Report]:
        first = facts.module.body[0]  # the tests write `shaky` after the first statement
        for node in _names(facts.module, "shaky"):
            yield self.report(node, "`shaky` is shaky", fix=self.fix(
                "Steady it", Replacement(node, "steady"),
                Replacement(first, "import (\n" + facts.module.code_for_node(first).rstrip("\n"))))


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
        return tuple(sorted((*real(), RaisingRule, FixableRule, UnparsableFixRule), key=lambda r: r.code))

    return all_rules


if __name__ == "__main__":
    registry.all_rules = _with_test_rules()
    from trainlint.server import serve

    serve()
