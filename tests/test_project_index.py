"""A script is checked against model classes defined in other files of the same run."""

from __future__ import annotations

import json

BLOCK = '''
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu() + x


class Swish(nn.Module):
    def forward(self, x):
        return x * x.sigmoid()
'''

NET = '''
import torch.nn as nn

from {import_from} import Block, Swish


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3)

    def forward(self, x):
        x = Swish()(self.stem(x))
        return Block(16)(x)
'''


def _findings(project, *args):
    result = project.run("check", "--output-format", "json", *args)
    return [(f["filename"], f["location"]["row"], f["code"]) for f in json.loads(result.output)]


def test_project_class_with_weights_built_in_forward_of_another_file(project):
    project.write("models/blocks.py", BLOCK)
    project.write("models/net.py", NET.format(import_from="models.blocks"))
    # Block owns a Conv2d (reported); Swish has no parameters (harmless, not reported)
    assert _findings(project, ".") == [("models/net.py", 13, "TL202")]


def test_relative_import_in_a_package(project):
    project.write("pkg/__init__.py", "")
    project.write("pkg/blocks.py", BLOCK)
    project.write("pkg/net.py", NET.format(import_from=".blocks"))
    assert _findings(project, ".") == [("pkg/net.py", 13, "TL202")]


def test_unknown_imported_class_is_not_guessed(project):
    project.write("models/net.py", NET.format(import_from="somelib.blocks"))
    assert _findings(project, ".") == []


def test_subclass_of_a_project_module_is_a_module(project):
    project.write("models/base.py", "import torch.nn as nn\n\nclass Base(nn.Module):\n    pass\n")
    project.write(
        "models/head.py",
        '''
        import torch.nn as nn
        from models.base import Base


        class Head(Base):
            def forward(self, x):
                return nn.Linear(x.shape[1], 10)(x)
        ''',
    )
    assert _findings(project, ".") == [("models/head.py", 7, "TL202")]


def test_checks_running_in_threads_at_once_do_not_share_an_engine(project):
    # the language server and the probe run checks from several threads in one process
    from concurrent.futures import ThreadPoolExecutor

    from trainlint.config import Config
    from trainlint.project import check_paths

    for i in range(6):
        project.write(f"models/blocks{i}.py", BLOCK)
        project.write(f"models/net{i}.py", NET.format(import_from=f"models.blocks{i}"))

    def run(_):
        result = check_paths([project.root], Config(root=project.root))
        return sorted((f.path.rsplit("/", 1)[-1], f.location.row, f.code) for f in result.findings)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, range(12)))
    expected = sorted((f"net{i}.py", 13, "TL202") for i in range(6))
    assert all(r == expected for r in results)


def test_the_index_answers_who_calls_a_function_where_python_would_find_it():
    from trainlint.cache import RecordingIndex, same_answers
    from trainlint.index import CallSite, ProjectIndex

    def site(path: str, module: str, target: str) -> CallSite:
        return CallSite(path, module, target, (("models.Net",),), (), False)

    index = ProjectIndex()
    index.add_call(site("examples/a/main.py", "examples.a.main", "engine.fit"))
    index.add_call(site("tools/run.py", "tools.run", "examples.b.engine.fit"))
    index.add_call(site("examples/a/main.py", "examples.a.main", "engine.evaluate"))
    # `from engine import fit` beside examples/a/engine.py; the full module path from anywhere
    assert [s.path for s in index.callers("examples.a.engine", "fit", path="examples/a/engine.py")] == ["examples/a/main.py"]
    assert [s.path for s in index.callers("examples.b.engine", "fit", path="examples/b/engine.py")] == ["tools/run.py"]
    assert index.callers("examples.a.engine", "fit", path="examples/a/main.py") == ()  # its own calls: not asked here
    recording = RecordingIndex(index)
    recording.callers("examples.a.engine", "fit", path="examples/a/engine.py")
    assert same_answers(index, recording.lookups())
    index.remove_path("examples/a/main.py")  # the caller is edited: the answer is another one
    assert not same_answers(index, recording.lookups())
