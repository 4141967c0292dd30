"""Files: torch.save / torch.load / open of checkpoint files under the project go to a
temporary folder (and are read back from it), and TensorBoard SummaryWriters log there:
a probe leaves nothing behind. The FileRecorder lists the redirected writes."""

from __future__ import annotations

import builtins
import io
import os
import sys
from typing import TYPE_CHECKING

import torch

from trainlint.probe.schema import Redirect

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin", ".safetensors", ".pkl", ".pickle", ".npz", ".h5")


class FileRecorder:
    """Where the script's checkpoint writes and TensorBoard runs went instead (checkpoint_dir)."""

    def __init__(self, checkpoint_dir: str | None, project_root: str) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.project_root = project_root
        self.redirected: list[Redirect] = []
        self._map: dict[str, str] = {}  # the script's path -> the file in checkpoint_dir

    def redirect(self, path: str) -> str:
        """Where a write to `path` goes (the same file for every write to it)."""
        if path in self._map:
            return self._map[path]
        new = os.path.join(self.checkpoint_dir, f"{len(self._map)}-{os.path.basename(path)}")
        self._map[path] = new
        self.redirected.append(Redirect(path=path, to=new))
        return new

    def redirected_to(self, path: str) -> str | None:
        """The file a read of `path` finds, when the script wrote it under the probe."""
        return self._map.get(path)

    def is_checkpoint_write(self, path: str, mode: str) -> bool:
        return any(c in mode for c in "wax+") and path.lower().endswith(CHECKPOINT_SUFFIXES) \
            and path.startswith(self.project_root + os.sep)

    def tensorboard_run(self, given) -> str:
        """The folder a SummaryWriter logs to instead of `given` (its log_dir, else ./runs)."""
        to = os.path.join(self.checkpoint_dir, f"{len(self.redirected)}-tensorboard")
        where = os.path.realpath(os.fspath(given)) if given else os.path.join(os.getcwd(), "runs")
        self.redirected.append(Redirect(path=where, to=to, kind="tensorboard"))
        return to

    def fields(self) -> dict:
        return {"redirected": self.redirected}


def install(probe: Probe) -> None:
    """Redirect checkpoint writes and TensorBoard runs into the checkpoint folder (when there is one)."""
    recorder = probe.files
    if not recorder.checkpoint_dir:
        return
    original_save = torch.save
    original_load = torch.load
    original_open = builtins.open

    def target(path) -> str | None:
        if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
            return os.path.realpath(os.fspath(path))
        return None

    def save(obj, f, *args, **kwargs):
        path = target(f)
        if path is not None:
            f = recorder.redirect(path)
        return original_save(obj, f, *args, **kwargs)

    def load(f, *args, **kwargs):
        path = target(f)
        if path is not None and recorder.redirected_to(path):
            f = recorder.redirected_to(path)
        return original_load(f, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        path = target(file) if isinstance(file, (str, os.PathLike)) else None
        if path is not None:
            if recorder.is_checkpoint_write(path, mode):
                file = recorder.redirect(path)
            elif recorder.redirected_to(path):
                file = recorder.redirected_to(path)
        return original_open(file, mode, *args, **kwargs)

    torch.save = save
    torch.load = load
    builtins.open = open_
    io.open = open_

    # TensorBoard writers log to ./runs/<date> by default: a probe must leave no run behind.
    # Patched when the script imports them (importing them here would cost a second).
    _after_import({name: lambda module: _redirect_summary_writer(recorder, module)
                   for name in ("torch.utils.tensorboard.writer", "tensorboardX.writer")})


def _redirect_summary_writer(recorder: FileRecorder, module) -> None:
    cls = getattr(module, "SummaryWriter", None)
    if cls is None:
        return
    original_init = cls.__init__

    def init(writer, *args, **kwargs):
        # torch's first parameter is log_dir, tensorboardX's logdir (log_dir an alias)
        given = args[0] if args else next((kwargs[k] for k in ("log_dir", "logdir") if kwargs.get(k)), None)
        for key in ("log_dir", "logdir"):
            kwargs.pop(key, None)
        to = recorder.tensorboard_run(given)
        original_init(writer, to, *args[1:], **kwargs)

    cls.__init__ = init


class _AfterImport:
    """A meta-path finder that runs a hook on a module right after it is first imported."""

    def __init__(self, hooks: dict) -> None:
        self.hooks = hooks

    def find_spec(self, name, path, target=None):
        hook = self.hooks.pop(name, None)
        if hook is None:
            return None
        import importlib.util

        spec = importlib.util.find_spec(name)  # the other finders (this one no longer knows name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def run_then_hook(module):
            exec_module(module)
            try:
                hook(module)
            except Exception:  # never break the script's import
                pass

        spec.loader.exec_module = run_then_hook
        return spec


def _after_import(hooks: dict) -> None:
    for name in [n for n in hooks if n in sys.modules]:
        hooks.pop(name)(sys.modules[name])
    if hooks:
        sys.meta_path.insert(0, _AfterImport(hooks))
