"""`trainlint check train.py` knows the classes of the project train.py belongs to.

The pre-commit hook names only the staged files: the model in models/ that ends in a
softmax, fed to CrossEntropyLoss in train.py, must be found whichever files are named.
The project is the named file's (the nearest folder with pyproject.toml, setup.py,
setup.cfg or .git); only the named files are reported.
"""

from __future__ import annotations

import json

from trainlint.config import Config
from trainlint.project import check_paths

MODEL = '''
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(128, 10)
        self.out = nn.Softmax(dim=1)

    def forward(self, x):
        return self.out(self.fc(x))

    def grow(self, x):
        self.extra = nn.Linear(10, 10)
'''

UNRELATED = '''
import torch.nn as nn


class Decoder(nn.Module):
    def forward(self, x):
        return nn.Linear(4, 4)(x)
'''

TRAIN = '''
import torch
import torch.nn as nn

from models.classifier import Classifier

model = Classifier()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
'''


def _project(project, marker: str = "pyproject.toml"):
    project.write(marker, "[project]\nname = 'demo'\n" if marker == "pyproject.toml" else "")
    project.write("models/__init__.py", "")
    project.write("models/classifier.py", MODEL)
    project.write("models/decoder.py", UNRELATED)
    project.write("train.py", TRAIN)


def _findings(project, *args):
    result = project.run("check", "--select", "ALL", "--output-format", "json", *args)
    return [(f["filename"], f["location"]["row"], f["code"]) for f in json.loads(result.output)]


def test_one_named_file_is_checked_against_its_project(project):
    _project(project)
    named = _findings(project, "--no-cache", "train.py")
    assert ("train.py", 11, "TL302") in named  # the softmax head of models/classifier.py
    assert {f for f, _, _ in named} == {"train.py"}  # the project's other files are not reported
    whole = _findings(project, "--no-cache", ".")
    assert named == [f for f in whole if f[0] == "train.py"]


def test_the_project_root_is_the_nearest_git_checkout_too(project):
    _project(project, marker=".git/HEAD")
    project.write("scripts/run.py", TRAIN)
    assert ("scripts/run.py", 11, "TL302") in _findings(project, "--no-cache", "scripts/run.py")


def test_only_the_files_that_can_answer_are_read_and_the_cache_serves_them(project):
    _project(project)
    config = Config(root=project.root)
    cold = check_paths(["train.py"], config, jobs=1, cache=True)
    # train.py, and classifier.py (it defines Classifier, which train.py names); never
    # decoder.py (no class of it is named anywhere train.py looks)
    assert cold.parsed == 2
    warm = check_paths(["train.py"], config, jobs=1, cache=True)
    assert warm.parsed == 0 and [f.code for f in warm.findings] == [f.code for f in cold.findings]
    # the model file changes: the next run reads it again and the finding goes
    project.write("models/classifier.py", MODEL.replace("        return self.out(self.fc(x))", "        return self.fc(x)"))
    after = check_paths(["train.py"], config, jobs=1, cache=True)
    assert "TL302" not in [f.code for f in after.findings]


def test_a_file_outside_any_project_is_checked_alone(project):
    project.write("models/classifier.py", MODEL)
    project.write("train.py", TRAIN)
    run = check_paths(["train.py"], Config(root=project.root), jobs=1, cache=False)
    assert "TL302" not in [f.code for f in run.findings]  # no root: the named files are the project


def test_a_run_from_inside_the_package_finds_the_class_its_imports_name(project, monkeypatch):
    # CARLA's carla/models/catalog/train_model.py, checked from its own folder: the import
    # says carla.models.catalog.ANN_TORCH, the index knows the file as ANN_TORCH.model_ann
    project.write(".git/HEAD", "")
    for package in ("carla", "carla/models", "carla/models/catalog"):
        project.write(f"{package}/__init__.py", "")
    project.write("carla/models/catalog/ANN_TORCH/__init__.py", "from .model_ann import Classifier\n")
    project.write("carla/models/catalog/ANN_TORCH/model_ann.py", MODEL)
    project.write("carla/models/catalog/train_model.py", TRAIN.replace("models.classifier", "carla.models.catalog.ANN_TORCH"))
    monkeypatch.chdir(project.root / "carla/models/catalog")
    assert ("train_model.py", 11, "TL302") in _findings(project, "--no-cache", "train_model.py")


def test_a_class_imported_from_a_library_is_never_a_project_class_of_the_same_name(project):
    _project(project)
    project.write("train.py", TRAIN.replace("models.classifier", "torchvision.models"))
    assert "TL302" not in [code for _, _, code in _findings(project, "--no-cache", "train.py")]
    project.write("train.py", TRAIN.replace("models.classifier", "model"))  # no model.py: the project's Classifier
    assert ("train.py", 11, "TL302") in _findings(project, "--no-cache", "train.py")
