"""Source text -> findings: parse once, build the facts once, run every selected rule.

The engine knows no rule by name: it runs whatever the registry discovered and the
config selected. A file that cannot be read or parsed becomes one TL000 finding; where
only some statements are rejected (Python 2, a half-typed line), the others are analysed
too (trainlint.recover). A rule that raises becomes one TL001 finding; neither stops the run.
"""

from __future__ import annotations

import dataclasses
import gc
import re
from collections.abc import Iterable
from dataclasses import replace

import libcst as cst
from libcst._nodes.base import CSTNode

from trainlint.config import Config
from trainlint.facts import FileFacts
from trainlint.finding import Edit, FileResult, Finding, Fix, Location, Severity
from trainlint.source import FileProblem, PythonView, SyntaxProblem, cpython_tree, decode_source, python_ast, source_encoding  # noqa: F401 - part of the engine's API
from trainlint.index import CallSite, ClassSummary, ProjectIndex
from trainlint.layout import is_test_module, is_test_path
from trainlint.locate import node_ranges
from trainlint.noqa import Suppressions
from trainlint.notebook import findings_in_cells, is_notebook, read_notebook
from trainlint.recover import recover
from trainlint.registry import rules_by_code
from trainlint.reparse import Reparser
from trainlint.rule import Report, Rule, SuppressionFacts

SYNTAX_ERROR = "TL000"
RULE_CRASHED = "TL001"

# Larger files are generated, not written (torch's biggest hand-kept file is 1.4 MB);
# parsing 10 MB takes minutes and would stall an editor or a pre-commit hook.
MAX_FILE_BYTES = 2_000_000
# CPython refuses more than 200 nested brackets; LibCST parses them, so ask CPython.
_DEEP_BRACKETS = re.compile(r"(?:[(\[{]\s*){200}")

# Every LibCST node validates itself when built (CSTNode.__post_init__); the parser's
# own nodes come from its grammar, and checking them again was a quarter of the parse.
# LibCST's source says as much ("avoid validating the tree when parsing a file").
_VALIDATE = CSTNode.__post_init__


def _trust(self: CSTNode) -> None:
    """The parser built this node from its grammar: nothing to validate."""



def refuse_unreadable(source: str) -> None:
    """What no parser is asked about: a text over the size limit, or one with NUL bytes."""
    if len(source) > MAX_FILE_BYTES:
        raise FileProblem(
            f"the file is too large to analyse ({len(source) / 1e6:.1f} MB, the limit is {MAX_FILE_BYTES / 1e6:.0f} MB); "
            "if it is generated, add it to `extend-exclude`"
        )
    if "\x00" in source:
        row = source[: source.index("\x00")].count("\n") + 1
        raise FileProblem("the file contains NUL bytes; it is not Python source", row)


def parse_checked(source: str, path: str = "<source>", reparser: Reparser | None = None, *,
                  notebook_cells: bool = False, view: PythonView | None = None) -> cst.Module:
    """The LibCST tree of a text CPython accepts (a FileProblem otherwise, with CPython's message):
    LibCST's grammar takes some texts `python` refuses (`f(a=1, a=2)`, `def f(x, x)`), and a
    file Python cannot run must get its TL000 from the command line and the editor alike.
    `view`: CPython's verdict on this very text, computed ahead (trainlint.source.python_view)."""
    refuse_unreadable(source)
    if view is not None:
        view.raise_problem()
        tree = None
    else:
        tree = cpython_tree(source, path, notebook_cells=notebook_cells)
    return reparser.parse(source, tree) if reparser is not None else parse(source, python_accepted=True)


