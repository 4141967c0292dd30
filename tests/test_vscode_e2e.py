"""The VS Code extension end to end in a real VS Code: code-server in Debian's chromium.

The built .vsix is installed into code-server with its own user-data, extensions and
XDG folders; a workspace holding a buggy train.py is opened; the Problems panel must
show the TL202 row; the screenshot is saved as docs/vscode-diagnostic.png.

`.ci/vscode-e2e` installs the tooling and builds the .vsix. Under CI (CI=true) missing
tooling is a failure; locally the test is skipped with the command to run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
E2E = Path(os.environ.get("TRAINLINT_E2E_DIR", Path.home() / ".cache" / "trainlint-vscode-e2e"))
CODE_SERVER = E2E / "node_modules" / ".bin" / "code-server"
PLAYWRIGHT = E2E / "node_modules" / "playwright-core"
VSIX = ROOT / "vscode-extension" / "trainlint.vsix"
DRIVER = Path(__file__).parent / "vscode_e2e" / "problems_panel.js"
SCREENSHOT = ROOT / "docs" / "vscode-diagnostic.png"

TRAIN_PY = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn


    class ResNetBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn = nn.BatchNorm2d(channels)

        def forward(self, x):
            out = torch.relu(self.bn(self.conv(x)))
            adjust = nn.Conv2d(x.shape[1], out.shape[1], kernel_size=1)
            return out + adjust(x)


    model = ResNetBlock(64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """
)


def _tooling_missing() -> str | None:
    for path, what in ((CODE_SERVER, "code-server"), (PLAYWRIGHT, "playwright-core"), (VSIX, "the .vsix")):
        if not path.exists():
            return f"{what} not found at {path}"
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        return "Debian's chromium is not installed"
    if not shutil.which("node"):
        return "node is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"code-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"code-server did not answer on {url}")


@pytest.fixture
def tooling():
    missing = _tooling_missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing}: .ci/vscode-e2e must run before the tests in CI")
        pytest.skip(f"{missing}; run .ci/vscode-e2e to install code-server, chromium and build the .vsix")


def test_problems_panel_shows_tl202(tooling, tmp_path: Path):
    home = tmp_path / "home"
    user_data, extensions = tmp_path / "user-data", tmp_path / "extensions"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    for folder in (home, user_data / "User", extensions, tmp_path / "run"):
        folder.mkdir(parents=True, exist_ok=True)
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "trainlint.interpreter": [sys.executable],
                "security.workspace.trust.enabled": False,
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.enableExperiments": False,
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                "chat.disableAIFeatures": True,
                "window.commandCenter": False,
            }
        )
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN_PY)
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.trainlint]\n')

    common = [str(CODE_SERVER), "--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    install = subprocess.run(
        [*common, "--install-extension", str(VSIX)], env=env, capture_output=True, text=True, timeout=120
    )
    assert install.returncode == 0, install.stdout + install.stderr

    port = _free_port()
    server = subprocess.Popen(
        [
            *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry",
            "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
            str(project),
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", 60, server)
        shot = tmp_path / "vscode-diagnostic.png"
        drive = subprocess.run(
            ["node", str(DRIVER), f"http://127.0.0.1:{port}/?folder={project}", str(shot)],
            env={**env, "PLAYWRIGHT_CORE": str(PLAYWRIGHT)}, capture_output=True, text=True, timeout=240,
        )
        assert drive.returncode == 0, f"{drive.stdout}\n{drive.stderr}\n(failure screenshot: {tmp_path})"
        rows = json.loads(drive.stdout.strip().splitlines()[-1])
        tl202 = [row for row in rows if "TL202" in row]
        assert tl202, rows
        assert "forward()" in tl202[0]
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
