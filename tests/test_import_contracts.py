"""The import layers of pyproject.toml ([tool.importlinter]) hold, and breaking one fails the check.

`.ci/lint-imports` is what CI runs: import-linter on a copy of the package laid out as the
wheel installs it (rules/ and server/ inside trainlint/).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = {c["id"]: c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("importlinter") is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    env = {**os.environ, "COLUMNS": "400"}  # one contract per line: lint-imports wraps at the width
    return subprocess.run([sys.executable, str(root / ".ci" / "lint-imports")], capture_output=True, text=True,
                          env=env, timeout=300)


def _verdicts(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from lint-imports' summary."""
    names = {c["name"]: key for key, c in CONTRACTS.items()}
    found = {}
    for line in output.splitlines():
        for name, key in names.items():
            if line.startswith(name + " "):
                found[key] = line[len(name) + 1 :].split()[0]
    return found


def test_the_import_contracts_hold():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _verdicts(done.stdout) == {key: "KEPT" for key in CONTRACTS}, done.stdout


# (contract, file of the copy, code appended to it, other contracts the import breaks too):
# one violation of each contract. An import up the layers also closes a cycle.
VIOLATIONS = [
    ("layers", "trainlint/facts/_reaches_up.py", "from trainlint.engine import Engine\n", {"no-cycles"}),
    ("engine-knows-no-rule", "trainlint/registry.py", "\nimport trainlint.rules.loss.bce_on_logits\n", {"no-cycles"}),
    ("engine-reads-the-facts-api", "trainlint/engine.py", "\nimport trainlint.facts.walk\n", set()),
    ("probe-not-server", "trainlint/probe/_editor.py", "from trainlint.server import serve\n", set()),
    ("cli-server-independent", "server/_commands.py", "import trainlint.cli\n", {"no-cycles"}),
    ("static-rules-public-api", "rules/data/_settings.py", "from trainlint.config import Config\n", set()),
    ("runtime-rules-public-api", "rules/runtime/_runs.py", "from trainlint.probe.runner import run_probe\n", set()),
    ("no-cycles", "trainlint/finding.py", "\nimport trainlint.noqa\n", set()),  # noqa.py imports finding
]


@pytest.mark.parametrize("contract, path, code, also", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_deliberate_violation_fails_the_check(tmp_path, contract, path, code, also):
    for name in ("trainlint", "rules", "server", ".ci"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text((target.read_text() if target.exists() else "") + code)

    done = _lint_imports(tmp_path)

    assert done.returncode != 0, done.stdout
    broken = {key for key, verdict in _verdicts(done.stdout).items() if verdict != "KEPT"}
    assert broken == {contract} | also, done.stdout


def test_static_rules_may_import_no_other_module_of_trainlint():
    """The contract lists what rules must not import; a module added to trainlint/ must join it."""
    allowed = {"trainlint.rule", "trainlint.facts", "trainlint.finding", "trainlint.rules"}
    modules = {f"trainlint.{p.stem}" for p in (ROOT / "trainlint").glob("*.py") if p.stem != "__init__"}
    modules |= {f"trainlint.{p.name}" for p in (ROOT / "trainlint").iterdir() if (p / "__init__.py").is_file()}
    modules |= {"trainlint.rules", "trainlint.server"}
    for key in ("static-rules-public-api", "runtime-rules-public-api"):
        forbidden = set(CONTRACTS[key]["forbidden_modules"])
        unlisted = sorted(modules - allowed - forbidden - {"trainlint.facts"})
        assert not unlisted, f"add {unlisted} to forbidden_modules of the {key!r} contract in pyproject.toml"
