"""`trainlint probe train.ipynb`: the code cells run in order as one script in the notebook's
folder (magics, shell escapes and other languages' cells skipped), and the findings and
verdicts come back in their cells."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from notebooks import code_notebook

from trainlint.probe.runner import run_probe, torch_available

pytestmark = [pytest.mark.probe, pytest.mark.skipif(not torch_available(), reason="the probe needs torch")]

FIXTURE = Path(__file__).parent / "fixtures" / "probe" / "conv_in_forward.py"


def _model_cell() -> str:
    """The fixture's Net (forward() builds a Conv2d on every call), as a notebook's model cell."""
    text = FIXTURE.read_text()
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "Net")
    return ast.get_source_segment(text, node)


MODEL = _model_cell()
CONV2_ROW = 1 + next(i for i, line in enumerate(MODEL.splitlines()) if "self.conv2 =" in line)  # in cell 4


def test_probe_runs_the_cells_in_order_and_reports_in_cells(tmp_path, monkeypatch):
    folder = tmp_path / "nbs"
    folder.mkdir()
    (folder / "classes.txt").write_text("5\n")  # read with a relative path: the notebook's folder is the cwd
    notebook = folder / "train.ipynb"
    notebook.write_text(code_notebook(
        "%matplotlib inline\n!pip install -q torch\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
        "from torch.utils.data import DataLoader, TensorDataset\ntorch.manual_seed(0)",
        "%%bash\nexit 1",
        "md:## Model",
        MODEL,
        "classes = int(open('classes.txt').read())\n"
        "loader = DataLoader(TensorDataset(torch.randn(128, 3, 8, 8), torch.randint(0, classes, (128,))), batch_size=16, shuffle=True)\n"
        "model = Net(classes)\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\ncriterion = nn.CrossEntropyLoss()",
        "%%time\nfor epoch in range(3):\n    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        loss = criterion(model(x), y)\n        loss.backward()\n        optimizer.step()",
    ))
    monkeypatch.chdir(tmp_path)
    result = run_probe(notebook, steps=5, timeout=120)
    assert result.report is not None, result.output_tail
    assert result.report.optimizer_steps == 5
    assert result.script == str(notebook)

    (tl905,) = [f for f in result.runtime if f.code == "TL905"]  # the conv built in forward() is never optimized
    assert (tl905.path, tl905.cell, tl905.location.row) == ("nbs/train.ipynb", 4, CONV2_ROW)
    (tl202,) = [f for f in result.static if f.code == "TL202"]
    assert (tl202.cell, tl202.location.row) == (4, CONV2_ROW)
    assert tl202.details["verdict"] == "confirmed"  # judged where the script ran it

    assert sorted(os.listdir(folder)) == ["classes.txt", "train.ipynb"]  # the script made of the cells is gone
    assert {(f["code"], f["cell"]) for f in result.to_json()["findings"]} >= {("TL905", 4), ("TL202", 4)}
