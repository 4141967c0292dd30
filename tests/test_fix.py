"""Fixes are safe: applied only where asked, re-checked before writing, written atomically
in the file's own encoding, line endings and permissions, and a second run changes nothing.

The rules here are defined in the test (few catalog rules carry fixes yet): each rewrites
`F.sigmoid(x)` (deprecated) to `torch.sigmoid(x)`, some of them wrongly on purpose.
"""

from __future__ import annotations

import os
import stat
import textwrap

import libcst as cst
import pytest

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.finding import Applicability, Severity
from trainlint.fix import apply_fixes, fix_text, run_fix_options
from trainlint.noqa import add_noqa_edit
from trainlint.project import check_paths
from trainlint.rule import Replacement, Rule


class SigmoidAlias(Rule):
    """## What it does\nTest rule.\n## Why is this bad?\nTest.\n## How to fix\nTest."""

    code = "TL991"
    name = "test-sigmoid-alias"
    severity = Severity.WARNING
    summary = "F.sigmoid is deprecated"
    fix_applicability = Applicability.SAFE
    new_func = "torch.sigmoid"

    def check(self, facts):
        for call in facts.collected.calls:
            if call.qualname == "torch.nn.functional.sigmoid":
                new = call.node.with_changes(func=cst.parse_expression(self.new_func))
                yield self.report(call.node, fix=self.fix("use torch.sigmoid", Replacement(call.node, new)))


class UnsafeSigmoidAlias(SigmoidAlias):
    code = "TL992"
    name = "test-unsafe-sigmoid"
    fix_applicability = Applicability.UNSAFE


class BrokenFix(SigmoidAlias):
    code = "TL993"
    name = "test-broken-fix"

    def check(self, facts):
        for call in facts.collected.calls:
            if call.qualname == "torch.nn.functional.sigmoid":
                yield self.report(call.node, fix=self.fix("break it", Replacement(call.node.func, "torch.sigmoid((")))


class FixThatDoesNotFix(SigmoidAlias):
    code = "TL994"
    name = "test-fix-that-does-not-fix"
    new_func = "torch.nn.functional.sigmoid"


class NoFix(SigmoidAlias):
    code = "TL995"
    name = "test-no-fix"
    fix_applicability = None

    def check(self, facts):
        for call in facts.collected.calls:
            if call.qualname == "torch.nn.functional.sigmoid":
                yield self.report(call.node)


BUGGY = textwrap.dedent(
    """\
    import torch
    import torch.nn.functional as F


    def gate(x):
        return x * F.sigmoid(x)
    """
)
FIXED = BUGGY.replace("F.sigmoid(x)", "torch.sigmoid(x)")


def _run(tmp_path, *rules, **options):
    config = Config(select=("TL000",), root=tmp_path)
    engine = Engine(config, rules=rules)
    run = check_paths([options.get("where", tmp_path)], config, engine, jobs=1, cache=False)
    code = run_fix_options(run, fix_only=options.get("fix_only", False), diff=options.get("diff", False),
                           add_noqa=options.get("add_noqa", False), unsafe=options.get("unsafe", False))
    return run, code


def _write(tmp_path, text: str | bytes, name: str = "train.py"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def test_fix_applies_a_safe_fix_and_a_second_run_changes_nothing(tmp_path):
    path = _write(tmp_path, BUGGY)
    run, code = _run(tmp_path, SigmoidAlias)
    assert code is None  # --fix goes on to report what is left
    assert path.read_text() == FIXED
    assert run.findings == []
    run, _ = _run(tmp_path, SigmoidAlias)
    assert path.read_text() == FIXED
    assert run.fixes == [] and run.findings == []


def test_unsafe_fixes_only_with_unsafe_fixes(tmp_path):
    path = _write(tmp_path, BUGGY)
    run, _ = _run(tmp_path, UnsafeSigmoidAlias)
    assert path.read_text() == BUGGY
    assert [f.code for f in run.findings] == ["TL992"]
    run, _ = _run(tmp_path, UnsafeSigmoidAlias, unsafe=True)
    assert path.read_text() == FIXED


def test_fix_that_breaks_the_syntax_leaves_the_file_untouched(tmp_path, capsys):
    path = _write(tmp_path, BUGGY)
    before = path.stat().st_mtime_ns
    run, _ = _run(tmp_path, BrokenFix)
    assert path.read_text() == BUGGY and path.stat().st_mtime_ns == before
    assert [f.code for f in run.findings] == ["TL993"]
    assert run.findings[0].fix is None  # what --fix just refused is not offered again
    assert "does not parse" in capsys.readouterr().err


def test_fix_that_leaves_its_finding_is_refused(tmp_path, capsys):
    path = _write(tmp_path, BUGGY.replace("import torch.nn.functional as F", "from torch.nn import functional as F"))
    original = path.read_text()
    run, _ = _run(tmp_path, FixThatDoesNotFix)
    assert path.read_text() == original
    assert "does not remove the finding" in capsys.readouterr().err


def test_overlapping_fixes_converge_over_passes(tmp_path):
    path = _write(tmp_path, BUGGY.replace("F.sigmoid(x)", "F.sigmoid(F.sigmoid(x))"))
    _run(tmp_path, SigmoidAlias)
    assert "torch.sigmoid(torch.sigmoid(x))" in path.read_text()


@pytest.mark.parametrize(
    "raw",
    [
        BUGGY.replace("\n", "\r\n").encode(),  # CRLF stays CRLF
        b"\xef\xbb\xbf" + BUGGY.encode(),  # a BOM stays
        ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + BUGGY).encode("latin-1"),  # the encoding stays
        BUGGY.rstrip("\n").encode(),  # no trailing newline stays none
    ],
    ids=["crlf", "bom", "latin-1", "no-final-newline"],
)
def test_fix_keeps_encoding_line_endings_and_final_newline(tmp_path, raw):
    path = _write(tmp_path, raw)
    _run(tmp_path, SigmoidAlias)
    after = path.read_bytes()
    assert after == raw.replace(b"F.sigmoid(x)", b"torch.sigmoid(x)")


