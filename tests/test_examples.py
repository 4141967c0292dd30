"""The bundled example project: the buggy half shows the seeds' bugs where the seeds say
they are; the fixed twin, written the way real code fixes them, is clean under every rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainlint.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (file, code): what each seed's bug must produce in examples/buggy
EXPECTED = {
    ("data.py", "TL101"),  # seed 000 §2.4: the training loader is not shuffled
    ("data.py", "TL102"),  # seed 000 §2.1: ToTensor() without Normalize
    ("data.py", "TL104"),  # random crop in the validation pipeline
    ("models/vgg.py", "TL201"),  # seed 000 §2.3: sigmoid between convolutions
    ("models/vgg.py", "TL204"),  # seed 000 §2.5: deep conv stack without batch norm
    ("models/resnet.py", "TL202"),  # seed 004: nn.Conv2d built in forward()
    ("models/resnet.py", "TL203"),  # seed 004: every intermediate tensor kept on self
    ("train_vgg.py", "TL301"),  # seed 000 §2.7: BCELoss on a 10-class softmax head (cross-file)
    ("train_vgg.py", "TL401"),  # seed 001 §7: no zero_grad
    ("train_vgg.py", "TL406"),  # seed 002 §2: scheduler stepped before the optimizer
    ("train_vgg.py", "TL408"),  # seed 002 §1: Adam with lr=1.0
    ("train_vgg.py", "TL501"),  # validation in train mode
    ("train_resnet.py", "TL101"),  # unshuffled TensorDataset loader
    ("train_resnet.py", "TL302"),  # seed 004: softmax head into CrossEntropyLoss (cross-file)
    ("train_resnet.py", "TL504"),  # loss tensors summed with their graphs
    # the same bugs as a tutorial notebook writes them (cells joined in order, %%time kept)
    ("train_mnist.ipynb", "TL101"),  # unshuffled MNIST training loader
    ("train_mnist.ipynb", "TL302"),  # softmax head (model cell) into CrossEntropyLoss (training cell)
    ("train_mnist.ipynb", "TL401"),  # no zero_grad
    ("train_mnist.ipynb", "TL408"),  # Adam with lr=1.0
}


def _check(*args: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(app, ["check", "--output-format", "json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def test_buggy_project_shows_every_seed_bug():
    code, findings = _check("--select", "ALL", str(EXAMPLES / "buggy"))
    assert code == 1
    found = {(Path(f["filename"]).resolve().relative_to(EXAMPLES / "buggy").as_posix(), f["code"]) for f in findings}
    missing = EXPECTED - found
    assert not missing, f"not reported: {sorted(missing)}"


@pytest.mark.parametrize("select", [[], ["--select", "ALL"]], ids=["default", "all-rules"])
def test_fixed_twin_is_clean(select):
    code, findings = _check(*select, str(EXAMPLES / "fixed"))
    assert findings == [] and code == 0
