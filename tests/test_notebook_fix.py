"""Fixes and noqa comments on notebooks: only the fixed cells' `source` changes, written as
the file writes it; the re-parse, refusal and atomic-write guarantees of .py files hold."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import libcst as cst
from notebooks import code_notebook

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.fix import fix_text, run_fix_options
from trainlint.project import check_paths
from trainlint.rule import Replacement

from test_fix import BrokenFix, SigmoidAlias

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
IMPORTS = "%matplotlib inline\nimport torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset"
SETUP = """\
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8, shuffle=True)"""
LOOP = """\
%%time
for epoch in range(3):
    total = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model.forward(x), y)
        loss.backward()
        optimizer.step()
        total += loss
    print(total)"""


def _notebook(loop: str = LOOP) -> str:
    document = json.loads(code_notebook(IMPORTS, "md:## Model", SETUP, loop))
    document["cells"][3]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["tensor(4.2, grad_fn=<AddBackward0>)\n"]}]
    document["cells"][2]["metadata"] = {"collapsed": False, "tags": ["setup"]}
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _sources(raw: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(raw)["cells"]]


def test_fix_changes_only_the_fixed_cell_source(project):
    original = _notebook()
    path = project.root / "train.ipynb"
    path.write_text(original)
    result = project.run("check", "--fix", "train.ipynb")
    assert result.exit_code == 0, result.output
    assert "Found 2 problems (2 fixed, 0 remaining)." in result.output  # ruff's summary after --fix
    fixed = path.read_text()
    after, before = json.loads(fixed), json.loads(original)
    assert "".join(after["cells"][3]["source"]) == LOOP.replace("model.forward(x)", "model(x)").replace(
        "total += loss", "total += loss.item()")
    after["cells"][3]["source"] = before["cells"][3]["source"]
    assert after == before  # outputs, execution counts, ids, metadata, other cells: as they were
    assert fixed == json.dumps(json.loads(fixed), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    # fixed, then un-fixed by hand: byte for byte the original
    unfixed = fixed.replace("criterion(model(x), y)", "criterion(model.forward(x), y)").replace("loss.item()", "loss")
    assert unfixed == original
    assert project.run("check", "--fix", "train.ipynb").output.startswith("All checks passed!")


def test_diff_shows_each_changed_cell_and_writes_nothing(project):
    path = project.root / "train.ipynb"
    path.write_text(_notebook())
    before = path.read_bytes()
    result = project.run("check", "--diff", "train.ipynb")
    assert result.exit_code == 1
    assert path.read_bytes() == before
    assert result.stdout.startswith(
        "--- train.ipynb:cell 4\n+++ train.ipynb:cell 4\n@@ -3,8 +3,8 @@\n     total = 0\n     for x, y in loader:\n"
        "         optimizer.zero_grad()\n-        loss = criterion(model.forward(x), y)\n+        loss = criterion(model(x), y)\n"
    )
    assert "-        total += loss\n+        total += loss.item()\n" in result.stdout


def test_unsafe_fixes_on_a_notebook(project):
    path = project.root / "train.ipynb"
    shutil.copy(EXAMPLES / "buggy" / "train_mnist.ipynb", path)
    project.run("check", "--fix", "train.ipynb")
    assert "shuffle=True" not in path.read_text()  # TL101's fix is unsafe
    result = project.run("check", "--fix", "--unsafe-fixes", "train.ipynb")
    assert "cell 4" not in result.output
    assert "train_loader = DataLoader(train_set, batch_size=64, shuffle=True)\n" in _sources(path.read_text())[3]


def test_a_notebook_with_nothing_to_fix_is_not_rewritten(project):
    path = project.root / "train.ipynb"
    shutil.copy(EXAMPLES / "fixed" / "train_mnist.ipynb", path)
    before = os.stat(path)
    assert project.run("check", "--fix", "--unsafe-fixes", "train.ipynb").exit_code == 0
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_add_noqa_writes_into_the_right_cells(project):
    path = project.root / "train.ipynb"
    shutil.copy(EXAMPLES / "buggy" / "train_mnist.ipynb", path)
    original = json.loads(path.read_text())
    result = project.run("check", "--add-noqa", "train.ipynb")
    assert "Added 4 noqa comments." in result.output
    sources = _sources(path.read_text())
    assert "train_loader = DataLoader(train_set, batch_size=64)  # noqa: TL101\n" in sources[3]
    assert "loss = criterion(outputs, labels)  # noqa: TL302\n" in sources[8]
    assert "        optimizer.step()  # noqa: TL401\n" in sources[8]
    assert sources[8].startswith("%%time\n")  # the cell magic is kept
    after = json.loads(path.read_text())
    for n in (3, 6, 8):
        after["cells"][n]["source"] = original["cells"][n]["source"]
    assert after == original
    assert project.run("check", "train.ipynb").exit_code == 0


# refusals and fixes over two cells, with test rules ---------------------------------
def _fix(tmp_path, raw: str, *rules):
    config = Config(select=("TL000",), root=tmp_path)
    engine = Engine(config, rules=rules)
    return fix_text(engine, raw, "train.ipynb")


SIGMOID = code_notebook("import torch\nimport torch.nn.functional as F", "md:text", "def gate(x):\n    return x * F.sigmoid(x)")


def test_a_fix_that_does_not_parse_leaves_the_notebook(tmp_path):
    outcome = _fix(tmp_path, SIGMOID, BrokenFix)
    assert outcome.fixed == SIGMOID and not outcome.changed
    assert "does not parse" in outcome.problem


def test_fix_in_a_cell(tmp_path):
    outcome = _fix(tmp_path, SIGMOID, SigmoidAlias)
    assert _sources(outcome.fixed)[2] == "def gate(x):\n    return x * torch.sigmoid(x)"
    assert outcome.applied == 1 and outcome.result.findings == []


class SigmoidWithImport(SigmoidAlias):
    """A fix that also edits the first cell, as one that adds an import does."""

    code = "TL996"
    name = "test-sigmoid-with-import"

    def check(self, facts):
        first = facts.module.body[0]
        for call in facts.collected.calls:
            if call.qualname == "torch.nn.functional.sigmoid":
                new = call.node.with_changes(func=cst.parse_expression("sigmoid"))
                yield self.report(call.node, fix=self.fix(
                    "use sigmoid", Replacement(call.node, new),
                    Replacement(first, "from torch import sigmoid\n" + facts.module.code_for_node(first).rstrip("\n"))))


def test_a_fix_over_two_cells_edits_both(tmp_path):
    outcome = _fix(tmp_path, SIGMOID, SigmoidWithImport)
    assert outcome.problem is None, outcome.problem
    assert _sources(outcome.fixed) == [
        "from torch import sigmoid\nimport torch\nimport torch.nn.functional as F", "text", "def gate(x):\n    return x * sigmoid(x)"]


def test_one_findings_fix_alone_as_an_editor_quick_fix_asks(tmp_path):
    # two findings with a fix each; `only` applies the second one's, over its two cells
    raw = code_notebook("import torch\nimport torch.nn.functional as F", "md:text",
                        "def gate(x):\n    return x * F.sigmoid(x)", "def gate2(x):\n    return F.sigmoid(x)")
    engine = Engine(Config(select=("TL000",), root=tmp_path), rules=[SigmoidWithImport])
    first = engine.check_source(raw, "train.ipynb")
    assert [f.cell for f in first.findings] == [3, 4]
    outcome = fix_text(engine, raw, "train.ipynb", first=first, only=first.findings[1])
    assert outcome.problem is None and outcome.applied == 1
    assert _sources(outcome.fixed) == ["from torch import sigmoid\nimport torch\nimport torch.nn.functional as F",
                                       "text", "def gate(x):\n    return x * F.sigmoid(x)",
                                       "def gate2(x):\n    return sigmoid(x)"]
    # one pass: the fix it leaves (gate's) is still reported
    assert [f.cell for f in outcome.result.findings] == [3]


def test_fix_run_writes_notebooks_atomically_and_keeps_permissions(tmp_path):
    path = tmp_path / "train.ipynb"
    path.write_text(SIGMOID)
    os.chmod(path, 0o640)
    config = Config(select=("TL000",), root=tmp_path)
    run = check_paths([path], config, Engine(config, rules=[SigmoidAlias]), jobs=1, cache=False)
    assert run_fix_options(run, fix_only=True, diff=False, add_noqa=False, unsafe=False) == 0
    assert "torch.sigmoid(x)" in _sources(path.read_text())[2]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["train.ipynb"]  # no temporary file left
