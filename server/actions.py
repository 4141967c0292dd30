"""Code actions: a rule's fix, `# noqa: CODE` for one line, and "Fix all" for the file."""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

from trainlint.engine import FileResult
from trainlint.finding import Applicability, Finding
from trainlint.fix import apply_edits
from trainlint.noqa import add_noqa_edit
from trainlint.server.positions import Lines

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.trainlint"
#: A fix that makes another fix possible gets its turn on the next pass; ten is plenty.
MAX_FIX_PASSES = 10


def wants(kind: str, only: list[str] | None) -> bool:
    """Whether the client asked for this kind (`only` lists kinds or their parents)."""
    return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)


def fix_data(finding: Finding, lines: Lines) -> dict | None:
    """A finding's fix in LSP terms, carried in the diagnostic's `data`."""
    if finding.fix is None:
        return None
    data: dict = {"title": finding.fix.message, "applicability": finding.fix.applicability.value}
    if any(edit.cell != finding.cell for edit in finding.fix.edits):
        # A notebook fix that also edits another cell (an import in the first): these rows and
        # columns are not this document's; the server makes the edit of every cell it touches
        # when the quick fix is asked for (app.py, _cross_cell_fix).
        data["otherCells"] = True
        return data
    data["edits"] = [
        {"range": _range_json(lines.range_exact(edit.location, edit.end_location)), "newText": edit.content}
        for edit in finding.fix.edits
    ]
    return data


def crosses_cells(diagnostic: types.Diagnostic) -> bool:
    """Whether the diagnostic's fix edits other cells of its notebook too (fix_data)."""
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    fix = data.get("fix")
    return isinstance(fix, dict) and fix.get("otherCells") is True


def quick_fix(uri: str, diagnostic: types.Diagnostic) -> types.CodeAction | None:
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    fix = data.get("fix")
    if not isinstance(fix, dict) or not fix.get("edits"):
        return None
    try:
        edits = [types.TextEdit(range=_range(e["range"]), new_text=str(e["newText"])) for e in fix["edits"]]
    except (KeyError, TypeError, ValueError):
        return None
    return fix_action(diagnostic, types.WorkspaceEdit(changes={uri: edits}))


def fix_action(diagnostic: types.Diagnostic, edit: types.WorkspaceEdit) -> types.CodeAction:
    """The quick fix of a diagnostic whose fix (in its `data`) `edit` makes."""
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    fix = data.get("fix") if isinstance(data.get("fix"), dict) else {}
    unsafe = fix.get("applicability") == Applicability.UNSAFE.value
    return types.CodeAction(
        title=f"{fix.get('title') or 'Fix'} ({diagnostic.code}{', unsafe' if unsafe else ''})",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        edit=edit,
        is_preferred=not unsafe,
    )


def replacement(old: str, new: str, lines: Lines) -> types.TextEdit:
    """One edit that turns `old` (the text of `lines`) into `new`: the whole lines between what
    the two texts share at their start and at their end (an added import is one inserted
    line), so the editor's cursor and undo stay where the change is."""
    from bisect import bisect_left, bisect_right

    starts = [*lines.line_starts(), len(old)]
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    start = starts[bisect_right(starts, start) - 1]  # back to the start of its line
    end = 0
    while end < limit - start and old[-1 - end] == new[-1 - end]:
        end += 1
    stop = starts[bisect_left(starts, len(old) - end)]  # on to the start of the next line
    return types.TextEdit(
        range=types.Range(start=lines.at_offset(start), end=lines.at_offset(stop)),
        new_text=new[start:len(new) - (len(old) - stop)],
    )


def documents_edit(changes: dict[str, tuple[int, list[types.TextEdit]]], versioned: bool) -> types.WorkspaceEdit:
    """uri -> (its version, its edits) as one edit of several documents: each edit names its
    document's version where the client supports documentChanges (an edit made for older
    text is then refused), else plain `changes`."""
    if not versioned:
        return types.WorkspaceEdit(changes={uri: edits for uri, (_, edits) in changes.items()})
    return types.WorkspaceEdit(document_changes=[
        types.TextDocumentEdit(text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                               edits=edits)
        for uri, (version, edits) in changes.items()
    ])


def disable_for_line(uri: str, diagnostic: types.Diagnostic, lines: Lines) -> types.CodeAction | None:
    code = str(diagnostic.code or "")
    if not code:
        return None
    edit = add_noqa_edit(lines.source, diagnostic.range.start.line + 1, code)
    if edit is None:
        return None
    return types.CodeAction(
        title=f"Disable {code} for this line",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        edit=types.WorkspaceEdit(
            changes={uri: [types.TextEdit(range=lines.range_exact(edit.location, edit.end_location), new_text=edit.content)]}
        ),
    )


def fix_all(check: Callable[[str], FileResult], source: str) -> str:
    """The text with every safe fix applied, re-checking until no fix is left."""
    text = source
    for _ in range(MAX_FIX_PASSES):
        result = check(text)
        edits = [
            edit
            for finding in result.findings
            if finding.fix is not None and finding.fix.applicability is Applicability.SAFE
            for edit in finding.fix.edits
        ]
        if not edits:
            break
        fixed = apply_edits(text, edits)
        if fixed == text:
            break
        text = fixed
    return text


FIX_ALL_TITLE = "Fix all trainlint problems"


def fix_all_action(uri: str, fixed: str | None, lines: Lines | None) -> types.CodeAction:
    """With `fixed` None: the action without its edit, for the client to resolve when chosen."""
    if fixed is None or lines is None:
        return types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL_KIND, data={"uri": uri})
    whole = types.Range(start=types.Position(line=0, character=0), end=lines.end())
    return types.CodeAction(
        title=FIX_ALL_TITLE,
        kind=FIX_ALL_KIND,
        edit=types.WorkspaceEdit(changes={uri: [types.TextEdit(range=whole, new_text=fixed)]}),
    )


def _range_json(r: types.Range) -> dict:
    return {
        "start": {"line": r.start.line, "character": r.start.character},
        "end": {"line": r.end.line, "character": r.end.character},
    }


def _range(raw: dict) -> types.Range:
    return types.Range(
        start=types.Position(line=int(raw["start"]["line"]), character=int(raw["start"]["character"])),
        end=types.Position(line=int(raw["end"]["line"]), character=int(raw["end"]["character"])),
    )
