"""engine.parse skips LibCST's node validation while parsing only."""

from __future__ import annotations

import libcst as cst
import pytest

from trainlint.engine import parse
from trainlint.source import FileProblem


def test_parse_builds_the_same_tree_and_restores_validation():
    source = "import torch\n\n\ndef f(x, *, y=1):\n    return (x @ y)[0] if x else lambda: (yield)\n"
    assert parse(source).deep_equals(cst.parse_module(source))
    assert parse(source).code == source
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")  # validation is back once the parse is done


def test_validation_restored_after_a_syntax_error():
    with pytest.raises(FileProblem):
        parse("def f(:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")
