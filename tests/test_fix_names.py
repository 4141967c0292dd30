"""Fixes that write a name (TL505's `copy.deepcopy`, TL207's `nn.ModuleList`) never change what
a name of the file means, and the fixer refuses a fix whose name would mean something else
(the issue's case: `import copy` added above a later `from copy import copy`). Then the
differential check (tests/differential.py) over examples/ and synthetic files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest

from differential import differential
from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.finding import Applicability, Severity
from trainlint.fix import fix_text
from trainlint.rule import Replacement, Rule

ROOT = Path(__file__).resolve().parents[1]
ALL = Engine(Config(select=("ALL",)))

LOOP = """\
    def train(model, loader, opt):
        best = None
        for x, y in loader:
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
            best = model.state_dict()
        return best
"""


def _fix(text: str, engine: Engine = ALL):
    text = textwrap.dedent(text)
    return text, fix_text(engine, text, "train.py", unsafe=True)


def _tl505(text: str):
    return [f for f in ALL.check_source(textwrap.dedent(text), "train.py").findings if f.code == "TL505"]


@pytest.mark.parametrize("imports, call", [
    ("import copy\n", "copy.deepcopy(model.state_dict())"),
    ("import copy as cp\n", "cp.deepcopy(model.state_dict())"),
    ("from copy import deepcopy\n", "deepcopy(model.state_dict())"),
    ("from copy import deepcopy as clone\nimport copy\n", "clone(model.state_dict())"),
])
def test_an_existing_binding_of_the_object_is_reused(imports, call):
    text, outcome = _fix("import torch\n" + imports + "\n\n" + textwrap.dedent(LOOP))
    assert outcome.problem is None
    assert f"best = {call}" in outcome.fixed
    assert outcome.fixed.count("import") == text.count("import")  # no import added


def test_a_free_name_is_imported():
    text, outcome = _fix("import torch\n\n\n" + textwrap.dedent(LOOP))
    assert outcome.fixed.startswith("import copy\nimport torch\n")
    assert "best = copy.deepcopy(model.state_dict())" in outcome.fixed


@pytest.mark.parametrize("text", [
    # the issue's case: a later `from copy import copy` rebinds the name `import copy` would add
    "import torch\n\n\n" + textwrap.dedent(LOOP) + "\n\nfrom copy import copy\n",
    # a parameter of that name where the fix would write it
    "import torch\n\n\n" + textwrap.dedent(LOOP).replace("(model, loader, opt)", "(model, loader, opt, copy=None)"),
    # the name is bound somewhere else in the file (another scope), or read as something else
    "import torch\n\n\ndef snapshot(copy):\n    return copy\n\n\n" + textwrap.dedent(LOOP),
    # `import copy` rebound by a `global` assignment
    "import torch\nimport copy\n\n\ndef reset():\n    global copy\n    copy = None\n\n\n" + textwrap.dedent(LOOP),
    # a star import may bind anything
    "import torch\nfrom os.path import *\n\n\n" + textwrap.dedent(LOOP),
])
def test_no_fix_where_the_name_would_mean_something_else(text):
    [finding] = _tl505(text)
    assert finding.fix is None
    assert fix_text(ALL, text, "train.py", unsafe=True).fixed == text


def test_the_issue_file_is_left_working():
    """Before: `import copy` went on top and the module's later `from copy import copy` made
    `copy.deepcopy` an AttributeError the first time the line ran."""
    text = "import torch\n\n\n" + textwrap.dedent(LOOP) + "\n\nfrom copy import copy\n"
    _, outcome = _fix(text)
    assert outcome.fixed == textwrap.dedent(text)
    namespace: dict = {}
    exec(compile(outcome.fixed, "train.py", "exec"), namespace)  # noqa: S102 - the fixed module runs


class FixingTestRule(Rule):
    """## What it does\nTest rule.\n## Why is this bad?\nTest.\n## How to fix\nTest."""

    severity = Severity.WARNING
    fix_applicability = Applicability.SAFE


