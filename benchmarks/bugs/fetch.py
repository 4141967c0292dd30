#!/usr/bin/env python3
"""Fetch the repository files of the real-bug benchmark into DIR (outside this checkout).

    python benchmarks/bugs/fetch.py DIR [--mirrors /work/.mirror]

Repository code is never committed here: every `repo` and `clean` entry of manifest.tsv
names `owner/repo@commit:path`, and this script writes the Python files of that commit
from a local bare git mirror, `<mirrors>/<owner>+<repo>/repo` (or `.../repo/.git`), into
`DIR/<owner>+<repo>@<commit[:12]>/`. The whole commit's .py files come along, not only the
buggy one, so the file sits in its project as it did for its authors; each snapshot folder
gets an empty `.git` folder, the mark of a checkout's root, so trainlint finds the same
project root a clone would give. Nothing is fetched over the network: a mirror that is
missing, or lacks the commit, is listed at the end (exit status 1) for someone to fetch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manifest import MANIFEST, Entry, load  # noqa: E402

DEFAULT_MIRRORS = Path("/work/.mirror")


def git_dir(mirrors: Path, repo: str) -> Path | None:
    """The bare git directory of a mirror, or None when the mirror is not there."""
    base = mirrors / repo.replace("/", "+") / "repo"
    for candidate in (base / ".git", base):
        if (candidate / "objects").is_dir():
            return candidate
    return None


def _git(gitdir: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], input=stdin, capture_output=True, check=False)


def has_commit(gitdir: Path, commit: str) -> bool:
    return _git(gitdir, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def export_python_files(gitdir: Path, commit: str, into: Path) -> int:
    """Write every .py file of `commit` under `into`; the number of files written."""
    listing = _git(gitdir, "ls-tree", "-r", "-z", commit)
    if listing.returncode != 0:
        raise RuntimeError(listing.stderr.decode(errors="replace").strip())
    blobs = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000" and name.endswith(b".py"):
            blobs.append((sha.decode(), name.decode(errors="surrogateescape")))
    # One `git cat-file --batch` for the whole tree: a process per file is slow on big repos.
    batch = _git(gitdir, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha, _ in blobs).encode())
    out, pos = batch.stdout, 0
    for sha, name in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        content = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1  # the content is followed by a newline
        target = into / name
        if ".." in Path(name).parts:  # a hostile tree entry must not write outside DIR
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (into / ".git").mkdir(exist_ok=True)
    return len(blobs)


def fetch(entries: list[Entry], dest: Path, mirrors: Path, out=sys.stdout) -> list[str]:
    """Export every snapshot the entries need; the problems (missing mirrors or commits)."""
    problems, done = [], set()
    for entry in entries:
        if entry.kind == "repro" or entry.snapshot in done:
            continue
        done.add(entry.snapshot)
        gitdir = git_dir(mirrors, entry.repo)
        if gitdir is None:
            problems.append(f"missing mirror: {entry.repo} (expected {mirrors / entry.repo.replace('/', '+') / 'repo'})")
            continue
        if not has_commit(gitdir, entry.commit):
            problems.append(f"commit {entry.commit} not in the mirror of {entry.repo} (shallow or older snapshot?)")
            continue
        into = dest / entry.snapshot
        if (into / ".git").is_dir():
            print(f"  have  {entry.snapshot}", file=out)
            continue
        count = export_python_files(gitdir, entry.commit, into)
        print(f"  wrote {entry.snapshot} ({count} .py files)", file=out)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="where the repository snapshots go (outside this checkout)")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="folder of <owner>+<repo>/repo mirrors")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    problems = fetch(load(args.manifest), args.dir.resolve(), args.mirrors)
    if problems:
        print(f"\n{len(problems)} snapshot(s) could not be written; fetch these mirrors (e.g. the session's fetch tool) and rerun:")
        for line in problems:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