def parse(source: str, *, python_accepted: bool = False) -> cst.Module:
    """`python_accepted`: CPython compiled this text, so it has no 200 nested brackets to
    refuse (the scan for them was a hundredth of a run)."""
    refuse_unreadable(source)
    if not python_accepted and _DEEP_BRACKETS.search(source):
        refused = _python_syntax_error(source)
        if refused is not None:
            raise refused
    try:
        CSTNode.__post_init__ = _trust  # type: ignore[method-assign]
        try:
            return cst.parse_module(source)
        finally:
            CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign]
    except cst.ParserSyntaxError as exc:
        raise _python_syntax_error(source) or SyntaxProblem(
            f"syntax error: {exc.message}", exc.editor_line, exc.editor_column
        ) from None
    except RecursionError:
        raise FileProblem("the file is nested too deeply to analyse") from None
    except Exception as exc:  # the native parser has raised other exceptions on odd input
        raise FileProblem(f"cannot parse the file: {exc}") from None


def _python_syntax_error(source: str) -> FileProblem | None:
    """CPython's own message and position ("'(' was never closed"), clearer than LibCST's."""
    try:
        python_ast(source)
    except SyntaxError as exc:
        return SyntaxProblem(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1)
    except (RecursionError, MemoryError, ValueError):
        return None
    return None


def _recovered_findings(findings: list[Finding], unread: frozenset[int]) -> list[Finding]:
    """A recovered file's findings: none on a row that was taken out (what is there was not
    read), and none with a fix. The fix's positions are right (recovery keeps every other
    line as it is), but the file on disk still does not parse, so a fixed file could not be
    checked by parsing it again (trainlint.fix's guard): applying it would be blind."""
    return [
        dataclasses.replace(f, fix=None) if f.fix is not None else f
        for f in findings
        if f.code == SYNTAX_ERROR or f.location.row not in unread
    ]


