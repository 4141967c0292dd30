#!/usr/bin/env python3
"""The long fuzz run: mutations of real training files through the command line's check, the
editor's re-parse path and the fixer, checking the properties of tests/fuzzcheck.py.

    python benchmarks/fuzz.py                     # 10 minutes over examples/, the fixtures and /work/corpus
    python benchmarks/fuzz.py --minutes 60 --seed 7 --out /tmp/fuzz-failures

The seeds are the repository's own training files plus, when present, the training code of
the precision corpora (/work/corpus: read, never copied into the repository). Each input is
1-3 mutations of one seed (lines deleted, duplicated, swapped, re-indented, truncated at a
byte, random bytes, mixed line endings, deep nesting, spliced spans), reproducible from the
printed seed. Inputs that break a property are written to --out with what they broke; each
one found becomes a case in tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fuzzcheck import violations  # noqa: E402
from mutate import mutate, seed_files  # noqa: E402

CORPUS = Path("/work/corpus")
#: Seeds larger than this make each input slow without finding more.
MAX_SEED_BYTES = 60_000


def corpus_seeds(limit: int) -> list[Path]:
    """Training code of the corpora: files that mention torch, smallest first, up to `limit`."""
    if not CORPUS.is_dir():
        return []
    found = []
    for path in CORPUS.rglob("*.py"):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"torch" in data and 200 < len(data) <= MAX_SEED_BYTES:
            found.append((len(data), str(path), path))
    return [p for _, _, p in sorted(found)[:: max(1, len(found) // limit)][:limit]]


def libcst_accepts(data: bytes) -> bool:
    """Whether LibCST parses the text: before trainlint asked CPython first, such a text got no TL000.
    Not asked of 200+ nested brackets, which trainlint never gave LibCST (its native parser
    overflows the C stack on them: a segfault, found by the first run of this script)."""
    import libcst

    from trainlint.engine import _DEEP_BRACKETS

    if _DEEP_BRACKETS.search(data.decode("utf-8", "replace")):
        return False
    try:
        libcst.parse_module(data)
    except Exception:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--inputs", type=int, default=0, help="stop after this many inputs (0: by time only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus-files", type=int, default=300, help="corpus seeds to sample")
    parser.add_argument("--out", type=Path, default=Path("/tmp/trainlint-fuzz"))
    args = parser.parse_args()

    seeds = seed_files(corpus_seeds(args.corpus_files))
    originals = {path: path.read_bytes() for path in seeds}
    rnd = random.Random(args.seed)
    deadline = time.monotonic() + args.minutes * 60
    tried, broken = 0, collections.Counter()
    refused = libcst_only = 0
    args.out.mkdir(parents=True, exist_ok=True)
    current = args.out / "current.py"
    while time.monotonic() < deadline and (not args.inputs or tried < args.inputs):
        path = rnd.choice(seeds)
        input_seed = rnd.randrange(2**32)
        rounds = rnd.randint(1, 3)
        data = mutate(originals[path], random.Random(input_seed), rounds)
        # a crash of the interpreter itself (native code) leaves the input it died on here
        current.write_bytes(data)
        current.with_suffix(".txt").write_text(f"seed file: {path}\ninput seed: {input_seed}, rounds: {rounds}\n")
        found = violations(data, before=originals[path])
        tried += 1
        from fuzzcheck import cpython_refuses

        if cpython_refuses(data):
            refused += 1
            libcst_only += libcst_accepts(data)
        for problem in found:
            kind = problem.splitlines()[0][:100]
            broken[kind] += 1
            name = args.out / f"{tried:06d}-{path.stem}-{input_seed}-{rounds}.py"
            name.write_bytes(data)
            name.with_suffix(".txt").write_text(f"seed file: {path}\n{problem}\n")
        if tried % 200 == 0:
            print(f"{tried} inputs, {sum(broken.values())} broken properties", flush=True)
    print(f"seeds: {len(seeds)} files ({len(seeds) - len(seed_files())} from {CORPUS})")
    print(f"inputs tried: {tried} ({refused} that CPython refuses, {libcst_only} of them accepted by LibCST's grammar)")
    print(f"broken properties: {sum(broken.values())}")
    for kind, n in broken.most_common():
        print(f"  {n:5d}  {kind}")
    if broken:
        print(f"inputs written to {args.out}")
        sys.exit(1)


if __name__ == "__main__":
    main()
