"""TL002 unused-noqa (ruff's RUF100): which `# noqa` comments it judges, and what its fix leaves."""

from __future__ import annotations

import pytest

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.fix import fix_text

FORWARD = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        layer = nn.Linear(4, 2){}\n        return layer(x)\n"
PLAIN = "import torch\n\nmodel = torch.nn.Linear(4, 2){}\n"


def _tl002(text: str, **config):
    engine = Engine(Config(select=("ALL",), **config))
    return [f for f in engine.check_source(text, "train.py").findings if f.code == "TL002"], engine


@pytest.mark.parametrize("comment, after", [
    ("  # noqa: TL202", ""),
    ("  # type: ignore  # noqa: TL202", "  # type: ignore"),
    ("  # noqa: TL202  # keep me", "  # keep me"),
    ("  # noqa: TL202 reason given", "  # reason given"),
    ("  # noqa: TL202, E501", "  # noqa: E501"),
    ("  # NOQA:TL202,TL404", ""),
])
def test_the_fix_removes_only_what_suppresses_nothing(comment, after):
    text = PLAIN.format(comment)
    found, engine = _tl002(text)
    assert len(found) == 1 and found[0].location.row == 3
    outcome = fix_text(engine, text, "train.py")
    assert outcome.problem is None
    assert outcome.fixed == PLAIN.format(after)
    assert _tl002(outcome.fixed)[0] == []


def test_a_used_code_stays_and_an_unknown_one_is_named():
    found, _ = _tl002(FORWARD.format("  # noqa: TL202, TL299"))
    [finding] = found
    assert "unknown: TL299" in finding.message and "TL202" not in finding.message.split("(")[1]


@pytest.mark.parametrize("comment", [
    "  # noqa",                  # bare: every tool's
    "  # noqa: E501",            # another tool's code
    "  # noqa: TL909",           # the probe's
    "  # noqa: TL202, TL002",    # TL002 silenced on this line
])
def test_comments_it_does_not_judge(comment):
    assert _tl002(PLAIN.format(comment))[0] == []


def test_codes_of_rules_that_did_not_run_are_not_judged():
    text = PLAIN.format("  # noqa: TL202")
    assert _tl002(text, ignore=("TL202",))[0] == []
    assert _tl002(text, per_file_ignores=(("train.py", ("TL2",)),))[0] == []


def test_off_by_default_and_silent_on_a_default_run():
    engine = Engine(Config())
    assert "TL002" not in engine.rules
    assert engine.check_source(PLAIN.format("  # noqa: TL202"), "train.py").findings == []


def test_cli_fix_removes_it(project):
    project.write("train.py", PLAIN.format("  # noqa: TL202"))
    result = project.run("check", "--extend-select", "TL002", "--fix", "train.py")
    assert result.exit_code == 0, result.output
    assert (project.root / "train.py").read_text() == PLAIN.format("")
    assert "1 fixed, 0 remaining" in result.output
