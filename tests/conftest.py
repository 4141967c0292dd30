from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainlint.cli import app

SEED_004_MODEL = '''
import torch.nn as nn


class ResNet(nn.Module):
    def __init__(self, channels=64):
        super().__init__()
        self.block = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        out = self.block(x)
        self.adj = nn.Conv2d(out.shape[1], out.shape[1] * 2, kernel_size=1, stride=2)
        return self.adj(out)
'''


class Project:
    """A temporary project folder with helpers to write files and run the CLI in it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        monkeypatch.chdir(root)

    def write(self, path: str, text: str) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    def run(self, *args: str):
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return Project(tmp_path, monkeypatch)
