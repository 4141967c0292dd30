"""The VS Code extension end to end in a real VS Code: code-server in Debian's chromium.

The built .vsix is installed into code-server with its own user-data, extensions and
XDG folders; a workspace holding a buggy train.py is opened; the Problems panel must
show the TL202 row; the screenshot is saved as docs/vscode-diagnostic.png. Then, in the
same window (code-server's start is the slow part, so it starts once for the module):

- `trainlint.interpreter` is changed (in the workspace's .vscode/settings.json: code-server
  reads the user settings.json on disk only at start) to a Python without trainlint: the
  server restarts with it, says "trainlint is not installed for ...", and its diagnostics
  are gone; changed again, to a wrapper of this Python, the server restarts with that one
  and TL202 returns;
- a notebook whose only fix, TL505's in its loop's cell, adds `import copy` to the first
  cell: the fix is chosen from the light bulb menu of its Problems row, the notebook saved,
  and its cells must read as `trainlint check --fix` writes them;
- a small CPU training script is written into the workspace and "trainlint: Probe This
  File" is run from the command palette: the probe's TL905 and its confirmed TL202 show
  in the Problems panel. The probe needs torch in this Python.

`.ci/vscode-e2e` installs the tooling and builds the .vsix. Under CI (CI=true) missing
tooling (or torch, for the probe) is a failure; locally the tests are skipped with the
command to run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
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
NOTEBOOK = ROOT / "examples" / "buggy" / "train_mnist.ipynb"
IN_CI = os.environ.get("CI", "").lower() == "true"
HAS_TORCH = importlib.util.find_spec("torch") is not None

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

# Written into the workspace after the screenshot (so the explorer in it shows train.py
# alone); the shape of tests/fixtures/probe/conv_in_forward.py: forward() builds a Conv2d
# on every call, which the probe measures as TL905 and which confirms the static TL202.
# 24 batches of 16 8x8 images: the probe stops at its 20 steps after ~3 s on a CPU.
PROBE_PY = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset


    class Net(nn.Module):
        def __init__(self, classes=5):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.head = nn.Linear(32, classes)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            x = F.relu(self.conv2(x))
            return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


    def main():
        torch.manual_seed(0)
        images = torch.randn(128, 3, 8, 8)
        labels = torch.randint(0, 5, (128,))
        loader = DataLoader(TensorDataset(images, labels), batch_size=16, shuffle=True)
        model = Net()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = nn.CrossEntropyLoss()
        for epoch in range(3):
            for inputs, target in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), target)
                loss.backward()
                optimizer.step()


    if __name__ == "__main__":
        main()
    """
)

