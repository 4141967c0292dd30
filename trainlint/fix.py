"""Applying fixes: text edits from findings, checked by re-parsing before anything is written.

A fix never loses code. Each pass applies the non-overlapping fixes of one check, then
the result is parsed again and checked again: if it does not parse, or a fixed finding
is reported again at the same place, the file keeps its original text and the caller
gets a diagnostic. Passes repeat until nothing is left to fix (at most MAX_PASSES), so
fixing a second time changes nothing. Writes are atomic and keep the file's encoding,
BOM, line endings and permissions.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainlint.finding import Applicability, Edit, Finding, Location

if TYPE_CHECKING:
    from trainlint.engine import Engine, FileResult
    from trainlint.index import ProjectIndex
    from trainlint.run import RunResult

MAX_PASSES = 5

# LibCST (and so every Location) counts \r\n, \r and \n as line ends.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _offsets(source: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_END.finditer(source)]


def _offset(starts: list[int], location: Location) -> int:
    return starts[location.row - 1] + location.column - 1


def newline_of(source: str) -> str:
    match = _LINE_END.search(source)
    return match.group() if match else "\n"


def _spans(starts: list[int], edits: Iterable[Edit]) -> list[tuple[int, int, str]]:
    return [(_offset(starts, e.location), _offset(starts, e.end_location), e.content) for e in edits]


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits (later ones first, so earlier offsets stay valid).

    An edit that overlaps one already applied is skipped; the next fix pass gets it.
    """
    spans = sorted(_spans(_offsets(source), edits), key=lambda span: (span[0], span[1]), reverse=True)
    out = source
    lowest = len(source) + 1
    for start, end, content in spans:
        if end > lowest:
            continue
        out = out[:start] + content + out[end:]
        lowest = start
    return out


def wanted(finding: Finding, unsafe: bool) -> bool:
    return finding.fix is not None and (unsafe or finding.fix.applicability is Applicability.SAFE)


def _overlap(start: int, end: int, start2: int, end2: int) -> bool:
    """Two spans conflict when they overlap; an insertion also conflicts with an edit it touches."""
    if start == end or start2 == end2:
        return max(start, start2) <= min(end, end2)
    return start < end2 and start2 < end


def apply_fixes(source: str, findings: Iterable[Finding]) -> tuple[str, list[tuple[Finding, int]]]:
    """Apply whole fixes in source order, skipping one that overlaps a fix already taken.

    Returns the new text and, per applied fix, where its finding starts in the new text
    (an offset), so a re-check can tell whether the same finding is still there.
    """
    texts, applied = apply_fixes_in({None: source}, findings)
    return texts[None], [(finding, where) for finding, (_, where) in applied]


def place_fixes(source: str, findings: Iterable[Finding]) -> tuple[str, list[tuple[Finding, int]], dict]:
    """apply_fixes, plus where each applied fix's edits landed: id(finding) -> [(start, end)],
    the offsets of the new text that each of its edits wrote."""
    texts, applied, placed = place_fixes_in({None: source}, findings)
    return texts[None], [(f, where) for f, (_, where) in applied], {
        key: [(s, e) for _, s, e in spans] for key, spans in placed.items()}


def apply_fixes_in(sources: dict, findings: Iterable[Finding]) -> tuple[dict, list[tuple[Finding, tuple]]]:
    """apply_fixes over several texts at once, keyed by the `cell` of the edits (None for a
    .py file's one text): a notebook fix may edit two cells (an import in the first), and is
    taken or skipped whole. Per applied fix: (its finding's cell, the finding's new offset there)."""
    out, applied, _ = place_fixes_in(sources, findings)
    return out, applied


