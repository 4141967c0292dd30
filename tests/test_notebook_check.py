"""`trainlint check` on notebooks, as a user sees it: findings in their cells, in every
output format, noqa in cells, bad notebooks named, the project's models known."""

from __future__ import annotations

import json
from pathlib import Path

from notebooks import MODEL, cell, code_notebook, dumps, notebook

LOOP = """\
%%time
for epoch in range(3):
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()"""
SETUP = """\
model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(TensorDataset(torch.randn(64, 784), torch.randint(0, 10, (64,))), batch_size=8, shuffle=True)"""
IMPORTS = """\
%matplotlib inline
!pip install -q torch
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset"""


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _train_notebook(*, imports: str = IMPORTS, model: str = MODEL, loop: str = LOOP) -> str:
    # cells: 1 markdown, 2 imports, 3 markdown, 4 model, 5 setup, 6 loop
    return code_notebook("md:# Train", imports, "md:## Model", model, SETUP, loop)


def _json(project, *args) -> list[dict]:
    result = project.run("check", "--output-format", "json", *args)
    return json.loads(result.output)


def test_text_output_names_the_cell_and_shows_its_code(project):
    _write(project.root, "train.ipynb", _train_notebook())
    result = project.run("check", "train.ipynb")
    assert result.exit_code == 1
    assert "train.ipynb:cell 6:5:16: TL302 [error]" in result.output
    # the frame shows the cell's own rows, as written (its magic included)
    assert "4 │         optimizer.zero_grad()\n5 │         loss = criterion(model(x), y)\n" in result.output
    concise = project.run("check", "--output-format", "concise", "train.ipynb").output
    assert concise.splitlines()[0].startswith("train.ipynb:cell 6:5:16: TL302")


def test_json_carries_the_cell_and_positions_in_it(project):
    _write(project.root, "train.ipynb", _train_notebook())
    (finding,) = [f for f in _json(project, "train.ipynb") if f["code"] == "TL302"]
    assert finding["cell"] == 6
    assert finding["location"] == {"row": 5, "column": 16}
    assert finding["end_location"] == {"row": 5, "column": 38}
    _write(project.root, "train.py", "import torch\nmodel = torch.nn.Sequential(torch.nn.Linear(2, 2))\nmodel.forward(1)\n")
    assert all("cell" not in f for f in _json(project, "train.py"))  # a .py file's output is as it was


def test_github_and_sarif_point_into_the_notebook_file(project):
    path = _write(project.root, "train.ipynb", _train_notebook())
    lines = path.read_text().splitlines()
    out = project.run("check", "--output-format", "github", "train.ipynb").output
    line = next(row for row in out.splitlines() if "TL302" in row)
    props = dict(part.split("=", 1) for part in line.split(" ", 1)[1].split("::")[0].split(","))
    row, col, end = int(props["line"]), int(props["col"]), int(props["endColumn"])
    assert lines[row - 1][col - 1:end - 1] == "criterion(model(x), y)"
    assert "::cell 6, line 5: TL302" in line

    sarif = json.loads(project.run("check", "--output-format", "sarif", "train.ipynb").output)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "TL302"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (row, col)
    assert result["properties"]["cell"] == 6
    assert result["properties"]["cellRegion"]["startLine"] == 5


def test_noqa_on_a_cell_line(project):
    loop = LOOP.replace("loss = criterion(model(x), y)", "loss = criterion(model(x), y)  # noqa: TL302")
    _write(project.root, "train.ipynb", _train_notebook(loop=loop))
    assert [f["code"] for f in _json(project, "train.ipynb") if f["code"] == "TL302"] == []


def test_file_level_noqa_in_the_first_code_cell_covers_the_notebook(project):
    _write(project.root, "train.ipynb", _train_notebook(imports="# trainlint: noqa\n" + IMPORTS))
    result = project.run("check", "train.ipynb")
    assert result.exit_code == 0, result.output
    # in a later cell it is only a comment
    _write(project.root, "train.ipynb", _train_notebook(loop="# trainlint: noqa\n" + LOOP))
    assert "TL302" in project.run("check", "train.ipynb").output


def test_a_cell_that_does_not_parse_is_reported_and_the_others_checked(project):
    nb = code_notebook("md:# Train", IMPORTS, "md:## Model", MODEL, SETUP, LOOP, "def broken(:\n    pass")
    _write(project.root, "train.ipynb", nb)
    findings = _json(project, "train.ipynb")
    assert [(f["code"], f.get("cell"), f["location"]["row"]) for f in findings if f["code"] in ("TL000", "TL302")] == [
        ("TL302", 6, 5),
        ("TL000", 7, 1),
    ]
    (syntax,) = [f for f in findings if f["code"] == "TL000"]
    assert syntax["message"].startswith("syntax error")


