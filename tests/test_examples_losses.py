"""The bundled example project: the seed loss mistakes are found across files, the fixed twin is clean."""

from __future__ import annotations

from pathlib import Path

from trainlint.config import Config
from trainlint.project import check_paths

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _findings(folder: str):
    result = check_paths([EXAMPLES / folder], Config(select=("TL3", "TL6")))
    return sorted((Path(f.path).name, f.location.row, f.code) for f in result.findings)


def test_buggy_losses_are_reported_in_the_training_scripts():
    assert _findings("buggy") == [
        ("probe_resnet.py", 35, "TL302"),
        ("train_mnist.ipynb", 7, "TL302"),  # row 7 of the notebook's training cell
        ("train_resnet.py", 24, "TL302"),
        ("train_vgg.py", 23, "TL301"),
    ]


def test_fixed_examples_are_clean():
    assert _findings("fixed") == []
