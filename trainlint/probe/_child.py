"""The probed process: `python -m trainlint.probe._child [options] -- SCRIPT ARGS...`.

Installs the instrumentation, then runs SCRIPT as `python SCRIPT ARGS...` would
(runpy, `__main__`, its own argv, its folder first on sys.path, the caller's cwd). Under
torchrun every rank runs this; each writes `rank<N>.json` into the report folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback

from trainlint.probe.schema import RaisingModule, ScriptException, Site


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trainlint.probe._child")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--report-dir", required=True)
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--project-root", default=None)
    parser.add_argument("--max-batches", type=int, default=8)
    parser.add_argument("--through-eval", action="store_true")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


#: The seed of every random generator before the script starts: two probes of one script
#: draw the same weights, batches and dropout masks, so they give the same verdicts. The
#: script's own `torch.manual_seed(...)` runs later and wins.
SEED = 0


def seed_everything(seed: int = SEED) -> None:
    """Seed Python's `random`, numpy's global generator (if numpy is installed) and torch's
    CPU and CUDA generators (torch.manual_seed seeds every CUDA device, lazily)."""
    import random

    import torch

    random.seed(seed)
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
    torch.manual_seed(seed)


def _user_frame(tb, probe) -> Site | None:
    """The innermost traceback frame in the user's own code."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        if probe.is_user_file(frame.f_code.co_filename):
            found = Site(os.path.realpath(frame.f_code.co_filename), lineno)
    return found


def _raising_module(tb, probe) -> RaisingModule | None:
    """The innermost module on the traceback that the user's code built (it has a build site)."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        module = frame.f_locals.get("self")
        site = probe.modules.sites.get(module) if module is not None else None
        if site is not None:
            from trainlint.probe.hooks.modules import module_args

            params = [p for p in module.parameters(recurse=False)]
            found = RaisingModule(type=type(module).__name__, args=module_args(module), site=site,
                                  device=str(params[0].device) if params else None,
                                  dtype=str(params[0].dtype).replace("torch.", "") if params else None)
    return found


def _traceback(exc: BaseException, script: str) -> str:
    """The script's part of the traceback (from its own frame on, not the probe's runpy frames)."""
    frames = traceback.extract_tb(exc.__traceback__)
    real = os.path.realpath(script)
    start = next((i for i, f in enumerate(frames) if os.path.realpath(f.filename) == real), 0)
    text = ("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames[start:][-8:]))
            + "".join(traceback.format_exception_only(type(exc), exc)))
    return text[-3000:]


def main(argv: list[str] | None = None) -> None:
    options = _parse(sys.argv[1:] if argv is None else argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    script = os.path.abspath(options.script)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    report_path = os.path.join(options.report_dir, f"rank{rank}.json")
    fd = os.environ.pop("TRAINLINT_PROBE_PROGRESS_FD", None)
    # torchrun does not pass the pipe on to its ranks: the number may name another file there
    launched = "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ
    progress_fd = int(fd) if fd and not launched else None

    from trainlint.probe.instrument import Probe

    probe = Probe(steps=options.steps, report_path=report_path,
                  project_root=options.project_root or os.path.dirname(script), script=script,
                  checkpoint_dir=options.checkpoint_dir, max_batches=options.max_batches,
                  progress_fd=progress_fd, rank=rank, world_size=world, through_eval=options.through_eval)
    probe.install()
    seed_everything()
    if options.timeout:
        timer = threading.Timer(max(1.0, options.timeout), probe.stop, args=("timeout",))
        timer.daemon = True
        timer.start()

    import runpy

    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(script)
    stopped, extra = "exit", {"exit_code": 0}
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        extra = {"exit_code": code}
    except BaseException as exc:  # the script's own error: reported, not re-raised as trainlint's
        stopped = "exception"
        extra = {
            "exit_code": 1,
            "exception": ScriptException(
                type=type(exc).__name__,
                message=str(exc)[:500],
                site=_user_frame(exc.__traceback__, probe),
                module=_raising_module(exc.__traceback__, probe),
                traceback=_traceback(exc, script),
            ),
        }
    probe.stop(stopped, **extra)


if __name__ == "__main__":
    main()
