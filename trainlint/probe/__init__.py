"""The runtime probe: run the real script for a few steps and confirm the diagnosis.

Importing this package never imports torch; only the probed child process does.

For other faces (the language server runs it in a subprocess, never in its own process)::

    python -m trainlint probe train.py --output-format json -- --epochs 1

or, in Python, ``run_probe("train.py", ["--epochs", "1"]).to_json()``. The JSON shape is
documented in docs/probe.md.
"""

import importlib

# Loaded on first use: the runtime rules import trainlint.probe.thresholds on every
# `trainlint check`, which must not pay for the probe's runner and analysis.
_LAZY = {
    "STATIC_EVIDENCE": "trainlint.probe.analyze",
    "runtime_rules": "trainlint.probe.catalog",
    "INSTALL_HINT": "trainlint.probe.runner",
    "ProbeResult": "trainlint.probe.runner",
    "ProbeUnavailable": "trainlint.probe.runner",
    "run_probe": "trainlint.probe.runner",
    "torch_available": "trainlint.probe.runner",
    "Thresholds": "trainlint.probe.thresholds",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def probe_command(path: str, args: list[str] | tuple[str, ...] = (), *, steps: int = 20, timeout: float = 300.0,
                  python: str | None = None) -> list[str]:
    """The command line a language server runs (in a subprocess) to probe `path`; stdout is the JSON report."""
    import sys

    return [python or sys.executable, "-m", "trainlint", "probe", str(path), "--steps", str(steps),
            "--timeout", str(timeout), "--output-format", "json", "--", *args]


__all__ = ["INSTALL_HINT", "STATIC_EVIDENCE", "ProbeResult", "ProbeUnavailable", "Thresholds",
           "probe_command", "run_probe", "runtime_rules", "torch_available"]