def test_a_bad_notebook_is_one_tl000_and_the_run_goes_on(project):
    _write(project.root, "broken.ipynb", '{"nbformat": 4, "cells": [\n')
    _write(project.root, "old.ipynb", '{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}')
    _write(project.root, "train.ipynb", _train_notebook())
    findings = _json(project, "broken.ipynb", "old.ipynb", "train.ipynb")
    by_file = {}
    for f in findings:
        by_file.setdefault(f["filename"], []).append((f["code"], f["message"]))
    assert by_file["broken.ipynb"] == [("TL000", by_file["broken.ipynb"][0][1])]
    assert "not valid JSON" in by_file["broken.ipynb"][0][1]
    assert len(by_file["old.ipynb"]) == 1 and "nbformat 3" in by_file["old.ipynb"][0][1]
    assert ("TL302" in {code for code, _ in by_file["train.ipynb"]})


def test_a_notebook_in_another_language_is_not_checked(project):
    _write(project.root, "analysis.ipynb", code_notebook("library(torch)\nx <- 1", language="R"))
    result = project.run("check", "analysis.ipynb")
    assert result.exit_code == 0 and "All checks passed" in result.output


def test_cells_in_another_language_are_not_checked(project):
    _write(project.root, "train.ipynb", code_notebook("%%bash\nfor f in *.py; do echo $f; done", "%%html\n<b>x</b>"))
    assert project.run("check", "train.ipynb").exit_code == 0


def test_a_notebook_gets_the_models_of_the_project(project):
    _write(project.root, "models/__init__.py", "")
    _write(project.root, "models/net.py", "import torch.nn as nn\nimport torch.nn.functional as F\n\n\n" + MODEL + "\n")
    imports = "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\nfrom models.net import Net"
    _write(project.root, "train.ipynb", code_notebook(imports, SETUP, LOOP))
    findings = _json(project, "models/net.py", "train.ipynb")
    assert [(f["filename"], f.get("cell"), f["code"]) for f in findings if f["code"] == "TL302"] == [("train.ipynb", 3, "TL302")]


def test_a_py_file_never_imports_a_notebook(project):
    _write(project.root, "net.ipynb", code_notebook("import torch.nn as nn\nimport torch.nn.functional as F", MODEL))
    _write(
        project.root,
        "train.py",
        "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\nfrom net import Net\n\n"
        + SETUP + "\n" + LOOP.replace("%%time\n", "") + "\n",
    )
    findings = _json(project, "net.ipynb", "train.py")
    assert [f for f in findings if f["code"] == "TL302"] == []


def test_a_source_with_one_string_and_no_outputs_is_checked(project):
    document = notebook(cell("code", ""))
    document["cells"][0]["source"] = IMPORTS + "\n" + MODEL + "\n" + SETUP + "\n" + LOOP.replace("%%time\n", "")
    _write(project.root, "train.ipynb", dumps(document))
    assert any(f["code"] == "TL302" and f["cell"] == 1 for f in _json(project, "train.ipynb"))


def test_folders_are_checked_with_their_notebooks_and_excludes_apply(project):
    _write(project.root, "nbs/train.ipynb", _train_notebook())
    _write(project.root, "nbs/.ipynb_checkpoints/train-checkpoint.ipynb", _train_notebook())  # Jupyter's autosave
    _write(project.root, "old/train.ipynb", _train_notebook())
    _write(project.root, "pyproject.toml", '[tool.trainlint]\nextend-exclude = ["old"]\n')
    files = {f["filename"] for f in _json(project, ".")}
    assert files == {"nbs/train.ipynb"}


def test_the_cache_covers_notebooks(project):
    from trainlint.config import load_config
    from trainlint.project import check_paths

    path = _write(project.root, "train.ipynb", _train_notebook())
    config = load_config(start=project.root)
    cold = check_paths([project.root], config, jobs=1, cache=True)
    warm = check_paths([project.root], config, jobs=1, cache=True)
    assert warm.parsed == 0 and warm.cached == 1
    assert [(f.cell, f.code) for f in warm.findings] == [(f.cell, f.code) for f in cold.findings]
    assert (6, "TL302") in [(f.cell, f.code) for f in warm.findings]
    path.write_text(_train_notebook(model=MODEL.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)")))
    edited = check_paths([project.root], config, jobs=1, cache=True)
    assert edited.parsed == 1 and "TL302" not in {f.code for f in edited.findings}


def test_per_file_ignores_match_notebooks(project):
    _write(project.root, "nbs/train.ipynb", _train_notebook())
    _write(project.root, "pyproject.toml", '[tool.trainlint.per-file-ignores]\n"*.ipynb" = ["TL302"]\n')
    assert "TL302" not in {f["code"] for f in _json(project, ".")}


def test_a_future_import_in_a_later_cell_is_no_syntax_error(project):
    """IPython compiles each cell on its own, so `from __future__ import print_function` in
    cell 4 is valid there (seen in a public tutorial notebook); the joined module's
    "must occur at the beginning of the file" is not the notebook's error."""
    model = "from __future__ import print_function\n" + MODEL
    _write(project.root, "train.ipynb", _train_notebook(model=model))
    codes = [f["code"] for f in _json(project, "train.ipynb")]
    assert "TL000" not in codes and "TL302" in codes
    _write(project.root, "script.py", "import torch\nx = 1\nfrom __future__ import annotations\n")
    assert [f["code"] for f in _json(project, "script.py")] == ["TL000"]  # a .py file: Python refuses it
