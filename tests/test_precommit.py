"""The real pre-commit tool runs our hooks: it fails on a buggy training script and passes
once the bug is fixed. pre-commit builds a virtual environment and pip-installs this
repository into it (from the package registry), so this test takes about a minute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pre_commit")
if shutil.which("git") is None:  # pragma: no cover
    pytest.skip("git is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]

BUGGY = textwrap.dedent(
    """\
    import torch.nn as nn


    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            shortcut = nn.Conv2d(3, 8, kernel_size=1)
            return self.conv(x) + shortcut(x)
    """
)
FIXED = textwrap.dedent(
    """\
    import torch.nn as nn


    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.shortcut = nn.Conv2d(3, 8, kernel_size=1)

        def forward(self, x):
            return self.conv(x) + self.shortcut(x)
    """
)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory) -> tuple[Path, str]:
    """This working tree (uncommitted work included) as a commit pre-commit can install."""
    repo = tmp_path_factory.mktemp("trainlint-repo")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "snapshot")
    return repo, _git(repo, "rev-parse", "HEAD").strip()


def _try_repo(hooks_repo, project: Path, home: Path) -> subprocess.CompletedProcess:
    """Both hooks (trainlint, trainlint-fix) on every file; try-repo installs them afresh each time."""
    repo, rev = hooks_repo
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(repo), "--ref", rev, "--all-files"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )


def test_hook_fails_on_the_bug_and_passes_after_the_fix(hooks_repo, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "train.py").write_text(BUGGY)
    _git(project, "add", "train.py")
    home = tmp_path / "pre-commit-home"

    failed = _try_repo(hooks_repo, project, home)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.count("train.py:10:20: TL202") == 2  # each hook reports it
    assert failed.stdout.count("Failed") == 2

    (project / "train.py").write_text(FIXED)
    _git(project, "add", "train.py")
    passed = _try_repo(hooks_repo, project, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("Passed") == 2
    assert (project / "train.py").read_text() == FIXED


def test_hooks_check_notebooks(hooks_repo, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    buggy = (ROOT / "examples" / "buggy" / "train_mnist.ipynb").read_bytes()
    (project / "train.ipynb").write_bytes(buggy)
    _git(project, "add", "train.ipynb")
    home = tmp_path / "pre-commit-home"

    failed = _try_repo(hooks_repo, project, home)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.count("train.ipynb:cell 9:7:16: TL302") == 2  # each hook reports it
    assert (project / "train.ipynb").read_bytes() == buggy  # no safe fix there: the fix hook leaves it alone

    fixed = (ROOT / "examples" / "fixed" / "train_mnist.ipynb").read_bytes()
    (project / "train.ipynb").write_bytes(fixed)
    _git(project, "add", "train.ipynb")
    passed = _try_repo(hooks_repo, project, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert (project / "train.ipynb").read_bytes() == fixed


def _readme_hook_config() -> str:
    """The `.pre-commit-config.yaml` block of the README, exactly as a user copies it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in readme.split("```yaml\n")[1:]:
        body = block.split("```", 1)[0]
        if body.startswith("# .pre-commit-config.yaml\n"):
            return body
    raise AssertionError("the README shows no .pre-commit-config.yaml")


def test_the_readme_snippet_works_as_shown(tmp_path):
    """The README's hook (a `repo: local` one running the installed trainlint) fails the
    commit on the bug and passes once it is fixed: no repository URL or tag it cannot reach."""
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(_readme_hook_config())
    (project / "train.py").write_text(BUGGY)
    _git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)

    failed = run()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "train.py:10:20: TL202" in failed.stdout
    (project / "train.py").write_text(FIXED)
    _git(project, "add", "-A")
    passed = run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
