from __future__ import annotations

import json
from typing import TextIO

from trainlint.finding import Finding


def write_json(findings: list[Finding], out: TextIO) -> None:
    json.dump([f.to_json() for f in findings], out, indent=2, ensure_ascii=False)
    out.write("\n")
