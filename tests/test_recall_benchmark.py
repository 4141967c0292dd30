"""The real-bug benchmark's scoring (benchmarks/recall.py) and its manifest format.

The figures in docs/benchmarks.md come from these rules: a defect is found only by one of its
expected codes, within TOLERANCE lines of one of its lines; clean scripts count error and
warning findings as false alarms, never infos."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


recall = _load("recall_benchmark", ROOT / "benchmarks" / "recall.py")
manifest = sys.modules["manifest"]  # recall.py imports benchmarks/bugs/manifest.py

HEADER = "\t".join(manifest.COLUMNS)
COMMIT = "a" * 40


def _entry(kind="repo", lines="40,50", expected="TL401", file=f"o/r@{COMMIT}:train.py", id_="x"):
    row = "\t".join([id_, kind, "https://example.org/t/1", file, lines, expected, "what the thread says"])
    return manifest.parse(f"{HEADER}\n{row}\n")[0]


def _result(entry, *findings):
    result = recall.Result(entry, Path("/nowhere/train.py"))
    result.findings = [recall.Finding(code, severity, row, "") for code, severity, row in findings]
    return result


def test_an_expected_code_within_the_tolerance_of_any_listed_line_is_a_hit():
    entry = _entry(lines="40,50", expected="TL401|TL402")
    assert recall.hit(entry, recall.Finding("TL402", "error", 50 + recall.TOLERANCE, ""))
    assert recall.hit(entry, recall.Finding("TL401", "error", 40 - recall.TOLERANCE, ""))
    assert not recall.hit(entry, recall.Finding("TL401", "error", 50 + recall.TOLERANCE + 1, ""))


def test_another_code_on_the_very_line_is_not_a_hit():
    entry = _entry(lines="40", expected="TL401")
    assert not recall.hit(entry, recall.Finding("TL403", "info", 40, ""))


def test_summary_counts_recall_per_group_and_leaves_reserved_codes_out_of_the_implemented_figure():
    found = _result(_entry(id_="a", expected="TL401"), ("TL401", "error", 41))
    missed = _result(_entry(id_="b", expected="TL302", lines="7"), ("TL403", "info", 8))
    reserved = _result(_entry(id_="c", expected="TL105", lines="9"))
    summary = recall.summarize([found, missed, reserved])
    assert summary["recall"] == {"found": 1, "total": 3, "percent": 33.3}
    assert summary["recall_implemented_rules"] == {"found": 1, "total": 2, "percent": 50.0}
    assert summary["groups"]["TL4 optimization"]["found"] == 1
    assert summary["groups"]["TL3 loss"] == {"found": 0, "total": 1, "percent": 0.0}
    assert summary["groups"]["TL6 init"] == {"found": 0, "total": 0, "percent": None}
    miss = {m["id"]: m for m in summary["misses"]}
    assert miss["b"]["near"][0]["code"] == "TL403"  # what trainlint said instead
    assert miss["c"]["not_implemented"] and not miss["b"]["not_implemented"]


def test_only_errors_and_warnings_on_a_clean_script_are_false_alarms():
    clean = _result(_entry(kind="clean", lines="-", expected="-"), ("TL403", "info", 3), ("TL101", "warning", 9))
    summary = recall.summarize([clean])
    assert [f["code"] for f in summary["false_alarms"][0]["findings"]] == ["TL101"]


@pytest.mark.parametrize(
    "row, message",
    [
        (f"x\tfork\tu\to/r@{COMMIT}:a.py\t1\tTL401\tt", "kind"),
        ("x\trepo\tu\to/r@abc123:a.py\t1\tTL401\tt", "40-hex"),
        (f"x\trepo\tu\to/r@{COMMIT}:a.py\tline 4\tTL401\tt", "lines"),
        (f"x\trepo\tu\to/r@{COMMIT}:a.py\t4\tW0612\tt", "codes"),
        ("x\trepro\tu\tsomewhere/a.py\t4\tTL401\tt", "repro/"),
        (f"x\tclean\tu\to/r@{COMMIT}:a.py\t4\t-\tt", "clean"),
    ],
)
def test_a_malformed_manifest_line_is_refused_with_its_line_number(row, message):
    with pytest.raises(manifest.ManifestError, match=message) as raised:
        manifest.parse(f"{HEADER}\n{row}\n")
    assert "line 2" in str(raised.value)


def test_the_committed_manifest_parses_and_its_repros_exist():
    entries = manifest.load()
    assert len({e.id for e in entries}) == len(entries)
    for entry in entries:
        if entry.kind == "repro":
            assert (ROOT / "benchmarks" / "bugs" / entry.file).is_file(), entry.id


fetch = _load("fetch_benchmark", ROOT / "benchmarks" / "bugs" / "fetch.py")


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}, text=True)


def test_fetch_writes_the_commits_python_files_from_a_bare_mirror_and_names_missing_mirrors(tmp_path):
    work = tmp_path / "work"
    (work / "pkg").mkdir(parents=True)
    (work / "train.py").write_text("import torch\n")
    (work / "pkg" / "model.py").write_text("MODEL = 1\n")
    (work / "README.md").write_text("not python\n")
    _git("init", "-q", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "first", cwd=work)
    (work / "train.py").write_text("import torch  # changed after the commit we want\n")
    _git("commit", "-q", "-am", "second", cwd=work)
    first = _git("rev-parse", "HEAD~1", cwd=work).stdout.strip()
    mirrors = tmp_path / "mirrors"
    _git("clone", "-q", "--bare", str(work), str(mirrors / "own+proj" / "repo"), cwd=tmp_path)

    entries = manifest.parse(
        f"{HEADER}\n"
        f"a\trepo\tu\town/proj@{first}:train.py\t1\tTL401\tt\n"
        f"b\tclean\tu\tother/gone@{COMMIT}:main.py\t-\t-\tt\n"
    )
    out = tmp_path / "snap"
    problems = fetch.fetch(entries, out, mirrors, out=io.StringIO())
    snapshot = out / entries[0].snapshot
    assert (snapshot / "train.py").read_text() == "import torch\n"  # the commit's content, not HEAD's
    assert (snapshot / "pkg" / "model.py").is_file() and not (snapshot / "README.md").exists()
    assert (snapshot / ".git").is_dir()  # the project's root, as a clone has
    assert problems == [f"missing mirror: other/gone (expected {mirrors / 'other+gone' / 'repo'})"]