# A notebook whose only fix, TL505's in the loop's cell, adds `import copy` to the first cell.
COPY_NOTEBOOK = json.dumps({
    "cells": [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["import torch\n", "import torch.nn as nn"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["## Keep the best weights"]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["model = nn.Linear(4, 2)\n", "best_acc = 0.0\n", "for epoch in range(3):\n",
                    "    acc = epoch * 0.1\n", "    if acc > best_acc:\n", "        best_acc = acc\n",
                    "        best_state = model.state_dict()\n", "model.load_state_dict(best_state)"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}, indent=1)

SETTINGS = {
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


def _kill_group(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(10)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def tooling():
    missing = _tooling_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}: .ci/vscode-e2e must run before the tests in CI")
        pytest.skip(f"{missing}; run .ci/vscode-e2e to install code-server, chromium and build the .vsix")


def _interpreter(interpreter: list[str]) -> str:
    return json.dumps({"trainlint.interpreter": interpreter}, indent=4)


def _code_server_env(tmp_path: Path, interpreter: list[str]) -> tuple[dict, Path, Path]:
    """A home, user-data and extensions folder of code-server's own, under tmp_path."""
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
    for folder in (home, user_data / "User", extensions, tmp_path / "run", tmp_path / "bin"):
        folder.mkdir(parents=True, exist_ok=True)
    user_settings = {"trainlint.interpreter": interpreter, **SETTINGS}
    (user_data / "User" / "settings.json").write_text(json.dumps(user_settings))
    return env, user_data, extensions


def _drive(tmp_path: Path, env: dict, user_data: Path, extensions: Path, project: Path, plan: list,
           cwd: Path | None = None) -> tuple[dict, subprocess.CompletedProcess, Path]:
    """Install the .vsix, start code-server on `project` (from `cwd`: the extension host's working
    folder), run the driver with `plan`; returns its JSON, its process and the screenshot path."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    common = [str(CODE_SERVER), "--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    install = subprocess.run(
        [*common, "--install-extension", str(VSIX)], env=env, capture_output=True, text=True, timeout=120
    )
    assert install.returncode == 0, install.stdout + install.stderr

    port = _free_port()
    server_log = (tmp_path / "code-server.log").open("w")
    server = subprocess.Popen(
        [
            *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry",
            "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
            str(project),
        ],
        # its own process group: the extension host, the file watcher and the trainlint server
        # it started go with it (they would linger for a while after code-server alone)
        env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
    )
    shot = tmp_path / "vscode-diagnostic.png"
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", 60, server)
        drive = subprocess.run(
            ["node", str(DRIVER), f"http://127.0.0.1:{port}/?folder={project}", str(shot), str(plan_file)],
            env={**env, "PLAYWRIGHT_CORE": str(PLAYWRIGHT)}, capture_output=True, text=True, timeout=420,
        )
    finally:
        _kill_group(server)
        server_log.close()
    lines = drive.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"rows": None, "steps": []}
    return result, drive, shot


@pytest.fixture(scope="module")
def vscode(tooling, tmp_path_factory):
    """One code-server, one browser session: the screenshot, then every step of the plan.

    Returns the driver's JSON ({"rows", "steps"}) plus what the tests need to judge it;
    a failed step is judged by the test that owns it (the driver stops there).
    """
    tmp_path = tmp_path_factory.mktemp("vscode")
    env, user_data, extensions = _code_server_env(tmp_path, [sys.executable])
    project = tmp_path / "project"
    project.mkdir()
    # written by the driver after the screenshot (the explorer in it shows no .vscode)
    workspace_settings = project / ".vscode" / "settings.json"
    (project / "train.py").write_text(TRAIN_PY)
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.trainlint]\n')

    # no site-packages, no PYTHONPATH, no cwd on sys.path: trainlint cannot be imported
    without = [sys.executable, "-I", "-S"]
    # this Python again, under another name, logging its calls: proof of who ran what
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "python-again"
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\nexec {shlex.quote(sys.executable)} "$@"\n'
    )
    wrapper.chmod(0o755)
    probe_py = project / "probe_demo.py"
    notebook = project / "train_mnist.ipynb"
    copy_notebook = project / "best_weights.ipynb"
    plan = [
        {
            "name": "without-trainlint",
            "write": {"path": str(workspace_settings), "content": _interpreter(without)},
            "notification": "trainlint is not installed for",
            "noRow": "TL202",
        },
        {
            "name": "back",
            "write": {"path": str(workspace_settings), "content": _interpreter([str(wrapper)])},
            "row": "TL202",
        },
        {
            # the bundled buggy notebook, opened in VS Code's notebook editor: its cells reach
            # the server through notebook sync, and the training cell's TL302 is a Problems row
            "name": "notebook",
            "write": {"path": str(notebook), "content": NOTEBOOK.read_text()},
            "open": notebook.name,
            "row": "TL302",
        },
        {
            # a quick fix in the training cell whose edit reaches the first cell (TL505's
            # `import copy`): chosen from the light bulb menu, it edits both cells
            "name": "cross-cell-fix",
            "write": {"path": str(copy_notebook), "content": COPY_NOTEBOOK},
            "open": copy_notebook.name,
            "row": "TL505",
            "quickFix": {"row": "TL505", "title": "Copy the state dict with copy.deepcopy (TL505)"},
            "save": True,
        },
    ]
    if HAS_TORCH:
        plan.append(
            {
                "name": "probe",
                "write": {"path": str(probe_py), "content": PROBE_PY},
                "open": probe_py.name,
                "command": "trainlint: Probe This File",
                "notification": "trainlint probe: ",
                "row": "TL905",
                "timeout": 120_000,
            }
        )
    result, drive, shot = _drive(tmp_path, env, user_data, extensions, project, plan)
    failure = f"{drive.stdout}\n{drive.stderr}\n(failure screenshot, logs: {tmp_path})"
    return {
        **result,
        "failure": None if drive.returncode == 0 else failure,
        "screenshot": shot,
        "calls": calls,
        "without": " ".join(without),
        "probe_py": str(probe_py),
        "copy_notebook": str(copy_notebook),
    }


def _step(vscode, name: str) -> dict:
    """The driver's record of a step that completed; the driver's failure otherwise."""
    record = next((step for step in vscode["steps"] if step["name"] == name), None)
    assert record is not None and "error" not in record, vscode["failure"] or vscode["steps"]
    return record


def _runs_trainlint(call: str, command: str) -> bool:
    """Whether a logged interpreter call ran `python -m trainlint COMMAND` the extension's way:
    through runpy, with the working folder taken off sys.path first."""
    return (call.startswith("-c import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]")
            and "runpy.run_module('trainlint'" in call and f" {command}" in call)


def _calls(vscode) -> list[str]:
    calls = vscode["calls"]
    return calls.read_text().splitlines() if calls.exists() else []


def test_problems_panel_shows_tl202(vscode):
    rows = vscode["rows"]
    assert rows is not None, vscode["failure"]
    tl202 = [row for row in rows if "TL202" in row]
    assert tl202, rows
    assert "forward()" in tl202[0]
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(vscode["screenshot"], SCREENSHOT)


def test_interpreter_change_restarts_server(vscode):
    # a Python without trainlint: the server is restarted with it, which fails loudly,
    # and the old server's diagnostics are gone
    without = _step(vscode, "without-trainlint")
    message = f"trainlint is not installed for {vscode['without']}"
    assert any(message in text for text in without["notifications"]), without
    assert not [row for row in without["rows"] if "TL202" in row], without["rows"]
    # back to a Python with trainlint (another path to it): the server runs with it
    back = _step(vscode, "back")
    tl202 = [row for row in back["rows"] if "TL202" in row]
    assert tl202 and "forward()" in tl202[0], back["rows"]
    assert any(_runs_trainlint(call, "server") for call in _calls(vscode)), _calls(vscode)


def test_notebook_cells_in_the_problems_panel(vscode):
    notebook = _step(vscode, "notebook")
    tl302 = [row for row in notebook["rows"] if "TL302" in row]
    assert tl302 and "already a softmax" in tl302[0], notebook["rows"]
    assert [row for row in notebook["rows"] if "TL401" in row], notebook["rows"]


def test_a_quick_fix_in_a_cell_adds_its_import_to_the_first_cell(vscode, tmp_path):
    from trainlint.notebook import read_notebook

    step = _step(vscode, "cross-cell-fix")
    assert not [row for row in step["rows"] if "TL505" in row], step["rows"]
    saved = [cell.source for cell in read_notebook(Path(vscode["copy_notebook"]).read_text()).cells]
    assert saved[0] == "import copy\nimport torch\nimport torch.nn as nn", saved
    # both cells read as `trainlint check --fix` writes them
    fixed = tmp_path / "best_weights.ipynb"
    fixed.write_text(COPY_NOTEBOOK)
    subprocess.run([sys.executable, "-m", "trainlint", "check", "--fix", fixed.name], cwd=tmp_path,
                   capture_output=True, check=False)
    assert saved == [cell.source for cell in read_notebook(fixed.read_text()).cells]


def test_probe_this_file(vscode):
    if not HAS_TORCH:
        if IN_CI:
            pytest.fail(f"torch is not installed for {sys.executable}: the probe needs it (pip install torch)")
        pytest.skip(f"torch is not installed for {sys.executable}; the probe command needs it")
    probe = _step(vscode, "probe")
    rows = probe["rows"]
    tl905 = [row for row in rows if "TL905" in row]
    assert tl905 and "trainlint probe" in tl905[0] and "no optimizer param group" in tl905[0], rows
    confirmed = [row for row in rows if "TL202" in row and "trainlint probe" in row]
    assert confirmed and confirmed[0].startswith("[confirmed]"), rows
    assert any(text.startswith("trainlint probe: ") for text in probe["notifications"]), probe
    # the probe ran with the interpreter the server was restarted with
    assert any(_runs_trainlint(call, f"probe {vscode['probe_py']}") for call in _calls(vscode)), _calls(vscode)


def _site_folders(*modules: str) -> list[str]:
    """The site-packages folders trainlint's dependencies are imported from here."""
    folders = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        folder = str(Path(spec.origin).parent.parent)
        if folder not in folders:
            folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def vscode_in_repository(tooling, tmp_path_factory):
    """This repository opened in VS Code, as its developers (or anyone whose project holds a
    `trainlint/` folder) open it, with trainlint installed as users get it: a wheel's files,
    not this checkout's editable install. The workspace folder, which is code-server's and so
    the extension host's working folder too, then holds a `trainlint/` package without the
    `server` subpackage (it lives in server/, mapped at install): a Python that imports from
    the working folder cannot start the server."""
    tmp_path = tmp_path_factory.mktemp("vscode-repo")
    repository = tmp_path / "trainlint-repository"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repository / name)
    (repository / "train.py").write_text(TRAIN_PY)
    installed = tmp_path / "installed"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(installed), str(repository)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (installed / "trainlint" / "server" / "app.py").is_file()
    # `-S`: no site.py, so no .pth and no editable install of this checkout; the wheel's files
    # and the dependencies on PYTHONPATH, as a plain `pip install trainlint` would have them
    path = os.pathsep.join([str(installed), *_site_folders("libcst", "pygls", "lsprotocol", "typer", "rich",
                                                           "pathspec", "platformdirs", "click", "cattrs", "attrs")])
    wrapper = tmp_path / "bin" / "python-wheel"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(path)} exec {shlex.quote(sys.executable)} -S \"$@\"\n")
    wrapper.chmod(0o755)
    shadowed = subprocess.run([str(wrapper), "-c", "import trainlint.server.app"], cwd=repository,
                              capture_output=True, text=True)
    assert "No module named 'trainlint.server'" in shadowed.stderr  # what the extension ran into
    env, user_data, extensions = _code_server_env(tmp_path, [str(wrapper)])
    result, drive, _ = _drive(tmp_path, env, user_data, extensions, repository, [], cwd=repository)
    return {**result, "failure": None if drive.returncode == 0 else f"{drive.stdout}\n{drive.stderr}\n({tmp_path})"}


def test_the_server_starts_with_the_trainlint_repository_open(vscode_in_repository):
    rows = vscode_in_repository["rows"]
    assert rows is not None, vscode_in_repository["failure"]
    tl202 = [row for row in rows if "TL202" in row]
    assert tl202 and "forward()" in tl202[0], rows