class WritesCopyDeepcopy(FixingTestRule):
    code = "TL995"
    name = "test-writes-copy-deepcopy"
    summary = "writes copy.deepcopy without asking whether `copy` is the module"

    def check(self, facts):
        for call in facts.collected.calls:
            if "deepcopy" in facts.source:
                return
            if isinstance(call.node.func, cst.Attribute) and call.node.func.attr.value == "state_dict":
                yield self.report(call.node, fix=self.fix(
                    "deepcopy", Replacement(call.node, f"copy.deepcopy({facts.code(call.node)})"),
                    names=(("copy.deepcopy", "copy.deepcopy"),)))


def test_the_fixer_refuses_a_name_that_would_mean_something_else():
    engine = Engine(Config(select=("TL000",)), rules=[WritesCopyDeepcopy])
    text = "import torch\nfrom copy import copy\n\nbest = model.state_dict()\n"
    outcome = fix_text(engine, text, "train.py")
    assert outcome.fixed == text
    assert "writes `copy.deepcopy`, which would not mean `copy.deepcopy` there" in outcome.problem
    good = "import torch\nimport copy\n\nbest = model.state_dict()\n"
    assert fix_text(engine, good, "train.py").fixed == "import torch\nimport copy\n\nbest = copy.deepcopy(model.state_dict())\n"


def test_tl207_reuses_a_valid_binding_only():
    text = textwrap.dedent(
        """\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]
        """
    )
    _, outcome = _fix(text)
    assert "self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])" in outcome.fixed
    shadowed = text.replace("def __init__(self):", "def __init__(self, nn=nn):")
    assert [f.fix for f in ALL.check_source(shadowed, "train.py").findings if f.code == "TL207"] == [None]


SYNTHETIC = [
    "import torch\n\n\n" + textwrap.dedent(LOOP),
    "import torch\nimport copy as cp\n\n\n" + textwrap.dedent(LOOP) + "\n\ndef other(copy):\n    return copy\n",
    textwrap.dedent(
        """\
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = [nn.Conv2d(3, 3, 3, bias=True), nn.BatchNorm2d(3)]

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return x


        model = Net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        total = 0
        for x, y in loader:  # noqa: TL404
            opt.zero_grad()
            loss = model.forward(x).sum()
            loss.backward()
            opt.step()
            total += loss
        best = model.state_dict()
        """
    ),
]


# the examples and the reproductions of real bugs (TL505's and TL207's fixes among them)
REPO_FILES = sorted((ROOT / "examples").rglob("*.py")) + sorted((ROOT / "benchmarks" / "bugs" / "repro").glob("*.py"))


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_differential_on_the_examples(path):
    result = differential(ALL, path.read_text(encoding="utf-8"), path.name)
    assert result.broken == [], result.broken


@pytest.mark.parametrize("text", SYNTHETIC)
def test_differential_on_synthetic_files(text):
    engine = Engine(Config(select=("ALL",)))
    result = differential(engine, text, "train.py")
    assert result.broken == [] and result.refused == [], (result.broken, result.refused)
    assert result.applied, "nothing was fixed"


class EscapesItsNode(FixingTestRule):
    code = "TL996"
    name = "test-escapes-its-node"
    summary = "a replacement whose text reaches past the node it replaces"

    def check(self, facts):
        for call in facts.collected.calls:
            if "print(2)" not in facts.source and call.node.args and facts.code(call.node.func) == "print":
                yield self.report(call.node, fix=self.fix("escape", Replacement(call.node.args[0].value, "loss), print(2")))


def test_the_differential_check_sees_a_fix_that_changes_code_outside_its_node():
    engine = Engine(Config(select=("TL000",)), rules=[EscapesItsNode])
    result = differential(engine, "import torch\nprint(loss)\n", "train.py")
    assert result.applied == {"TL996": 1}  # the fixer itself has no way to see it: it parses and re-checks clean
    assert result.broken == ["train.py: the fixes for ['TL996'] change code outside the nodes they fix"]
