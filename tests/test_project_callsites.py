"""A model received as a parameter takes its class from the calls of its function in the
project's other files (trainlint.facts.callsites).

The shape of real projects: engine.py defines the training helper, main.py (no class of
its own) builds the model from models.py and calls the helper. engine.py's check must
know which class `model` is: a class without dropout or BatchNorm is not hurt by a
missing `model.train()` (TL502), a softmax head fed to CrossEntropyLoss is (TL302).
"""

from __future__ import annotations

import json

import pytest

from trainlint.config import Config
from trainlint.engine import Engine
from trainlint.project import check_paths

MODELS = '''
import torch.nn as nn


class Dropped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(x)))


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x)


class SoftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        return self.softmax(self.fc(x))
'''

# model.eval() in the epoch loop, no model.train() before the next epoch's steps (TL502
# unless the class computes the same in both modes); CrossEntropyLoss on model(x) (TL302
# when the class ends in a softmax)
ENGINE = '''
import torch
import torch.nn as nn


def fit(model, train_loader, val_loader, optimizer, epochs):
    criterion = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            print(epoch, sum((model(x).argmax(1) == y).sum().item() for x, y in val_loader))
'''
EVAL_ROW, LOSS_ROW = 13, 10

MAIN = '''
import torch
from torch.utils.data import DataLoader

from engine import fit
from models import {cls}


def main():
    model = {cls}().to("cuda")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_loader = DataLoader(torch.load("train.pt"), batch_size=64, shuffle=True)
    val_loader = DataLoader(torch.load("val.pt"), batch_size=64)
    fit(model, train_loader, val_loader, optimizer, 10)


if __name__ == "__main__":
    main()
'''


def _project(project, cls: str = "Plain", main: str = MAIN) -> None:
    project.write("pyproject.toml", "[project]\nname = 'demo'\n")
    project.write("models.py", MODELS)
    project.write("engine.py", ENGINE)
    project.write("main.py", main.format(cls=cls))


def _engine_findings(project, *paths: str) -> set[tuple[int, str]]:
    result = project.run("check", "--no-cache", "--select", "ALL", "--output-format", "json", *paths)
    return {(f["location"]["row"], f["code"]) for f in json.loads(result.output) if f["filename"] == "engine.py"}


@pytest.mark.parametrize("named", [".", "engine.py"])
def test_the_class_main_passes_decides_engines_findings(project, named):
    _project(project, "Plain")
    plain = _engine_findings(project, named)
    assert (EVAL_ROW, "TL502") not in plain  # Plain has no dropout or BatchNorm: eval() changes nothing
    assert (LOSS_ROW, "TL302") not in plain
    _project(project, "Dropped")
    assert (EVAL_ROW, "TL502") in _engine_findings(project, named)
    _project(project, "SoftNet")
    soft = _engine_findings(project, named)
    assert (LOSS_ROW, "TL302") in soft  # the softmax head of models.py, fed to CrossEntropyLoss in engine.py
    assert (EVAL_ROW, "TL502") not in soft


def test_a_module_import_and_a_keyword_argument_are_calls_too(project):
    main = MAIN.replace("from engine import fit", "import engine").replace(
        "fit(model, train_loader", "engine.fit(model=model, train_loader=train_loader, val_loader=val_loader,"
        " optimizer=optimizer, epochs=10)  # ").replace("val_loader, optimizer, 10)", "")
    _project(project, "SoftNet", main)
    assert (LOSS_ROW, "TL302") in _engine_findings(project, ".")


def test_callers_that_pass_different_classes_leave_the_class_unknown(project):
    _project(project, "SoftNet")
    project.write("finetune.py", MAIN.format(cls="Plain"))
    found = _engine_findings(project, ".")
    assert (LOSS_ROW, "TL302") not in found  # either class may arrive
    assert (EVAL_ROW, "TL502") in found  # as for any model of unknown class


