"""The trainlint language server (pygls), a thin face over the engine."""
