"""TL9: runtime findings, measured by `trainlint probe` while the script trains, never by
the static engine. Each rule carries the code, name, severity, docs and thresholds (as
options) and owns its evidence: `measure(m)` reads the probe's measurements
(trainlint.probe.measurements) and returns what it found. A new runtime rule whose
measurement the probe already records is one module here."""

PREFIX = "TL9"
TITLE = "runtime"
