"""The trainlint language server (pygls), a thin face over the engine: `trainlint server`."""


from __future__ import annotations

from pathlib import Path


def serve(config_path: Path | None = None) -> None:
    from trainlint.server.app import serve as _serve

    _serve(config_path)
