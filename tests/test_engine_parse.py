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


# CPython's view computed ahead (trainlint.source.python_view) stands in for asking CPython here.

CLASSES = '''\
import torch.nn as nn

@register
@other
class Net(nn.Module):
    class Inner:
        pass

    def forward(self, x):
        return x

if FAST:
    class Late(nn.Module):
        def forward(self, x):
            return x
else:
    class Other:
        pass
'''


def test_a_view_gives_the_classes_rows_the_facts_would_read():
    from trainlint.facts import FileFacts
    from trainlint.source import python_view

    view = python_view(CLASSES, "models.py")
    assert view.problem is None
    assert view.classes == (("Net", 3, 10), ("Inner", 6, 7), ("Late", 13, 15), ("Other", 17, 18))
    given = FileFacts("models.py", CLASSES, parse(CLASSES), python_classes=view.classes)
    asked = FileFacts("models.py", CLASSES, parse(CLASSES))
    assert [info.name for info in given.collected.classes] == ["Net", "Inner", "Late", "Other"]
    assert len(given._class_spans) == 4  # the rows were used, not the codegen fallback
    texts = [given.class_text(info.node) for info in given.collected.classes]
    assert texts == [asked.class_text(info.node) for info in asked.collected.classes]
    assert texts[0].startswith("@register\n@other\nclass Net") and texts[0].endswith("return x")


@pytest.mark.parametrize("text", ["def f(:\n    pass\n", "x = 1\nreturn x\n", "def f(x, x):\n    pass\n",
                                  "print 'python 2'\n", "a = (\n"])
def test_a_view_raises_what_cpython_raises(text):
    from trainlint.source import SyntaxProblem, cpython_tree, python_view

    with pytest.raises(SyntaxProblem) as asked:
        cpython_tree(text, "x.py")
    with pytest.raises(SyntaxProblem) as given:
        python_view(text, "x.py").raise_problem()
    assert (given.value.message, given.value.row, given.value.column) == \
        (asked.value.message, asked.value.row, asked.value.column)


def test_the_rules_examples_report_the_same_with_a_view():
    """Every rule's examples (a parse, the recovery of a broken file, class texts), checked with
    and without CPython's view computed ahead."""
    from trainlint.config import Config
    from trainlint.engine import Engine
    from trainlint.notebook import is_notebook
    from trainlint.registry import all_rules
    from trainlint.source import python_view

    engine = Engine(Config(select=("ALL",)))
    checked = 0
    for rule in all_rules():
        for example in (*rule.bad, *rule.good):
            name = example.filename or "train.py"
            if is_notebook(name):
                continue
            text = example.source
            asked = engine.check_source(text, name, summarize=True, with_calls=True)
            given = engine.check_source(text, name, summarize=True, with_calls=True, python_view=python_view(text, name))
            assert given.findings == asked.findings, (rule.code, text)
            assert given.summaries == asked.summaries
            checked += 1
    assert checked > 300
