"""Files: torch.save / torch.load / open of checkpoint files under the project go to a
temporary folder (and are read back from it), and TensorBoard SummaryWriters log there:
a probe leaves nothing behind."""

from __future__ import annotations

import builtins
import io
import os
import sys

import torch

from trainlint.probe.schema import Redirect

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin", ".safetensors", ".pkl", ".pickle", ".npz", ".h5")


def install(probe) -> None:
    """Redirect checkpoint writes and TensorBoard runs into probe.checkpoint_dir (when it is set)."""
    if not probe.checkpoint_dir:
        return
    original_save = torch.save
    original_load = torch.load
    original_open = builtins.open

    def target(path) -> str | None:
        if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
            return os.path.realpath(os.fspath(path))
        return None

    def redirect(path: str) -> str:
        if path in probe._redirect_map:
            return probe._redirect_map[path]
        new = os.path.join(probe.checkpoint_dir, f"{len(probe._redirect_map)}-{os.path.basename(path)}")
        probe._redirect_map[path] = new
        probe.redirected.append(Redirect(path=path, to=new))
        return new

    def save(obj, f, *args, **kwargs):
        path = target(f)
        if path is not None:
            f = redirect(path)
        return original_save(obj, f, *args, **kwargs)

    def load(f, *args, **kwargs):
        path = target(f)
        if path is not None and path in probe._redirect_map:
            f = probe._redirect_map[path]
        return original_load(f, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        path = target(file) if isinstance(file, (str, os.PathLike)) else None
        if path is not None:
            if any(c in mode for c in "wax+") and path.lower().endswith(CHECKPOINT_SUFFIXES) \
                    and path.startswith(probe.project_root + os.sep):
                file = redirect(path)
            elif path in probe._redirect_map:
                file = probe._redirect_map[path]
        return original_open(file, mode, *args, **kwargs)

    torch.save = save
    torch.load = load
    builtins.open = open_
    io.open = open_

    # TensorBoard writers log to ./runs/<date> by default: a probe must leave no run behind.
    # Patched when the script imports them (importing them here would cost a second).
    _after_import({name: lambda module: _redirect_summary_writer(probe, module)
                   for name in ("torch.utils.tensorboard.writer", "tensorboardX.writer")})


def _redirect_summary_writer(probe, module) -> None:
    cls = getattr(module, "SummaryWriter", None)
    if cls is None:
        return
    original_init = cls.__init__

    def init(writer, *args, **kwargs):
        # torch's first parameter is log_dir, tensorboardX's logdir (log_dir an alias)
        given = args[0] if args else next((kwargs[k] for k in ("log_dir", "logdir") if kwargs.get(k)), None)
        for key in ("log_dir", "logdir"):
            kwargs.pop(key, None)
        to = os.path.join(probe.checkpoint_dir, f"{len(probe.redirected)}-tensorboard")
        where = os.path.realpath(os.fspath(given)) if given else os.path.join(os.getcwd(), "runs")
        probe.redirected.append(Redirect(path=where, to=to, kind="tensorboard"))
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
