"""TL0: the engine's own findings (a file that cannot be read, a rule that crashed)."""

PREFIX = "TL0"
TITLE = "core"
