"""trainlint.locate gives the ranges LibCST's PositionProvider gives, for every node."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from trainlint.locate import node_ranges

SOURCES = [
    textwrap.dedent(
        """\
        # a comment owned by the first statement
        import torch.nn as nn


        @torch.no_grad()
        class Net(nn.Module):  # trailing comment
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(
                    3, 16, 3,
                    padding=1,
                )

            def forward(self, x):
                \"\"\"Docstring with 𝔞 and шаг.\"\"\"
                if x is None: return (x)
                return self.conv(x) + \\
                    1
        """
    ),
    "x = 1\r\ny = [\r\n    2,\r\n]\r\n",
    "lambda: (yield)\n",
    "",
    "print(1)",  # no trailing newline
    # while typing at the end of a file: no trailing newline, in every shape
    "x = 1\ny = 2",
    "def f():\n    return 1",
    "x = 1  # c",
    "x = 1\n\n# end",
    "import torch\nx = torch.zeros(1)  ",
    "class A:\n    def f(self):\n        self.a = 1\n        self.a = 1",
]


class _All(cst.CSTVisitor):
    def __init__(self) -> None:
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


@pytest.mark.parametrize("source", SOURCES)
def test_same_ranges_as_position_provider(source):
    module = cst.parse_module(source)
    collector = _All()
    module.visit(collector)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    ours = node_ranges(module, collector.nodes)
    assert [ours.get(n) for n in collector.nodes] == [expected.get(n) for n in collector.nodes]


def test_only_the_asked_nodes():
    module = cst.parse_module("a = 1\nb = 2\n")
    second = module.body[1]
    assert list(node_ranges(module, [second])) == [second]
    assert node_ranges(module, [second])[second].start.line == 2


NESTED = [
    "x = 1\nx = 1\ndef f():\n    return 1\n\n\nx = 1\n",
    "def f(x):\n    x = 1\n    # c\n    x = 1\n    if x:\n        x = 1\n      # deeper\n    else:\n        for i in x:\n            x = 1\n    return x\n\n\ndef g(x):\n    x = 1\n    return x\n",
    "class A:\n\tdef f(self):\n\t\ttry:\n\t\t\tpass\n\t\texcept E as e:  # t\n\t\t\traise\n\t\tfinally:\n\t\t\tx = 1\n",
    "if a:\n  b = 1\nelif c:\n        d = [\n 1]\nwhile x: y = 2\n",
]


@pytest.mark.parametrize("source", SOURCES + NESTED)
def test_from_the_text_same_ranges(source):
    """With the text, only the statements holding the nodes are generated: same ranges,
    one node at a time (repeated statements included) and all at once."""
    module = cst.parse_module(source)
    collector = _All()
    module.visit(collector)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    for node in collector.nodes:
        assert node_ranges(module, [node], source).get(node) == expected.get(node)
    ours = node_ranges(module, collector.nodes, source)
    assert [ours.get(n) for n in collector.nodes] == [expected.get(n) for n in collector.nodes]
