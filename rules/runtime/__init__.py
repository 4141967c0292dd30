"""TL9: runtime findings, measured by `trainlint probe` while the script trains, never by
the static engine. Each rule carries the code, name, severity, docs and thresholds (as
options); trainlint/probe/analyze.py measures them."""

PREFIX = "TL9"
TITLE = "runtime"
