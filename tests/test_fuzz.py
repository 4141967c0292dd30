"""Property tests over mutations of real training files (tests/mutate.py): the command line,
the editor's re-parse path and the fixer never raise, report TL000 whenever CPython refuses
the text, agree on it, and a fix never breaks a file that parsed (tests/fuzzcheck.py).
A short, derandomized run; benchmarks/fuzz.py is the long one. Every crash either found
became a case of test_regressions below."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzcheck import violations
from mutate import mutate, seed_files

FILES = seed_files()
ROOT_FIXTURES = Path(__file__).parent / "fixtures" / "probe"


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(FILES) - 1), seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 3))
def test_mutated_training_files_keep_every_property(which, seed, rounds):
    original = FILES[which].read_bytes()
    mutated = mutate(original, random.Random(seed), rounds)
    assert violations(mutated, before=original) == []


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=300))
def test_random_bytes_keep_every_property(data):
    assert violations(b"import torch\n" + data) == []


# Texts LibCST's grammar accepts and CPython refuses: the editor and the command line
# reported nothing for them before; now both report CPython's TL000.
CPYTHON_ONLY_REFUSES = [
    "class Net(nn.Module):\n    def forward(self, (self, x):\n        return x\n",  # the text (LibCST refuses it too)
    "class Net(nn.Module):\n    def forward(self, self, x):\n        return x\n",
    "f(lr=1e-3, lr=1e-4)\n",
    "class Trainer:\n    return 1\n",
    "losses = [*l for l in batches]\n",
    "x = *a\n",
    "def step():\n    from torch import *\n",
    "nonlocal model\n",
    "async def load():\n    yield from loader\n",
    "__debug__ = False\n",
]


@pytest.mark.parametrize("body", CPYTHON_ONLY_REFUSES)
def test_text_only_cpython_refuses_gets_the_same_tl000_everywhere(body):
    data = ("import torch\nimport torch.nn as nn\n\n" + body).encode()
    before = b"import torch\nimport torch.nn as nn\n\nx = 1\n"
    assert violations(data, before=before) == []
    from fuzzcheck import cli_findings

    assert [f.code for f in cli_findings(data)] == ["TL000"]


@pytest.mark.parametrize("depth", [150, 201, 5000])
def test_deep_brackets_never_reach_a_parser_that_would_crash(depth):
    """The long run's one crash: LibCST's native parser overflows the C stack (a segfault, no
    exception) on thousands of nested brackets. trainlint asks CPython first, which refuses
    more than 200; below that, LibCST parses them."""
    data = ("import torch\nx = " + "(" * depth + "1" + ")" * depth + "\n").encode()
    assert violations(data, before=b"import torch\nx = 1\n") == []


def test_a_statement_pasted_twice_gets_both_its_findings_in_the_editor():
    """Found by benchmarks/fuzz.py: a class pasted a second time (the same text, so the same
    chunk for the re-parser) was one tree at two places in the editor, and its findings came
    once; the command line reported both copies."""
    original = (ROOT_FIXTURES / "sigmoid_deep.py").read_bytes()
    head, sep, tail = original.partition(b"\ndef main():")
    pasted = head + b"\n" + head.split(b"\n\n\n", 1)[1] + sep + tail  # the imports stay once, the class twice
    from fuzzcheck import cli_findings

    assert len([f for f in cli_findings(pasted) if f.code == "TL201"]) == 2 * len(
        [f for f in cli_findings(original) if f.code == "TL201"])
    assert violations(pasted, before=original) == []
