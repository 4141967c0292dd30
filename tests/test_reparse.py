"""The editor's re-parse (trainlint.reparse) gives the tree a parse of the whole text gives.

Every version of the text is compared with `deep_equals` against a fresh parse: the
findings in the editor must be the command line's, whatever was typed before.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from trainlint.engine import Engine, FileProblem, parse
from trainlint.reparse import Reparser

ROOT = Path(__file__).resolve().parents[1]

SOURCES = {
    "footer comments": textwrap.dedent(
        """\
        # header comment

        import torch


        def f(x):
            y = x + 1
            # indented comment after the last statement: the block's footer
            \n
            # another, after an empty line
        # a comment at column 0 belongs to the next statement


        @torch.no_grad()
        # a comment between decorator and def
        def g(x):
            return x
        """
    ),
    "whitespace-only lines": "class A:\n    def f(self):\n        return 1\n \n    \n    \n\nx = 1\n",
    "semicolons": "a = 1; b = 2\nc = 3; \\\n    d = 4\nif a: b = 5\n",
    "no final newline": "import torch\n\n\ndef f():\n    return torch.zeros(1)  # end",
    "crlf": "import torch\r\n\r\ndef f():\r\n    return 1\r\n\r\nx = f()\r\n",
    "tabs": "import torch\n\n\ndef f():\n\tif True:\n\t\treturn 1\n\n\nclass B:\n\tpass\n",
    "mixed indentation": "def f():\n    return 1\n\n\ndef g():\n  return 2\n",
    "two-space indentation": "import os\nx = dict(\n    a=1)\n\n\ndef f():\n  if x:\n    return 1\n\n\ny = f()\n",
    "first indent in an else": "if a: b = 1\nelse:\n  b = 2\n\n\ndef f():\n    return 1\n",
    "match": "match x:\n  case 1:\n    pass\n\n\ndef f():\n    return 1\n",
    "strings at column 0": 'x = """\ndef not_a_function():\n    pass\n"""\n\n\ndef f():\n    s = """\nclass Nope:\n"""\n    return s\n',
    "compound statements": textwrap.dedent(
        """\
        import torch

        try:
            import apex
        except ImportError:  # optional
            apex = None
        finally:
            pass

        if __name__ == "__main__":
            for i in range(3):
                print(i)
            else:
                pass
        # trailing comment of the file
        """
    ),
    "docstring and trailing blank lines": '"""Module docstring."""\n\nimport os\n\n\n\n',
    "comments only": "# just a comment\n\n# another\n",
    "empty": "",
    "one statement": "x = 1\n",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_same_tree_as_a_whole_parse(name):
    text = SOURCES[name]
    reparsed = Reparser(parse).parse(text)
    assert reparsed.deep_equals(parse(text))
    assert reparsed.code == text


def test_unchanged_statements_are_not_parsed_again():
    text = (ROOT / "benchmarks" / "data" / "train_330.py").read_text()
    reparser = Reparser(parse)
    reparser.parse(text)
    assert reparser.reused == 0
    edited = text.replace("def ", "def  ", 1)  # one statement changes
    tree = reparser.parse(edited)
    assert tree.deep_equals(parse(edited))
    statements = len(parse(edited).body)
    assert reparser.reused >= statements - 3


def _versions(text: str, seed: int, count: int):
    """Keystrokes: a character typed, deleted, a line added or removed, at random places;
    each on the last version that parsed (a user fixes what they broke)."""
    rng = random.Random(seed)
    good = text
    for _ in range(count):
        text = good
        lines = text.splitlines(keepends=True)
        row = rng.randrange(len(lines)) if lines else 0
        line = lines[row] if lines else ""
        column = rng.randrange(len(line) + 1)
        kind = rng.choice(["type", "type", "delete", "newline", "drop"])
        if kind == "type":
            line = line[:column] + rng.choice("x_ (),:#=1\t") + line[column:]
        elif kind == "delete" and line:
            line = line[: max(column - 1, 0)] + line[column:]
        elif kind == "newline":
            line = line[:column] + "\n" + line[column:]
        elif kind == "drop":
            line = ""
        text = "".join(lines[:row] + [line] + lines[row + 1:])
        if (yield text):
            good = text


@pytest.mark.parametrize(
    "path",
    ["benchmarks/data/train_330.py", "examples/buggy/train_vgg.py", "examples/buggy/models/resnet.py"],
)
def test_typing_keeps_the_tree_of_a_whole_parse(path):
    """Half of these versions do not parse: the error must be the whole text's too."""
    reparser = Reparser(parse)
    original = (ROOT / path).read_text()
    parsed = 0
    versions = _versions(original, seed=len(path), count=80)
    text = next(versions)
    while True:
        try:
            expected = parse(text)
        except FileProblem as problem:
            with pytest.raises(FileProblem) as raised:
                reparser.parse(text)
            assert (raised.value.message, raised.value.row, raised.value.column) == (
                problem.message, problem.row, problem.column)
            ok = False
        else:
            parsed += 1
            assert reparser.parse(text).deep_equals(expected), text
            ok = True
        try:
            text = versions.send(ok)
        except StopIteration:
            break
    assert parsed >= 20 and reparser.reused > 0


def test_findings_are_the_same_as_without_the_reparser():
    engine = Engine()
    reparser = Reparser(parse)
    for path in sorted((ROOT / "examples" / "buggy").rglob("*.py")):
        text = path.read_text()
        for version in (text, text.replace("\n\n\n", "\n\n\n# typed\n", 1)):
            expected = engine.check_source(version, str(path)).findings
            assert engine.check_source(version, str(path), reparser=reparser).findings == expected


def test_the_size_limit_holds_with_a_reparser():
    """A generated file over the limit is one TL000, in the editor's path too."""
    from trainlint.engine import MAX_FILE_BYTES

    statement = "w = torch.nn.Linear(3, 3)  # " + "x" * 60 + "\n"
    text = "import torch\n" + statement * (MAX_FILE_BYTES // len(statement) + 10)
    result = Engine().check_source(text, "generated.py", reparser=Reparser(parse))
    assert [f.code for f in result.findings] == ["TL000"] and "too large" in result.findings[0].message
