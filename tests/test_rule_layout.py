"""The rule catalog's layout is a contract: a group's folder holds exactly its code prefix,
and every rule module reaches the wheel users install."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

from trainlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent


def _group_of(rule: type) -> object:
    return importlib.import_module(rule.__module__.rsplit(".", 1)[0])


def test_every_rule_code_starts_with_its_folders_prefix():
    misplaced = [
        f"{rule.code} in {rule.__module__} (folder prefix {_group_of(rule).PREFIX})"
        for rule in all_rules()
        if not rule.code.startswith(_group_of(rule).PREFIX)
    ]
    assert not misplaced, "move these rules to the folder of their code group: " + ", ".join(misplaced)


def test_every_group_names_one_prefix_and_a_title():
    groups = sorted(p.name for p in (ROOT / "rules").iterdir() if (p / "__init__.py").is_file())
    prefixes = {}
    for name in groups:
        group = importlib.import_module(f"trainlint.rules.{name}")
        assert group.TITLE and group.__doc__, f"rules/{name}/__init__.py needs a docstring and a TITLE"
        assert group.PREFIX not in prefixes, f"rules/{name} and rules/{prefixes[group.PREFIX]} share {group.PREFIX}"
        prefixes[group.PREFIX] = name
    assert sorted(prefixes) == ["TL0", "TL1", "TL2", "TL3", "TL4", "TL5", "TL6", "TL9"]


def test_the_wheel_holds_every_rule_module(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("trainlint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "trainlint/rules/" + path.relative_to(ROOT / "rules").as_posix()
        for path in (ROOT / "rules").rglob("*.py")
    } | {"trainlint/server/" + path.relative_to(ROOT / "server").as_posix() for path in (ROOT / "server").rglob("*.py")}
    missing = sorted(expected - names)
    assert not missing, f"left out of the wheel: {missing}"