def test_a_call_in_another_copy_of_the_project_is_not_a_call_of_this_one(project):
    # examples/a/main.py's `from engine import fit` is examples/a/engine.py (Python finds
    # `engine` beside the script), never examples/b/engine.py
    project.write("pyproject.toml", "[project]\nname = 'demo'\n")
    for copy in ("a", "b"):
        project.write(f"examples/{copy}/models.py", MODELS)
        project.write(f"examples/{copy}/engine.py", ENGINE)
    project.write("examples/a/main.py", MAIN.format(cls="SoftNet"))
    result = project.run("check", "--no-cache", "--select", "ALL", "--output-format", "json", ".")
    found = {(f["filename"], f["code"]) for f in json.loads(result.output)}
    assert ("examples/a/engine.py", "TL302") in found
    assert ("examples/b/engine.py", "TL302") not in found


def _codes(run, path: str) -> list[str]:
    return [f.code for f in run.files if f.path == path for f in f.findings]


@pytest.mark.parametrize("named", [".", "engine.py"])
def test_a_changed_caller_checks_the_callee_again_and_a_warm_run_parses_nothing(project, monkeypatch, named):
    _project(project, "Plain")
    config = Config(root=project.root)
    parses: list[str] = []
    check_source = Engine.check_source

    def counting(self, source, path, **kwargs):
        parses.append(path)
        return check_source(self, source, path, **kwargs)

    monkeypatch.setattr(Engine, "check_source", counting)
    cold = check_paths([named], config, jobs=1, cache=True)
    assert "TL502" not in _codes(cold, "engine.py")
    assert sorted(parses) == sorted(set(parses))  # one parse per file, engine.py after main.py
    parses.clear()
    warm = check_paths([named], config, jobs=1, cache=True)
    assert warm.parsed == 0 and parses == []
    project.write("main.py", MAIN.format(cls="Dropped"))  # main.py now passes a class with dropout
    edited = check_paths([named], config, jobs=1, cache=True)
    assert "TL502" in _codes(edited, "engine.py")
    assert edited.parsed == 2  # main.py, and engine.py whose question about its callers has a new answer
    assert check_paths([named], config, jobs=1, cache=True).parsed == 0
    project.write("main.py", MAIN.format(cls="Plain"))
    assert "TL502" not in _codes(check_paths([named], config, jobs=1, cache=True), "engine.py")


def test_with_no_caller_the_files_only_model_class_holds_and_a_caller_overrides_it(project):
    project.write("pyproject.toml", "[project]\nname = 'demo'\n")
    soft = "class SoftNet" + MODELS.split("class SoftNet")[1]
    project.write("engine.py", ENGINE + "\n\n" + soft)  # fit() and the one model class it is written for
    project.write("models.py", MODELS)
    assert (LOSS_ROW, "TL302") in _engine_findings(project, ".")  # nobody calls fit(): the file's only class
    project.write("main.py", MAIN.format(cls="Plain"))
    assert (LOSS_ROW, "TL302") not in _engine_findings(project, ".")  # main.py passes models.Plain


def test_worker_processes_find_what_one_process_finds(project, monkeypatch):
    from trainlint import project as project_mod

    monkeypatch.setattr(project_mod, "SERIAL_BYTES", 0)  # a pool even for these small files
    _project(project, "SoftNet")
    config = Config(root=project.root)
    serial = check_paths(["."], config, jobs=1)
    parallel = check_paths(["."], config, jobs=2)
    assert "TL302" in _codes(parallel, "engine.py")
    assert {(f.path, tuple(x.code for x in f.findings)) for f in parallel.files} == \
        {(f.path, tuple(x.code for x in f.findings)) for f in serial.files}


def test_a_script_with_helpers_of_its_own_is_checked_before_the_helpers_it_calls(project, monkeypatch):
    # main.py defines a model helper too, so both files wait for their callers; main.py,
    # which imports fit, goes first and engine.py meets its call: one parse each
    main = MAIN.replace("def main():", "def describe(model):\n    print(model)\n\n\ndef main():")
    _project(project, "SoftNet", main)
    parses: list[str] = []
    check_source = Engine.check_source
    monkeypatch.setattr(Engine, "check_source", lambda self, source, path, **kw: parses.append(path) or check_source(
        self, source, path, **kw))
    run = check_paths(["."], Config(root=project.root), jobs=1)
    assert "TL302" in _codes(run, "engine.py")
    assert sorted(parses) == ["engine.py", "main.py", "models.py"]


