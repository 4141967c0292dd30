"""The private LibCST APIs the engine relies on are still there and behave as used.

pyproject.toml pins libcst below its next major version; within it, a minor release may
still move a private name. Each test names the API and the trainlint code that uses it, so
an upgrade that breaks one says what to fix instead of failing somewhere in the findings.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import libcst as cst
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _private(module: str, name: str, user: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"LibCST no longer has {module}.{name}, which {user} imports ({exc})")


def _nodes(module: cst.Module) -> list[cst.CSTNode]:
    found = []

    class _All(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            found.append(node)
            return True

    module.visit(_All())
    return found


SOURCE = "import torch\n\n\n@dec\nclass Net(nn.Module):\n    def forward(self, x):  # c\n        return self.f(x)[0] + 1\n"


# libcst._nodes.internal.CodegenState: trainlint.locate subclasses it to count offsets --------
LOCATE_OVERRIDES = {  # method -> its parameters, as _OffsetState overrides it
    "add_indent_tokens": ["self"],
    "add_token": ["self", "value"],
    "pop_trailing_newline": ["self"],
    "before_codegen": ["self", "node"],
    "after_codegen": ["self", "node"],
    "record_syntactic_position": ["self", "node", "start_node", "end_node"],
}


def test_codegen_state_has_the_fields_and_hooks_locate_overrides():
    state = _private("libcst._nodes.internal", "CodegenState", "trainlint.locate")
    fields = {f.name for f in dataclasses.fields(state)}
    missing = {"default_indent", "default_newline", "indent_tokens", "tokens"} - fields
    assert not missing, f"libcst._nodes.internal.CodegenState lost the fields {sorted(missing)} (trainlint.locate)"
    for method, parameters in LOCATE_OVERRIDES.items():
        hook = getattr(state, method, None)
        assert callable(hook), f"libcst._nodes.internal.CodegenState.{method} is gone: trainlint.locate overrides it"
        got = list(inspect.signature(hook).parameters)
        assert got == parameters, (
            f"libcst._nodes.internal.CodegenState.{method}{tuple(got)} changed its parameters; "
            f"trainlint.locate overrides it as {tuple(parameters)}"
        )


def test_node_codegen_calls_the_hooks_for_every_node():
    """CSTNode._codegen(state) (private too) wraps each node in before/after_codegen and writes
    through add_token, and statements through record_syntactic_position: what locate counts."""
    base = _private("libcst._nodes.internal", "CodegenState", "trainlint.locate")
    module = cst.parse_module(SOURCE)
    seen, syntactic = [], []

    @dataclasses.dataclass(frozen=False)
    class Recording(base):
        def before_codegen(self, node):
            seen.append(node)

        def record_syntactic_position(self, node, *, start_node=None, end_node=None):
            syntactic.append(node)
            return super().record_syntactic_position(node, start_node=start_node, end_node=end_node)

    state = Recording(default_indent=module.default_indent, default_newline=module.default_newline)
    assert callable(getattr(module, "_codegen", None)), "LibCST's CSTNode._codegen is gone (trainlint.locate)"
    module._codegen(state)
    assert "".join(state.tokens) == SOURCE, "CSTNode._codegen no longer writes the code through CodegenState.tokens"
    missing = [type(n).__name__ for n in _nodes(module) if not any(n is s for s in seen)]
    assert not missing, f"CSTNode._codegen no longer calls CodegenState.before_codegen for {missing} (trainlint.locate)"
    kinds = {type(n).__name__ for n in syntactic}
    assert {"FunctionDef", "ClassDef", "SimpleStatementLine"} <= kinds, (
        f"CSTNode._codegen calls CodegenState.record_syntactic_position only for {sorted(kinds)} (trainlint.locate)"
    )


# libcst._position: trainlint.locate builds its ranges from it -----------------------------------
def test_code_position_and_range_are_the_metadata_types():
    from libcst.metadata import CodePosition, CodeRange

    position = _private("libcst._position", "CodePosition", "trainlint.locate")
    code_range = _private("libcst._position", "CodeRange", "trainlint.locate")
    assert position is CodePosition and code_range is CodeRange, (
        "libcst._position.CodePosition/CodeRange are no longer the types PositionProvider gives (trainlint.locate)"
    )
    span = code_range(position(2, 4), position(3, 0))
    assert (span.start.line, span.start.column, span.end.line, span.end.column) == (2, 4, 3, 0), (
        "libcst._position.CodeRange(start, end) / CodePosition(line, column) changed their fields (trainlint.locate)"
    )


# CSTNode.__post_init__: trainlint.engine.parse swaps it out while the parser builds the tree -----
def test_post_init_is_cstnodes_own_and_only_validates():
    node_class = _private("libcst._nodes.base", "CSTNode", "trainlint.engine")
    assert node_class is cst.CSTNode, "libcst._nodes.base.CSTNode is no longer libcst.CSTNode (trainlint.engine)"
    assert "__post_init__" in vars(cst.CSTNode), (
        "CSTNode.__post_init__ moved: trainlint.engine.parse replaces it to skip validation while parsing"
    )
    from trainlint.engine import _VALIDATE, _trust

    cst.CSTNode.__post_init__ = _trust
    try:
        unchecked = cst.Name("")  # invalid: the replacement is what a node's __init__ calls
    finally:
        cst.CSTNode.__post_init__ = _VALIDATE
    assert unchecked.value == "", "a node's __init__ no longer calls CSTNode.__post_init__ (trainlint.engine.parse)"
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")  # CSTNode.__post_init__ is what validates a node


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.py")), ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_skipping_post_init_while_parsing_builds_the_same_tree(path):
    """Skipped, CSTNode.__post_init__ must have done nothing but validate: the trees are equal."""
    from trainlint.engine import parse

    source = path.read_text(encoding="utf-8")
    fast = parse(source)
    assert fast.deep_equals(cst.parse_module(source)) and fast.code == source, (
        f"{path.name}: trainlint.engine.parse (CSTNode.__post_init__ skipped) built another tree than LibCST"
    )
