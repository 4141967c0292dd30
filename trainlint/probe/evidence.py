"""What a runtime rule's measurement returns: its Evidence (observable, present, the message,
the numbers, where), and the Band on which a static finding reads one of its numbers.

Pure Python. The runtime rules (rules/runtime/) import it; the verdicts
(trainlint.probe.analyze) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trainlint.probe.numbers import finite, fmt

if TYPE_CHECKING:
    from trainlint.probe.schema import Site

CONFIRMED, NOT_CONFIRMED, NOT_OBSERVABLE = "confirmed", "not confirmed", "not observable"
#: The measurement lies between a static finding's confirm band and the healthy range.
INCONCLUSIVE = "inconclusive"


@dataclass
class Evidence:
    """What the probe measured for one symptom: observable or not, the finding's message, numbers."""

    observable: bool
    present: bool = False
    message: str = ""
    numbers: dict = field(default_factory=dict)
    site: Site | None = None


@dataclass(frozen=True)
class Band:
    """How a static finding reads one measured number: past `confirm` the prediction holds,
    on the healthy side of `healthy` it does not, in between the probe cannot tell."""

    what: str
    value: float
    confirm: float
    healthy: float

    @property
    def higher_is_worse(self) -> bool:
        return self.confirm > self.healthy

    def verdict(self) -> str:
        v = self.value if self.higher_is_worse else -self.value
        confirm, healthy = (self.confirm, self.healthy) if self.higher_is_worse else (-self.confirm, -self.healthy)
        if not finite(v):
            return NOT_OBSERVABLE
        return CONFIRMED if v >= confirm else NOT_CONFIRMED if v < healthy else INCONCLUSIVE

    def describe(self) -> str:
        side, other = (">=", "<") if self.higher_is_worse else ("<", ">=")
        return (f"{self.what} {fmt(self.value)}: confirmed {side} {fmt(self.confirm)}, "
                f"not confirmed {other} {fmt(self.healthy)}")