class Engine:
    """Checks files against the rules a config selects."""

    def __init__(self, config: Config | None = None, *, rules: Iterable[type[Rule]] = ()) -> None:
        """`rules`: extra rule classes, outside the catalog, that run on every file (for tests)."""
        self.config = config or Config()
        catalog = rules_by_code()
        self.rules: dict[str, Rule] = {
            code: catalog[code](self.config.rule_settings.get(code))
            for code in sorted(self.config.selected_codes())
            if code in catalog
        }
        for code, rule in self.rules.items():
            rule.selected = self.config.explicitly_selects(code)
        self.extra_codes = frozenset(rule.code for rule in rules)
        for rule in rules:
            self.rules[rule.code] = rule(self.config.rule_settings.get(rule.code))

    def codes_for(self, path: str) -> frozenset[str]:
        return self.config.codes_for(path) | self.extra_codes

    # ------------------------------------------------------------------------
    def check_source(
        self,
        source: str | bytes,
        path: str,
        *,
        index: ProjectIndex | None = None,
        module_name: str = "",
        package: str = "",
        summarize: bool = False,
        reparser: Reparser | None = None,
        test_code: bool | None = None,
        with_calls: bool = False,
        python_view: PythonView | None = None,
    ) -> FileResult:
        """Findings for one file; with `summarize`, also its classes for the project index, from
        the same parse. Summaries are read against `index`: pass an empty one (as the project
        run does) for the index-free summaries that summarize_source gives. An editor passes
        the document's `reparser` (trainlint.reparse): the statements it parsed for earlier
        versions of the text are not parsed again. `test_code` says whether the file belongs
        to a test suite (trainlint.layout.is_test_path, which the project run computes with
        the file list); None: decided here from the path and the folders around it. With
        `with_calls`, also its calls of the project's functions (FileFacts.call_sites), for
        the index. `python_view`: what CPython says of this text (trainlint.source.python_view),
        when another process computed it ahead; None: asked here. Not for notebooks."""
        # The one place the cyclic collector is switched off (every face checks through here).
        # The tree is some ten thousand objects without cycles (freed by reference counts);
        # the collector walking them mid-check was most of the slowest re-lints (editor p95
        # CPU 145 -> 80-105 ms on a 330-line script). Garbage with cycles waits for the next
        # collection the allocator triggers.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            if test_code is None:
                test_code = is_test_path(path, module_name)
            if is_notebook(path):
                return self._check_notebook(source, path, index=index, module_name=module_name, package=package,
                                            summarize=summarize, reparser=reparser, test_code=test_code,
                                            with_calls=with_calls)
            return self._check_source(source, path, index=index, module_name=module_name, package=package, summarize=summarize,
                                      reparser=reparser, test_code=test_code, with_calls=with_calls,
                                      python_view=python_view)
        finally:
            if collecting:
                gc.enable()

    def _check_source(
        self,
        source: str | bytes,
        path: str,
        *,
        index: ProjectIndex | None,
        module_name: str,
        package: str,
        summarize: bool,
        reparser: Reparser | None = None,
        test_code: bool = False,
        whole_file_noqa: bool | None = None,
        with_calls: bool = False,
        python_view: PythonView | None = None,
    ) -> FileResult:
        result = FileResult(path)
        codes = self.codes_for(path)
        whole_file = False
        try:
            text = decode_source(source) if isinstance(source, bytes) else source
            result.source = text
            suppressions = Suppressions(text)
            whole_file = suppressions.whole_file if whole_file_noqa is None else whole_file_noqa
            if whole_file and not summarize and not with_calls:
                return result
            module = parse_checked(text, path, reparser, notebook_cells=is_notebook(path), view=python_view)
        except FileProblem as problem:
            result.unread = None
            if SYNTAX_ERROR in codes and not whole_file:
                result.findings.append(self._engine_finding(SYNTAX_ERROR, problem.message, path, problem.row, problem.column))
            # CPython's verdict stands (TL000 above); the statements it accepts are analysed
            recovered = recover(text) if isinstance(problem, SyntaxProblem) else None
            if recovered is None:
                return result
            try:
                module = parse_checked(recovered.text, path, reparser, notebook_cells=is_notebook(path))
            except FileProblem:
                return result
            text, result.unread = recovered.text, recovered.blanked
            python_view = None  # it was the whole text's

        try:
            facts = FileFacts(path, text, module, module_name=module_name, package=package, index=index, test_code=test_code,
                              python_classes=python_view.classes if python_view is not None else None)
            if summarize:
                result.summaries = facts.class_summaries()
            if with_calls:
                result.calls = facts.call_sites
        except RecursionError:
            if SYNTAX_ERROR in codes and not whole_file and not result.findings:
                result.findings.append(self._engine_finding(SYNTAX_ERROR, "the file is nested too deeply to analyse", path))
            return result
        if whole_file:
            return result

        reports: list[Report] = []
        crashes: list[Finding] = []
        ran = {code for code in (SYNTAX_ERROR, RULE_CRASHED) if code in codes}
        later: list[Rule] = []
        for code in sorted(codes):
            rule = self.rules.get(code)
            if rule is None or rule.engine_reported or rule.runtime:
                continue
            if rule.reads_suppressions:
                later.append(rule)
                continue
            if rule.runs_on_symptoms and not rule.selected and is_test_module(path):
                continue  # tests train toy models for a few steps: advice on convergence is noise there
            ran.add(code)
            try:
                reports.extend(rule.check(facts))
            except Exception as exc:  # a rule's bug must not hide the other rules' findings
                crashes.extend(self._crash(rule, exc, path, codes))
        findings = self._locate(reports, facts, path) + crashes
        if result.unread:
            findings = _recovered_findings(findings, result.unread)
        result.findings += suppressions.filter(findings)
        if later and suppressions.by_row:
            result.findings += self._check_suppressions(later, suppressions, ran, facts, path, codes)
        result.findings.sort(key=Finding.sort_key)
        return result

    def _crash(self, rule: Rule, exc: Exception, path: str, codes: frozenset[str]) -> list[Finding]:
        if RULE_CRASHED not in codes:
            return []
        message = f"rule {rule.code} ({rule.name}) raised {type(exc).__name__}: {exc}"
        return [self._engine_finding(RULE_CRASHED, message, path)]

    def _check_suppressions(self, rules: list[Rule], suppressions: Suppressions, ran: set[str], facts: FileFacts,
                            path: str, codes: frozenset[str]) -> list[Finding]:
        """The rules about `# noqa` comments, given what each comment suppressed; their own
        findings can be suppressed too (`# noqa: TL002`), which counts as no use."""
        catalog = rules_by_code()
        known = SuppressionFacts(facts.source, tuple(suppressions.comments()), frozenset(ran), frozenset(catalog),
                                 frozenset(code for code, rule in catalog.items() if rule.runtime))
        reports: list[Report] = []
        crashes: list[Finding] = []
        for rule in rules:
            try:
                reports.extend(rule.check_suppressions(known))
            except Exception as exc:
                crashes.extend(self._crash(rule, exc, path, codes))
        found = self._locate(reports, facts, path) + crashes
        return [f for f in found if not suppressions.suppresses(f.code, f.location.row)]

    def _check_notebook(self, source: str | bytes, path: str, **check) -> FileResult:
        """A notebook: its code cells checked as one module (trainlint.notebook), the findings
        placed in their cells. A notebook that cannot be read is one TL000; a cell that does
        not parse is one TL000 on that cell, and the module holds the other cells."""
        try:
            notebook = read_notebook(source)
        except FileProblem as problem:
            result = FileResult(path, self.file_problem(path, problem.message, problem.row, problem.column))
            result.source = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
            return result
        if not notebook.is_python:
            return FileResult(path, source=notebook.raw)
        first = notebook.first_code_cell()
        whole_file = first is not None and Suppressions(first.text).whole_file  # as ruff: in the first code cell
        result = self._check_source(notebook.text, path, whole_file_noqa=whole_file, **check)
        result.summaries = []  # a .py never imports a notebook: its classes stay out of the project index
        result.source = notebook.raw
        if whole_file:
            return result
        findings = findings_in_cells(notebook, result.findings)
        for cell in notebook.cells:
            if cell.problem is not None:
                findings.extend(
                    replace(finding, cell=cell.number)
                    for finding in self.file_problem(path, cell.problem.message, cell.problem.row, cell.problem.column)
                )
        result.findings = sorted(findings, key=Finding.sort_key)
        return result

    def check_syntax_only(self, source: str | bytes, path: str, *, python_view: PythonView | None = None) -> FileResult:
        """For a file the text gate keeps out of the analysis (no sign of torch): only TL000,
        from CPython's own parser, which is several times cheaper than LibCST's (or from its
        `python_view`, computed ahead)."""
        result = FileResult(path)
        if SYNTAX_ERROR not in self.codes_for(path):
            return result
        if is_notebook(path):
            return self._notebook_syntax_only(source, path)
        try:
            text = decode_source(source) if isinstance(source, bytes) else source
            result.source = text
            refuse_unreadable(text)  # the same message as for an analysed file
            if python_view is not None:
                python_view.raise_problem()
            else:
                cpython_tree(text, path)
        except FileProblem as problem:
            result.findings.append(self._engine_finding(SYNTAX_ERROR, problem.message, path, problem.row, problem.column))
        if result.findings:
            result.unread = None  # only CPython's verdict: nothing of the file was analysed
            if Suppressions(result.source or "").whole_file:
                result.findings = []
        return result

    def _notebook_syntax_only(self, source: str | bytes, path: str) -> FileResult:
        try:
            notebook = read_notebook(source)
        except FileProblem as problem:
            return FileResult(path, self.file_problem(path, problem.message, problem.row, problem.column))
        result = FileResult(path, source=notebook.raw)
        first = notebook.first_code_cell()
        if first is not None and Suppressions(first.text).whole_file:
            return result
        for cell in notebook.cells:
            if cell.problem is not None:
                problem = self.file_problem(path, cell.problem.message, cell.problem.row, cell.problem.column)
                result.findings.extend(replace(finding, cell=cell.number) for finding in problem)
        return result

    def summarize_source(self, source: str | bytes, path: str, *, module_name: str = "", package: str = "",
                         test_code: bool = False) -> list[ClassSummary]:
        """The file's nn.Module classes for the project index (as check_source(summarize=True)
        gives them, a file Python refuses read as far as it is recovered); [] if it cannot be
        read. A .py never imports a notebook: a notebook gives none."""
        return self.index_source(source, path, module_name=module_name, package=package, test_code=test_code)[0]

    def index_source(self, source: str | bytes, path: str, *, module_name: str = "", package: str = "",
                     test_code: bool = False) -> tuple[list[ClassSummary], tuple[CallSite, ...]]:
        """What the file gives the project index: its classes (summarize_source) and its calls
        of the project's functions (FileFacts.call_sites), as check_source(summarize=True,
        with_calls=True) gives them."""
        notebook = is_notebook(path)
        try:
            if notebook:
                # A .py never imports a notebook: no classes. Its calls of the project's
                # helpers (`engine.train(model=model, ...)` in a course notebook) are a caller's.
                read = read_notebook(source)
                if not read.is_python:
                    return [], ()
                text = read.text
            else:
                text = decode_source(source) if isinstance(source, bytes) else source
            try:
                module = parse_checked(text, path, notebook_cells=notebook)
            except SyntaxProblem:
                recovered = recover(text)
                if recovered is None:
                    return [], ()
                text = recovered.text
                module = parse_checked(text, path, notebook_cells=notebook)
            facts = FileFacts(path, text, module, module_name=module_name, package=package, test_code=test_code)
            return ([] if notebook else facts.class_summaries()), facts.call_sites
        except (FileProblem, RecursionError):
            return [], ()

    # ------------------------------------------------------------------------
    def _severity(self, code: str) -> Severity:
        override = self.config.severity.get(code)
        if override is not None:
            return override
        rule = self.rules.get(code) or rules_by_code()[code]
        return rule.severity

    def file_problem(self, path: str, message: str, row: int = 1, column: int = 1) -> list[Finding]:
        """A TL000 finding for a file that cannot be analysed, if TL000 is selected for it."""
        if SYNTAX_ERROR not in self.codes_for(path):
            return []
        return [self._engine_finding(SYNTAX_ERROR, message, path, row, column)]

    def _engine_finding(self, code: str, message: str, path: str, row: int = 1, column: int = 1) -> Finding:
        rule = rules_by_code()[code]
        location = Location(row, column)
        return Finding(code, rule.name, self._severity(code), message, path, location, location)

    def _locate(self, reports: list[Report], facts: FileFacts, path: str) -> list[Finding]:
        """Positions are computed only for files that have findings: they cost more than the parse."""
        if not reports:
            return []
        from libcst.metadata import MetadataWrapper, PositionProvider  # ~15 ms of imports a clean file never needs

        try:
            wanted = [r.node for r in reports if r.node is not None]
            wanted += [x.old for r in reports if r.fix for x in r.fix.replacements]
            positions = node_ranges(facts.module, wanted, facts.source) if wanted else {}
        except RecursionError:
            return [self._engine_finding(SYNTAX_ERROR, "the file is nested too deeply to locate findings", path)]
        findings = []
        seen = set()
        for report in reports:
            if report.node is None:
                if report.span is None:
                    continue
                start, end = report.span
            else:
                span = positions.get(report.node)
                if span is None:
                    continue
                start = Location(span.start.line, span.start.column + 1)
                end = Location(span.end.line, span.end.column + 1)
            if report.first_line_only and end.row != start.row:
                line = facts.source.splitlines()[start.row - 1] if start.row <= facts.source.count("\n") + 1 else ""
                end = Location(start.row, len(line.rstrip()) + 1)
            key = (report.code, start, end, report.message)
            if key in seen:
                continue
            seen.add(key)
            rule = self.rules[report.code]
            fix = None
            if report.fix is not None:
                edits = list(report.fix.edits)
                for replacement in report.fix.replacements:
                    old = positions.get(replacement.old)
                    if old is None:
                        break
                    content = replacement.new if isinstance(replacement.new, str) else facts.module.code_for_node(replacement.new)
                    edits.append(
                        Edit(content, Location(old.start.line, old.start.column + 1), Location(old.end.line, old.end.column + 1))
                    )
                else:
                    fix = Fix(report.fix.message, report.fix.applicability, tuple(edits), report.fix.names)
            findings.append(
                Finding(report.code, rule.name, self._severity(report.code), report.message, path, start, end, fix)
            )
        return findings
