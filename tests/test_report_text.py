"""The text report is written without rich where rich would not style it (a pipe, a file,
--color never): the same characters, and rich is not imported for them."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from trainlint.finding import Applicability, Edit, Finding, Fix, Location, Severity
from trainlint.report import text as text_report

SOURCE = "import torch\n\tx = torch.zeros(3)\r\n" + "y = 'bell \a here'\n" * 3 + "z = 1\n"


def _findings() -> list[Finding]:
    fix = Fix("remove it", Applicability.UNSAFE, (Edit("", Location(3, 1), Location(4, 1)),))
    return [
        Finding("TL101", "one", Severity.ERROR, "a message with a carriage\rreturn and a bell\a", "train.py",
                Location(2, 2), Location(2, 9)),
        Finding("TL202", "two", Severity.WARNING, "a fixable one", "train.py", Location(3, 1), Location(5, 3), fix=fix),
        Finding("TL303", "three", Severity.INFO, "at the end of the file", "train.py", Location(6, 1), Location(6, 1)),
        Finding("TL404", "four", Severity.WARNING, "in a cell", "nb.ipynb", Location(1, 1), Location(1, 4), cell=3),
    ]


@pytest.mark.parametrize("unsafe_fixes", [False, True])
@pytest.mark.parametrize("show_source", [True, False])
def test_plain_text_is_what_rich_writes_off_a_terminal(monkeypatch, unsafe_fixes, show_source):
    sources = {"train.py": SOURCE}
    plain = io.StringIO()
    text_report.write_text(_findings(), sources, plain, show_source=show_source, unsafe_fixes=unsafe_fixes)
    through_rich = io.StringIO()
    monkeypatch.setattr(text_report, "_styled", lambda out, color: True)  # rich decides: not a terminal
    text_report.write_text(_findings(), sources, through_rich, show_source=show_source, unsafe_fixes=unsafe_fixes)
    assert plain.getvalue() == through_rich.getvalue()
    assert "\r" not in plain.getvalue() and "\a" not in plain.getvalue()
    assert "nb.ipynb:cell 3:1:1: TL404 [warning] in a cell" in plain.getvalue()


def test_colour_asked_for_goes_through_rich():
    out = io.StringIO()
    text_report.write_text(_findings()[:1], {"train.py": SOURCE}, out, color=True)
    assert "\x1b[" in out.getvalue()
    assert "\x1b[" not in _plain(color=None) and "\x1b[" not in _plain(color=False)


def _plain(color) -> str:
    out = io.StringIO()
    text_report.write_text(_findings()[:1], {"train.py": SOURCE}, out, color=color)
    return out.getvalue()


def test_a_report_into_a_pipe_imports_no_rich(tmp_path):
    (tmp_path / "train.py").write_text("import torch\ndef train(:\n    pass\n")
    command = [sys.executable, "-X", "importtime", "-m", "trainlint", "check", "--no-cache", "."]
    piped = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert "train.py:2:11: TL000 [error]" in piped.stdout and "2 │ def train(:" in piped.stdout
    assert piped.returncode == 1
    assert " rich" not in piped.stderr
    coloured = subprocess.run([*command, "--color", "always"], cwd=tmp_path, capture_output=True, text=True)
    assert "\x1b[" in coloured.stdout and " rich" in coloured.stderr
