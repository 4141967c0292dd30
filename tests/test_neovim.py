"""Another real LSP client: Neovim's built-in one, headless, against `trainlint server`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "nvim" / "lsp_diagnostics.lua"

TRAIN_PY = """\
import torch.nn as nn


class Head(nn.Module):
    def forward(self, x):
        return nn.Linear(x.shape[1], 10)(x.flatten(1))
"""


def test_neovim_shows_the_diagnostic(tmp_path: Path):
    nvim = shutil.which("nvim")
    if nvim is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nvim not found: .ci/vscode-e2e installs Debian's neovim")
        pytest.skip("nvim not found (apt-get install neovim)")
    (tmp_path / "train.py").write_text(TRAIN_PY)
    run = subprocess.run(
        [nvim, "--headless", "--clean", "-n", "-i", "NONE", "-c", f"luafile {SCRIPT}", "train.py"],
        cwd=tmp_path, env={**os.environ, "TRAINLINT_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=120,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.strip().splitlines()
    assert line.startswith("5:15 TL202 1 `nn.Linear(...)` is built inside forward() of Head")