def test_a_private_helper_is_followed_too(project):
    # CARLA's train_model.py: `_training_torch(model, ...)`, called by the catalog's code
    project.write("pyproject.toml", "[project]\nname = 'demo'\n")
    project.write("models.py", MODELS)
    project.write("engine.py", ENGINE.replace("def fit(", "def _fit("))
    project.write("main.py", MAIN.format(cls="SoftNet").replace("import fit", "import _fit").replace("    fit(", "    _fit("))
    assert (LOSS_ROW, "TL302") in _engine_findings(project, ".")


@pytest.mark.parametrize("cache", [False, True])
def test_stdin_reads_the_callers_in_the_project_as_check_does(project, cache):
    """`trainlint check - --stdin-filename engine.py` (an editor's unsaved text, a pipeline):
    the project's files give the index their calls of engine.py's helpers too."""
    from typer.testing import CliRunner

    from trainlint.cli import app

    def stdin_findings() -> set[tuple[int, str]]:
        args = ["check", "-", "--stdin-filename", "engine.py", "--select", "ALL", "--output-format", "json"]
        result = CliRunner().invoke(app, [*args, *([] if cache else ["--no-cache"])], input=ENGINE.lstrip("\n"))
        return {(f["location"]["row"], f["code"]) for f in json.loads(result.output)}

    _project(project, "SoftNet")
    soft = stdin_findings()
    assert (LOSS_ROW, "TL302") in soft and (EVAL_ROW, "TL502") not in soft
    assert soft == _engine_findings(project, ".")
    project.write("main.py", MAIN.format(cls="Dropped"))
    dropped = stdin_findings()
    assert (LOSS_ROW, "TL302") not in dropped and (EVAL_ROW, "TL502") in dropped
    assert dropped == _engine_findings(project, ".")


def _notebook_caller(cls: str) -> str:
    """A course notebook: the helper module imported, the model built in one cell, trained in the next."""
    from notebooks import cell, notebook

    return json.dumps(notebook(
        cell("markdown", "# Train"),
        cell("code", "import torch\nfrom torch.utils.data import DataLoader\n\nimport engine\n"
                     f"from models import {cls}\n", 1),
        cell("code", f"model = {cls}()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                     "train_loader = DataLoader(torch.load('train.pt'), batch_size=64, shuffle=True)\n"
                     "val_loader = DataLoader(torch.load('val.pt'), batch_size=64)\n", 2),
        cell("code", "engine.fit(model=model, train_loader=train_loader, val_loader=val_loader,\n"
                     "           optimizer=optimizer, epochs=10)\n", 3),
    ), indent=1) + "\n"


@pytest.mark.parametrize("named", [".", "engine.py"])
def test_a_notebook_that_calls_the_helper_is_a_caller(project, named):
    project.write("pyproject.toml", "[project]\nname = 'demo'\n")
    project.write("models.py", MODELS)
    project.write("engine.py", ENGINE)
    (project.root / "train.ipynb").write_text(_notebook_caller("SoftNet"))
    assert (LOSS_ROW, "TL302") in _engine_findings(project, named)
    (project.root / "train.ipynb").write_text(_notebook_caller("Dropped"))
    found = _engine_findings(project, named)
    assert (LOSS_ROW, "TL302") not in found and (EVAL_ROW, "TL502") in found


def test_a_default_that_calls_something_does_not_hide_the_model_parameter():
    from trainlint.project import model_helpers

    assert model_helpers(b"def fit(lr=get_lr(), model=None):\n    pass\n") == {"fit"}
    assert model_helpers(b"import torch\ndef fit(sizes=(3, 4), *, net):\n    pass\n") == {"fit"}
    assert model_helpers(b"def fit(lr=get_lr(), epochs=3):\n    pass\n") == frozenset()
