"""The trainlint language server (pygls), a thin face over the engine: `trainlint server`."""


def serve() -> None:
    from trainlint.server.app import serve as _serve

    _serve()