def test_fix_keeps_permissions_and_symlinks(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    real = _write(tmp_path / "elsewhere", BUGGY, "real_train.py")
    os.chmod(real, 0o750)
    link = tmp_path / "project"
    link.mkdir()
    (link / "train.py").symlink_to(real)
    _run(tmp_path, SigmoidAlias, where=link)
    assert real.read_text() == FIXED
    assert stat.S_IMODE(real.stat().st_mode) == 0o750
    assert (link / "train.py").is_symlink()
    assert not [p for p in (tmp_path / "elsewhere").iterdir() if "trainlint-tmp" in p.name]


def test_diff_prints_and_writes_nothing(tmp_path, capsys):
    path = _write(tmp_path, BUGGY)
    _, code = _run(tmp_path, SigmoidAlias, diff=True)
    out = capsys.readouterr().out
    assert code == 1
    assert path.read_text() == BUGGY
    assert "--- a/" in out and "-    return x * F.sigmoid(x)" in out and "+    return x * torch.sigmoid(x)" in out
    path.write_text(FIXED)
    _, code = _run(tmp_path, SigmoidAlias, diff=True)
    assert code == 0 and capsys.readouterr().out == ""


def test_fix_only_exits_zero_with_findings_left(tmp_path):
    path = _write(tmp_path, BUGGY)
    run, code = _run(tmp_path, SigmoidAlias, NoFix, fix_only=True)
    assert code == 0
    assert path.read_text() == FIXED


def test_add_noqa_silences_each_finding_and_only_comments_change(tmp_path):
    source = BUGGY + 'DOC = """text\n""" if F.sigmoid(torch.ones(1)) else None\n'
    path = _write(tmp_path, source)
    _, code = _run(tmp_path, NoFix, add_noqa=True)
    assert code == 0
    text = path.read_text()
    assert "return x * F.sigmoid(x)  # noqa: TL995\n" in text
    assert '""" if F.sigmoid(torch.ones(1)) else None  # noqa: TL995\n' in text
    run, _ = _run(tmp_path, NoFix, add_noqa=True)
    assert run.findings == [] and path.read_text() == text


def test_add_noqa_edit():
    source = "x = f(1)  # noqa: TL101\ny = '''a\nb'''\nz = 1 + \\\n  2\nw = 3  # noqa\n"
    edit = add_noqa_edit(source, 1, "TL202")
    assert edit.content == ", TL202" and edit.location.row == 1
    assert add_noqa_edit(source, 1, "TL101") is None  # already there
    assert add_noqa_edit(source, 2, "TL202") is None  # the line ends inside a string
    assert add_noqa_edit(source, 4, "TL202") is None  # backslash continuation
    assert add_noqa_edit(source, 6, "TL202") is None  # a bare noqa silences everything
    edit = add_noqa_edit(source, 3, "TL202")
    assert edit.content == "  # noqa: TL202" and (edit.location.row, edit.location.column) == (3, 5)


def test_fix_text_in_memory():
    engine = Engine(Config(select=("TL000",)), rules=[SigmoidAlias])
    outcome = fix_text(engine, BUGGY, "train.py")
    assert outcome.fixed == FIXED and outcome.applied == 1 and outcome.problem is None
    assert fix_text(engine, FIXED, "train.py").changed is False


def test_apply_fixes_skips_a_fix_that_overlaps_one_taken():
    engine = Engine(Config(select=("TL000",)), rules=[SigmoidAlias])
    source = BUGGY.replace("F.sigmoid(x)", "F.sigmoid(F.sigmoid(x))")
    findings = engine.check_source(source, "t.py").findings
    assert len(findings) == 2
    out, applied = apply_fixes(source, findings)
    assert len(applied) == 1 and "torch.sigmoid(F.sigmoid(x))" in out