def place_fixes_in(sources: dict, findings: Iterable[Finding]) -> tuple[dict, list[tuple[Finding, tuple]], dict]:
    """apply_fixes_in, plus id(finding) -> [(cell, start, end)] where each of its edits landed."""
    starts = {key: _offsets(text) for key, text in sources.items()}
    newline = {key: newline_of(text) for key, text in sources.items()}
    taken: dict = {key: [] for key in sources}
    chosen: list[tuple[Finding, list[tuple[object, int, int, str]]]] = []
    for finding in sorted((f for f in findings if f.fix is not None), key=Finding.sort_key):
        if finding.cell not in sources or any(edit.cell not in sources for edit in finding.fix.edits):
            continue
        spans = [(e.cell, *_spans(starts[e.cell], [e])[0]) for e in finding.fix.edits]
        if any(_overlap(s, e, s2, e2) for key, s, e, _ in spans for s2, e2 in taken[key]):
            continue
        spans = [(key, s, e, c if newline[key] == "\n" else _LINE_END.sub(newline[key], c)) for key, s, e, c in spans]
        for key, s, e, _ in spans:
            taken[key].append((s, e))
        chosen.append((finding, spans))
    out, edits = {}, {}
    landed: dict[tuple, tuple[int, int]] = {}
    for key, source in sources.items():
        edits[key] = sorted(((s, e, c) for _, spans in chosen for k, s, e, c in spans if k == key), key=lambda sp: (sp[0], sp[1]))
        pieces, last, shift = [], 0, 0
        for start, end, content in edits[key]:
            pieces.append(source[last:start])
            pieces.append(content)
            landed[(key, start, end)] = (start + shift, start + shift + len(content))
            shift += len(content) - (end - start)
            last = end
        pieces.append(source[last:])
        out[key] = "".join(pieces)

    def moved(key, offset: int) -> int:
        shift = 0
        for start, end, content in edits[key]:
            if start > offset:
                break
            if end > offset:  # the finding's start was rewritten: it is now where the edit is
                return start + shift
            shift += len(content) - (end - start)
        return offset + shift

    placed = {id(f): [(key, *landed[(key, s, e)]) for key, s, e, _ in spans] for f, spans in chosen}
    return out, [(f, (f.cell, moved(f.cell, _offset(starts[f.cell], f.location)))) for f, _ in chosen], placed


@dataclass
class FixOutcome:
    """What fixing one file's text gave: the new text, the fixes applied, what is left."""

    path: str
    original: str
    fixed: str
    applied: int = 0
    result: "FileResult | None" = None  # the check of `fixed` (or of `original` when refused)
    problem: str | None = None  # why the fixes were refused and the text kept
    applied_codes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


