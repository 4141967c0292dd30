"""A notebook read as one module: cells joined, IPython syntax neutralized in place, the map
from module rows to (cell, row), bad input named, and sources written back in place."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from notebooks import cell, code_notebook, dumps, notebook

from trainlint.notebook import cell_diff, read_notebook
from trainlint.source import FileProblem


def test_code_cells_are_joined_in_order_and_markdown_left_out():
    nb = read_notebook(code_notebook("import torch\nmodel = torch.nn.Linear(2, 2)", "md:# Training", "x = 1\ny = 2\n"))
    assert nb.text == "import torch\nmodel = torch.nn.Linear(2, 2)\nx = 1\ny = 2\n"
    assert [c.number for c in nb.cells] == [1, 3]  # markdown cells count, as in Jupyter and ruff
    assert nb.locate(2, 9) == (1, 2, 9)
    assert nb.locate(3, 1) == (3, 1, 1)
    assert nb.locate(4, 5) == (3, 2, 5)
    assert nb.module_row(3, 2) == 4
    assert nb.module_row(2, 1) is None  # the markdown cell has no rows in the module


def test_empty_cells_take_no_rows():
    nb = read_notebook(code_notebook("a = 1", "", "b = 2"))
    assert nb.text == "a = 1\nb = 2\n"
    assert nb.locate(2, 1) == (3, 1, 1)


@pytest.mark.parametrize(
    "line, analysed",
    [
        ("%matplotlib inline", "0#atplotlib inline"),
        ("!pip install torch", "0#ip install torch"),
        ("?model", "0#odel"),
        ("torch.*Tensor?", "0#rch.*Tensor?"),
        ("model?", "0#del?"),
        ("torch.nn.Linear??", "0#rch.nn.Linear??"),
        ("%pinfo model", "0#info model"),
        ("%time x = f()", "if 1: x = f()"),
        ("%timeit -n 10 -r 3 f(x)", "if 1:              f(x)"),
        ("%time for i in range(3): f(i)", "0#ime for i in range(3): f(i)"),
        ("files = !ls data", "files = ...     "),
        ("t = %timeit -o f()", "t = ...           "),
        ("%load_ext autoreload", "0#oad_ext autoreload"),
    ],
)
def test_ipython_syntax_is_neutralized_in_place(line, analysed):
    nb = read_notebook(code_notebook(f"{line}\nmodel = 1"))
    first, second = nb.text.splitlines()
    assert first == analysed and len(first) == len(line)
    assert second == "model = 1"
    assert nb.cells[0].problem is None


def test_a_magic_inside_a_block_keeps_its_indentation():
    nb = read_notebook(code_notebook("for f in files:\n    !cp $f backup/\n    %time g(f)"))
    assert nb.text == "for f in files:\n    0#p $f backup/\n    if 1: g(f)\n"


def test_an_indented_cell_is_read_as_ipython_reads_it():
    # IPython removes the first row's indentation from every row that has it
    source = " # Make sure we have a GPU\n device = 'cuda'\n if device:\n     !nvidia-smi\n\n device"
    nb = read_notebook(code_notebook("import torch", source))
    assert nb.cells[1].problem is None
    assert nb.text.splitlines()[1:] == ["# Make sure we have a GPU", "device = 'cuda'", "if device:", "    0#vidia-smi", "", "device"]
    assert nb.locate(3, 8) == (2, 2, 9)  # `=` is in column 9 of the cell as written
    # written back: unchanged rows as they were, a changed row with the indentation
    out = nb.with_text(nb.text.replace("device = 'cuda'", "device = 'cpu'  # noqa: TL999"))
    assert json.loads(out)["cells"][1]["source"] == [
        " # Make sure we have a GPU\n", " device = 'cpu'  # noqa: TL999\n", " if device:\n", "     !nvidia-smi\n", "\n", " device"]


def test_python_code_is_not_taken_for_ipython_syntax():
    source = "a = b != c\nd = e % 2\nx = {'k': 1}  # what?\nif a != 1:\n    pass\n"
    nb = read_notebook(code_notebook(source))
    assert nb.text == source and nb.cells[0].rewritten == {}


@pytest.mark.parametrize(
    "source",
    [
        'label = ("epoch %d"\n         % epoch)\n',  # `%` starts the continued row of a bracket: modulo
        "total = a \\\n    % b\n",  # after a backslash
        'usage = """\n%prog [options]\n!important\n"""\n',  # inside a triple-quoted string
        "s = 'a\\\n%b'\n",  # a quoted string continued with a backslash
    ],
)
def test_percent_or_bang_continuing_a_statement_is_python(source):
    nb = read_notebook(code_notebook(source))
    assert nb.text == source and nb.cells[0].rewritten == {} and nb.cells[0].problem is None


def test_a_magic_after_a_closed_bracket_or_string_is_neutralized():
    source = "x = f(1,\n      2)  # (\n%matplotlib inline\nt = '''(\n'''\n!ls"
    nb = read_notebook(code_notebook(source))
    rows = nb.text.splitlines()
    assert rows[2] == "0#atplotlib inline" and rows[5] == "0#s"
    assert nb.cells[0].problem is None


def test_a_magic_continued_with_a_backslash_is_neutralized_on_every_row():
    nb = read_notebook(code_notebook("!pip install torch \\\n    torchvision\nimport torch"))
    assert nb.text.splitlines() == ["0#ip install torch \\", "    #orchvision", "import torch"]
    assert nb.cells[0].problem is None


def test_cells_in_another_language_are_left_out():
    nb = read_notebook(code_notebook("%%bash\nls -la", "%%writefile train.py\nimport torch\nx = (", "%%time\nx = 1", "y = 2"))
    assert [c.number for c in nb.cells] == [3, 4]
    assert nb.skipped == [(1, "cell magic %%bash"), (2, "cell magic %%writefile")]
    assert nb.text == "0#time\nx = 1\ny = 2\n"


@pytest.mark.parametrize("language", ["R", "julia"])
def test_a_notebook_in_another_language_has_no_module(language):
    nb = read_notebook(code_notebook("library(torch)", language=language))
    assert not nb.is_python and nb.cells == [] and nb.text == ""


def test_a_cell_that_does_not_parse_is_reported_on_that_cell_and_the_others_stay():
    nb = read_notebook(code_notebook("a = 1", "def f(:\n    pass", "b = (1,\n"))
    first, broken, unclosed = nb.cells
    assert first.problem is None
    assert broken.problem.row == 1 and "syntax error" in broken.problem.message
    assert unclosed.problem is not None
    # the broken cells keep their rows, blank, so the next cells keep their positions
    assert nb.text == "a = 1\n\n\n\n"
    assert nb.locate(4, 1) == (3, 1, 1)


def test_top_level_await_is_python_in_a_notebook():
    nb = read_notebook(code_notebook("import asyncio\nawait asyncio.sleep(0)"))
    assert nb.cells[0].problem is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"cells": []}', "no `nbformat`"),
        ('{"nbformat": 3, "worksheets": []}', "nbformat 3 notebooks are not supported"),
        ('{"nbformat": 4, "metadata": {}}', "no `cells` list"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 42}]}', "source of cell 1 is not a string"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["a", 1]}]}', "source of cell 1 is not a string"),
        ('{"nbformat": 4, "cells": [7]}', "cell 1 is not a JSON object"),
    ],
)
def test_bad_notebooks_are_named(raw, message):
    with pytest.raises(FileProblem, match=message.replace("(", r"\(")):
        read_notebook(raw.encode())


def test_invalid_json_is_reported_where_it_breaks():
    with pytest.raises(FileProblem) as caught:
        read_notebook(b'{\n "nbformat": 4,\n "cells": [,]\n}')
    assert (caught.value.row, caught.value.column) == (3, 12)


def test_a_source_given_as_one_string_is_read():
    document = notebook(cell("code", ""))
    document["cells"][0]["source"] = "import torch\nx = 1"
    nb = read_notebook(dumps(document))
    assert nb.text == "import torch\nx = 1\n"


# writing back -----------------------------------------------------------------
def _edit(nb, old: str, new: str) -> str:
    """The JSON text after replacing the first `old` by `new` in the module (no row added)."""
    return nb.with_text(nb.text.replace(old, new, 1))


RICH = notebook(
    cell("markdown", "# Training a net ✓"),
    cell("code", "%matplotlib inline\nimport torch\n!nvidia-smi", 1,
         outputs=[{"name": "stdout", "output_type": "stream", "text": ["GPU 0 ✓\n", "\u001b[0;31mred\u001b[0m\n"]}]),
    cell("code", "model = torch.nn.Sequential(\n    torch.nn.Linear(4, 2),\n    torch.nn.Softmax(dim=1),\n)", 2,
         metadata={"tags": ["model"], "scrolled": True}),
    cell("raw", "raw text"),
    cell("code", "%time loss = torch.nn.CrossEntropyLoss()(model(x), y)\nloss.backward()", 3),
)


@pytest.mark.parametrize("indent", [1, 2, None])
def test_an_unchanged_notebook_is_given_back_byte_for_byte(indent):
    raw = dumps(RICH, indent=indent)
    nb = read_notebook(raw.encode())
    assert nb.with_text(nb.text) == raw
    assert nb.with_sources({c.number: c.source for c in nb.cells}) == raw


@pytest.mark.parametrize("indent", [1, 2, None])
def test_only_the_changed_cell_source_is_rewritten(indent):
    raw = dumps(RICH, indent=indent)
    nb = read_notebook(raw.encode())
    out = _edit(nb, "torch.nn.Softmax(dim=1),", "torch.nn.Identity(),  # ✓ logits")
    after = json.loads(out)
    before = json.loads(raw)
    assert "".join(after["cells"][2]["source"]) == (
        "model = torch.nn.Sequential(\n    torch.nn.Linear(4, 2),\n    torch.nn.Identity(),  # ✓ logits\n)")
    after["cells"][2]["source"] = before["cells"][2]["source"]
    assert after == before  # outputs, ids, counts, metadata and the other sources are as they were
    # written as nbformat (or the file) writes it: the same text as a fresh dump
    assert out == dumps(json.loads(out), indent=indent)


def test_fixed_then_unfixed_by_hand_is_byte_identical():
    raw = dumps(RICH)
    nb = read_notebook(raw.encode())
    fixed = _edit(nb, "torch.nn.Softmax(dim=1)", "torch.nn.Identity()")
    back = read_notebook(fixed.encode())
    assert _edit(back, "torch.nn.Identity()", "torch.nn.Softmax(dim=1)") == raw


def test_ipython_syntax_comes_back_when_its_cell_is_fixed():
    nb = read_notebook(dumps(RICH).encode())
    out = _edit(nb, "import torch\n", "import torch.nn as nn\n")
    assert "".join(json.loads(out)["cells"][1]["source"]) == "%matplotlib inline\nimport torch.nn as nn\n!nvidia-smi"
    out = _edit(nb, "loss.backward()", "loss.backward()  # noqa: TL401")
    assert "".join(json.loads(out)["cells"][4]["source"]) == (
        "%time loss = torch.nn.CrossEntropyLoss()(model(x), y)\nloss.backward()  # noqa: TL401"
    )
    # a comment added on the row of `%time ...` keeps the magic
    row = nb.text.index("loss = torch") + len("loss = torch.nn.CrossEntropyLoss()(model(x), y)")
    out = nb.with_text(nb.text[:row] + "  # noqa: TL302" + nb.text[row:])
    assert json.loads(out)["cells"][4]["source"][0] == "%time loss = torch.nn.CrossEntropyLoss()(model(x), y)  # noqa: TL302\n"


def test_an_edit_of_the_ipython_syntax_itself_is_refused():
    nb = read_notebook(code_notebook("%matplotlib inline\nx = 1"))
    with pytest.raises(FileProblem, match="IPython"):
        _edit(nb, "0#atplotlib inline", "0# matplotlib inline")


def test_a_cell_without_a_final_newline_keeps_none():
    nb = read_notebook(code_notebook("x = 1\ny = 2"))
    out = _edit(nb, "y = 2", "y = 3")
    assert json.loads(out)["cells"][0]["source"] == ["x = 1\n", "y = 3"]


def test_a_string_source_stays_a_string_and_escapes_stay_escapes():
    document = notebook(cell("code", ""))
    document["cells"][0]["source"] = "x = 'é'\ny = 2"
    raw = json.dumps(document, indent=1, ensure_ascii=True) + "\n"
    nb = read_notebook(raw.encode())
    out = _edit(nb, "y = 2", "y = 'ü'")
    assert out == json.dumps(json.loads(out), indent=1, ensure_ascii=True) + "\n"
    assert json.loads(out)["cells"][0]["source"] == "x = 'é'\ny = 'ü'"


def test_a_repeated_source_key_counts_as_json_reads_it():
    raw = '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "a = 1", "source": "b = 2"}]}'
    nb = read_notebook(raw.encode())
    assert nb.text == "b = 2\n"
    out = _edit(nb, "b = 2", "b = 3")
    assert json.loads(out)["cells"][0]["source"] == "b = 3"
    assert out.count('"source": "a = 1"') == 1


def test_edits_that_add_no_row_are_split_by_rows():
    nb = read_notebook(code_notebook("%time y = f(x)\nx = 1", "md:text", "z = 2"))
    text = nb.text.replace("x = 1\n", "x = 1  # noqa: TL101\n").replace("z = 2\n", "z = 2  # noqa\n")
    out = json.loads(nb.with_text(text))
    assert [c["source"] for c in out["cells"]] == [["%time y = f(x)\n", "x = 1  # noqa: TL101"], ["text"], ["z = 2  # noqa"]]
    with pytest.raises(FileProblem, match="number of rows"):
        nb.with_text(nb.text + "extra = 1\n")


def test_rows_are_counted_at_newlines_only():
    source = "a = '\x0c'\nb = '\u2028'\nc = 2"
    nb = read_notebook(code_notebook(source))
    assert nb.cells[0].rows == 3 and nb.cells[0].problem is None
    assert nb.locate(3, 1) == (1, 3, 1)
    assert json.loads(nb.with_text(nb.text.replace("c = 2", "c = 3")))["cells"][0]["source"][-1] == "c = 3"


def test_the_diff_shows_each_changed_cell_as_ruff_does():
    before = code_notebook("x = 1", "md:text", "y = 2\nz = 3")
    nb = read_notebook(before)
    after = nb.with_text(nb.text.replace("z = 3", "z = 4"))
    assert cell_diff("nb.ipynb", before, after) == (
        "--- nb.ipynb:cell 3\n+++ nb.ipynb:cell 3\n@@ -1,2 +1,2 @@\n y = 2\n-z = 3\n+z = 4\n"
    )
    assert cell_diff("nb.ipynb", before, before) == ""


def test_a_position_in_a_cell_is_found_in_the_file():
    raw = dumps(RICH)
    nb = read_notebook(raw)
    lines = raw.splitlines()
    row, column = nb.file_position(3, 3, 5)
    assert lines[row - 1][column - 1:].startswith('torch.nn.Softmax(dim=1),\\n"')
    row, column = nb.file_position(2, 1, 1)  # the first character of the cell
    assert lines[row - 1][column - 1:].startswith("%matplotlib")
    assert nb.file_position(1, 1, 1) is None  # a markdown cell is not in the module


def test_a_notebook_saved_with_crlf_keeps_them():
    raw = dumps(RICH).replace("\n", "\r\n")
    nb = read_notebook(raw.encode())
    assert nb.with_text(nb.text) == raw
    out = _edit(nb, "torch.nn.Softmax(dim=1)", "torch.nn.Identity()")
    assert out.count("\n") == out.count("\r\n") == raw.count("\r\n")


def test_a_notebook_with_a_bom_and_no_cells():
    nb = read_notebook(b"\xef\xbb\xbf" + dumps(notebook()).encode())
    assert nb.cells == [] and nb.text == ""


PIECES = st.sampled_from(list("ab =(:)#%!?\n\t é\\'\"") + ["%time ", "!pip ", "%%bash\n", "  ", "\r\n", "x = 1\n"])
SOURCES = st.lists(st.lists(PIECES, max_size=20).map("".join), max_size=6)


@given(SOURCES, st.sampled_from([1, 2, None]))
@settings(max_examples=150, deadline=None)
def test_any_notebook_round_trips_byte_for_byte(sources, indent):
    raw = dumps(notebook(*(cell("code", s, n) for n, s in enumerate(sources))), indent=indent)
    nb = read_notebook(raw.encode())
    assert nb.with_text(nb.text) == raw
    assert nb.with_sources({c.number: c.source for c in nb.cells}) == raw
    for c in nb.cells:  # every analysed row is in its cell, at the same place
        for row in range(1, c.rows + 1):
            assert nb.locate(c.start_row + row - 1, 1)[:2] == (c.number, row)
