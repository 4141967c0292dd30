"""The data rules on the bundled example project, through the command line a user runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from trainlint.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DATA_CODES = "TL101,TL102,TL103,TL104"
# A training script whose loader is not shuffled: TL101 unless the file is test code.
_UNSHUFFLED_TRAINING = (
    "import torch\n"
    "from torch.utils.data import DataLoader, TensorDataset\n\n"
    "train_loader = DataLoader(TensorDataset(torch.randn(64, 3), torch.randint(0, 2, (64,))), batch_size=32)\n"
    "model = torch.nn.Linear(3, 2)\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "for x, y in train_loader:\n"
    "    optimizer.zero_grad()\n"
    "    torch.nn.functional.cross_entropy(model(x), y).backward()\n"
    "    optimizer.step()\n"
)


def _findings(path: Path) -> list[dict]:
    result = CliRunner().invoke(app, ["check", "--select", DATA_CODES, "--output-format", "json", str(path)])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_buggy_project_reports_the_seed_data_bugs_exactly_there():
    # tests/test_examples.py checks that each bug is reported; here: on which line, and nothing else
    found = {(Path(f["filename"]).name, f["location"]["row"], f["code"]) for f in _findings(EXAMPLES / "buggy")}
    assert found == {
        ("data.py", 6, "TL102"),  # train_transform: ToTensor, no Normalize
        ("data.py", 11, "TL102"),  # val_transform: the same
        ("data.py", 12, "TL104"),  # RandomCrop in the validation pipeline
        ("data.py", 20, "TL101"),  # train_loader without shuffle
        ("train_resnet.py", 13, "TL101"),  # DataLoader(TensorDataset(...)) without shuffle
        ("train_mnist.ipynb", 4, "TL101"),  # the notebook's MNIST train_loader (row 4 of cell 4)
    }


def test_unsafe_shuffle_fix_is_offered():
    [finding] = [f for f in _findings(EXAMPLES / "buggy" / "train_resnet.py") if f["code"] == "TL101"]
    assert finding["fix"]["applicability"] == "unsafe"
    assert [e["content"] for e in finding["fix"]["edits"]] == ["32, shuffle=True"]
    assert "shuffle" in finding["message"] and "train_loader" in finding["message"]


def test_batch_size_one_is_off_by_default(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import torch\n"
        "train_loader = torch.utils.data.DataLoader(train_set, batch_size=1, shuffle=True)\n"
    )
    result = CliRunner().invoke(app, ["check", "--output-format", "json", str(script)])
    assert json.loads(result.stdout) == []
    assert [f["code"] for f in _findings(script)] == ["TL103"]


def test_a_project_below_a_folder_called_test_is_not_test_code(tmp_path, monkeypatch):
    """Test code is exempt from the data rules; a project checked out in ~/test/ is not test code."""
    project = tmp_path / "test" / "proj"
    (project / "tests").mkdir(parents=True)
    loader = _UNSHUFFLED_TRAINING
    (project / "train.py").write_text(loader)
    (project / "tests" / "loaders.py").write_text(loader)  # a helper of the test suite
    (project / "pyproject.toml").write_text("[tool.trainlint]\n")
    monkeypatch.chdir(tmp_path)
    found = {(Path(f["filename"]).name, f["code"]) for f in _findings(project)}
    assert found == {("train.py", "TL101")}
    # a file of a tests/ folder checked from outside the project: its folder still says so
    (project / "pyproject.toml").unlink()
    assert _findings(project / "tests" / "loaders.py") == []


def test_whether_a_file_is_test_code_is_part_of_the_cache_key(tmp_path, monkeypatch):
    """The project layout decides which files are test code: when it changes (here the
    `.git` that marks the project's root goes away, so the file is read as living in
    ~/test/), the cached findings of an unchanged file must not be reused."""
    project = tmp_path / "test" / "proj"
    project.mkdir(parents=True)
    (project / "train.py").write_text(_UNSHUFFLED_TRAINING)
    (project / ".git").mkdir()
    monkeypatch.chdir(tmp_path)

    def codes() -> list[str]:
        result = CliRunner().invoke(app, ["check", "--select", DATA_CODES, "--output-format", "json", "test/proj"])
        assert result.exit_code in (0, 1), result.output
        return [f["code"] for f in json.loads(result.stdout)]

    assert codes() == ["TL101"]  # a project of its own: its training loader is checked
    (project / ".git").rmdir()
    assert codes() == []  # now a file under a folder called `test`: test code, exempt


def test_a_test_utils_package_is_test_code(tmp_path):
    """A library's test helpers (accelerate's `test_utils/training.py` builds its regression
    loaders with shuffle=False on purpose) are test code, like a tests/ folder."""
    from trainlint.layout import forget_folders, is_test_path

    (tmp_path / "pyproject.toml").write_text("")
    helper = tmp_path / "src" / "lib" / "test_utils" / "training.py"
    script = tmp_path / "src" / "lib" / "training.py"
    for path in (helper, script):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    forget_folders()
    assert is_test_path(str(helper)) and not is_test_path(str(script))