class _Script:
    """How fixes edit a Python file: the edits of its findings, in its text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def apply(self, source: str, fixable: list[Finding]) -> tuple[str, list[tuple[Finding, object]], dict]:
        candidate, applied, placed = place_fixes(source, fixable)
        if self.text.endswith(("\n", "\r")) and not candidate.endswith(("\n", "\r")):
            candidate += newline_of(self.text)
        return candidate, applied, placed

    def parse(self, candidate: str) -> None:
        from trainlint.engine import parse_checked

        parse_checked(candidate)

    def misread(self, candidate: str, applied: list, placed: dict) -> list[str]:
        return misread_names(candidate, [(f, placed[id(f)]) for f, _ in applied])

    def places(self, findings: list[Finding], text: str) -> set[tuple[str, object]]:
        starts = _offsets(text)
        return {(f.code, _offset(starts, f.location)) for f in findings}


class _Notebook:
    """How fixes edit a notebook: each fix in the `source` of its cell (its edits are in the
    cell's rows and columns), the file's JSON text rewritten only there (trainlint.notebook)."""

    def __init__(self, text: str) -> None:
        from trainlint.notebook import read_notebook

        self.broken = {cell.number for cell in read_notebook(text).cells if cell.problem is not None}

    def apply(self, source: str, fixable: list[Finding]) -> tuple[str, list[tuple[Finding, object]], dict]:
        from trainlint.notebook import read_notebook

        notebook = read_notebook(source)
        texts, applied, placed = place_fixes_in({cell.number: cell.source for cell in notebook.cells}, fixable)
        return notebook.with_sources(texts), applied, placed

    def misread(self, candidate: str, applied: list, placed: dict) -> list[str]:
        """The names the fixes wrote, checked in the notebook's module (every place it writes
        them: the cells' offsets are not the module's)."""
        from trainlint.notebook import read_notebook

        text = read_notebook(candidate).text
        return misread_names(text, [(f, [(0, len(text))]) for f, _ in applied])

    def parse(self, candidate: str) -> None:
        from trainlint.engine import parse_checked
        from trainlint.notebook import read_notebook
        from trainlint.source import FileProblem

        notebook = read_notebook(candidate)
        for cell in notebook.cells:
            if cell.problem is not None and cell.number not in self.broken:
                raise FileProblem(f"cell {cell.number}: {cell.problem.message}")
        parse_checked(notebook.text, notebook_cells=True)

    def places(self, findings: list[Finding], text: str) -> set[tuple[str, object]]:
        from trainlint.notebook import read_notebook

        notebook = read_notebook(text)
        starts = {cell.number: _offsets(cell.source) for cell in notebook.cells}
        return {(f.code, (f.cell, _offset(starts[f.cell], f.location))) for f in findings if f.cell in starts}


def fix_text(
    engine: "Engine",
    text: str,
    path: str,
    *,
    unsafe: bool = False,
    index: "ProjectIndex | None" = None,
    module_name: str = "",
    package: str = "",
    first: "FileResult | None" = None,
    only: Finding | None = None,
    on_pass: "Callable[[str, str, list, dict], None] | None" = None,
) -> FixOutcome:
    """Fix `text` (a notebook's JSON text for a .ipynb path) until stable; `first` is its
    check, when the caller has it already. `only`, a finding of that check: its fix alone,
    safe or not, in one pass (an editor's quick fix: the text `--fix` writes for that
    fix, with the same checks). `on_pass(before, after, applied, placed)` sees
    each pass the fixer accepted (what place_fixes gave), for the differential check of
    fixes (tests/differential.py)."""
    from trainlint.notebook import is_notebook
    from trainlint.source import FileProblem

    def check(source: str) -> "FileResult":
        return engine.check_source(source, path, index=index, module_name=module_name, package=package)

    current = first if first is not None else check(text)
    outcome = FixOutcome(path, text, text, result=current)
    source = text
    try:
        document = _Notebook(text) if is_notebook(path) else _Script(text)
    except FileProblem:
        return outcome  # a notebook that cannot be read has nothing to fix
    for _ in range(MAX_PASSES if only is None else 1):
        if only is None:
            fixable = [f for f in current.findings if wanted(f, unsafe)]
        else:
            fixable = [f for f in current.findings if f == only and f.fix is not None]
        if not fixable:
            break
        candidate, applied, placed = document.apply(source, fixable)
        if candidate == source:
            break
        try:
            document.parse(candidate)
        except FileProblem as problem:
            codes = ", ".join(sorted({f.code for f, _ in applied}))
            return _refused(outcome, f"the fix for {codes} would give code that does not parse ({problem.message})")
        wrong = document.misread(candidate, applied, placed)
        if wrong:
            return _refused(outcome, "; ".join(wrong))
        after = check(candidate)
        again = document.places(after.findings, candidate)
        repeated = sorted({f.code for f, where in applied if (f.code, where) in again})
        if repeated:
            return _refused(outcome, f"the fix for {', '.join(repeated)} does not remove the finding it fixes")
        outcome.applied += len(applied)
        outcome.applied_codes.extend(f.code for f, _ in applied)
        if on_pass is not None:
            on_pass(source, candidate, applied, placed)
        source, current = candidate, after
    outcome.fixed = source
    outcome.result = current
    return outcome


def misread_names(text: str, placed: list[tuple[Finding, list[tuple[int, int]]]]) -> list[str]:
    """Why the names the fixes wrote (Fix.names) would not mean what the fixes meant in `text`,
    the fixed module (trainlint.resolve reads it); empty when every one does."""
    wanted_names = [(f, spans) for f, spans in placed if f.fix is not None and f.fix.names]
    if not wanted_names:
        return []
    from trainlint.resolve import ModuleNames, names_in_span, resolves
    from trainlint.source import python_ast

    tree = python_ast(text)
    names = ModuleNames(tree)
    wrong = []
    for finding, spans in wanted_names:
        for spelled, qualname in finding.fix.names:
            nodes = [node for start, end in spans for node in names_in_span(tree, text, start, end, spelled)]
            if not nodes or not all(resolves(names, node, qualname) for node in nodes):
                wrong.append(f"the fix for {finding.code} writes `{spelled}`, which would not mean `{qualname}` there")
    return wrong


def _refused(outcome: FixOutcome, why: str) -> FixOutcome:
    outcome.fixed = outcome.original
    outcome.applied = 0
    outcome.applied_codes = []
    outcome.problem = f"{outcome.path}: not fixed, file left unchanged: {why}"
    return outcome


def unified_diff(path: str, before: str, after: str) -> str:
    """The change as a unified diff; for a notebook, one per changed cell (`path:cell N`)."""
    from trainlint.notebook import cell_diff, is_notebook

    if is_notebook(path):
        return cell_diff(path, before, after)
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=f"a/{path}", tofile=f"b/{path}"
        )
    )


def encode_like(text: str, original: bytes) -> bytes:
    """`text` in the encoding (and BOM) of the file's original bytes."""
    from trainlint.source import source_encoding

    encoding, bom = source_encoding(original)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace the file's content in one step: a crash leaves the old file or the new, never half.

    The temporary file lives in the same folder (os.replace cannot cross file systems) and
    gets the original's permission bits; a symlink is followed, so the link stays a link.
    """
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".trainlint-tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_fixed(path: str | Path, outcome: FixOutcome, original: bytes) -> str | None:
    """Write a fixed text back; returns a diagnostic instead when it cannot be written."""
    try:
        data = encode_like(outcome.fixed, original)
    except (UnicodeEncodeError, LookupError) as exc:
        return f"{outcome.path}: not fixed, file left unchanged: the fixed text cannot be encoded ({exc})"
    try:
        if Path(path).read_bytes() != original:
            return f"{outcome.path}: not fixed, file left unchanged: it changed while being checked"
        write_atomic(path, data)
    except OSError as exc:
        return f"{outcome.path}: not fixed: {exc}"
    return None


def add_noqa_text(text: str, findings: Iterable[Finding], path: str = "") -> tuple[str, int]:
    """`text` with a `# noqa: CODE` on the line of each finding; refused (unchanged, 0) if the
    comments would change the program, which Python's AST of both texts tells. For a
    notebook (`path` .ipynb, `text` its JSON), the comments go into the cells' rows."""
    from trainlint.notebook import findings_in_module, is_notebook, read_notebook
    from trainlint.source import FileProblem

    if not is_notebook(path):
        return _add_noqa_module(text, findings)
    try:
        notebook = read_notebook(text)
        module, added = _add_noqa_module(notebook.text, findings_in_module(notebook, [f for f in findings if f.cell]))
        return (notebook.with_text(module), added) if added else (text, 0)
    except FileProblem:
        return text, 0


def _add_noqa_module(text: str, findings: Iterable[Finding]) -> tuple[str, int]:
    import ast

    from trainlint.source import python_ast

    from trainlint.noqa import add_noqa_edit

    out, added = text, 0
    for row, code in sorted({(f.location.row, f.code) for f in findings if f.code != "TL000"}):
        edit = add_noqa_edit(out, row, code)
        if edit is not None:
            out = apply_edits(out, [edit])
            added += 1
    if not added:
        return text, 0
    try:
        same = ast.dump(python_ast(text)) == ast.dump(python_ast(out))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        same = False
    return (out, added) if same else (text, 0)


def fix_run(run: "RunResult", *, unsafe: bool = False, write: bool = True) -> "RunResult":
    """Fix the files of a run that have fixable findings; the run's findings become what is left."""
    from trainlint.source import FileProblem, decode_source

    engine = run.engine
    for n, item in enumerate(run.items):
        result = run.files[n]
        if not isinstance(item.data, bytes) or not any(wanted(f, unsafe) for f in result.findings):
            continue
        try:
            text = decode_source(item.data)
        except FileProblem:
            continue
        first = engine.check_source(text, item.shown, index=run.index, module_name=item.module_name,
                                    package=item.package, test_code=item.test_code)
        outcome = fix_text(engine, text, item.shown, unsafe=unsafe, index=run.index, module_name=item.module_name,
                           package=item.package, first=first)
        if outcome.problem:
            run.problems.append(outcome.problem)
            run.files[n] = declined(result, unsafe)
        if outcome.changed:
            run.fixes.append(outcome)
            if write:
                problem = write_fixed(item.path, outcome, item.data)
                if problem:
                    run.problems.append(problem)
                    continue
            run.files[n] = outcome.result
    return run


def declined(result: "FileResult", unsafe: bool) -> "FileResult":
    """A file whose fixes --fix just refused: its findings without the fixes it refused, so the
    report after --fix does not offer them again (the warning says why they were refused)."""
    from dataclasses import replace

    from trainlint.finding import FileResult

    findings = [replace(f, fix=None) if wanted(f, unsafe) else f for f in result.findings]
    return FileResult(result.path, findings, result.summaries, result.source)


def add_noqa_run(run: "RunResult") -> int:
    """Suppress every finding of a run with `# noqa: CODE` on its line; returns how many were added."""
    added = 0
    for n, item in enumerate(run.items):
        result = run.files[n]
        if not result.findings or result.source is None or not isinstance(item.data, bytes):
            continue
        text, count = add_noqa_text(result.source, result.findings, item.shown)
        if not count:
            continue
        try:
            write_atomic(item.path, encode_like(text, item.data))
        except (OSError, UnicodeEncodeError) as exc:
            run.problems.append(f"{item.shown}: noqa comments not added: {exc}")
            continue
        added += count
    return added


def run_fix_options(run: "RunResult", *, fix_only: bool, diff: bool, add_noqa: bool, unsafe: bool) -> int | None:
    """The CLI's --fix/--fix-only/--diff/--add-noqa on a checked run. Returns the exit code
    when the command is done, None when the remaining findings are to be reported (--fix)."""
    import sys

    if add_noqa:
        added = add_noqa_run(run)
        for problem in run.problems:
            print(f"trainlint: warning: {problem}", file=sys.stderr)
        print(f"Added {added} noqa comment{'s' * (added != 1)}.", file=sys.stderr)
        return 0
    fix_run(run, unsafe=unsafe, write=not diff)
    for problem in run.problems:
        print(f"trainlint: warning: {problem}", file=sys.stderr)
    if diff:
        for outcome in run.fixes:
            sys.stdout.write(unified_diff(outcome.path, outcome.original, outcome.fixed))
        count = sum(o.applied for o in run.fixes)
        if count:
            print(f"Would fix {count} finding{'s' * (count != 1)}.", file=sys.stderr)
        return 1 if run.fixes else 0
    count = sum(o.applied for o in run.fixes)
    if count and fix_only:  # --fix says it in the report's summary ("N fixed, M remaining")
        files = len(run.fixes)
        print(f"Fixed {count} finding{'s' * (count != 1)} in {files} file{'s' * (files != 1)}.", file=sys.stderr)
    return 0 if fix_only else None
