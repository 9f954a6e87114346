"""Restart backoff: what OTP lacks, as pure arithmetic.

OTP restarts a crashed child at once; a child that crashes on a missing
resource then burns its supervisor's whole restart intensity in milliseconds.
With a :class:`Backoff` in the supervisor spec, the ``n``-th consecutive
restart of a child waits::

    min(maximum, initial * multiplier ** (n - 1)) * (1 + jitter * (2u - 1))

seconds (``u`` uniform in [0, 1), never above ``maximum``). A child that ran
for at least ``reset_after`` seconds before it exited starts a new streak at
``n = 1``.

Backoff composes with intensity: every restart still counts in the restart
window when it is decided, not when it happens. A backoff whose delays add up
to more than the period lets a slow crash loop run forever; that is a choice
the spec makes visible, not a bug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.1
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        _positive_seconds("backoff.initial", self.initial)
        _positive_seconds("backoff.maximum", self.maximum)
        _positive_seconds("backoff.reset_after", self.reset_after)
        if isinstance(self.multiplier, bool) or not (isinstance(self.multiplier, (int, float)) and self.multiplier >= 1):
            raise SpecError(f"expected a number >= 1; got {self.multiplier!r}", key="backoff.multiplier")
        if isinstance(self.jitter, bool) or not (isinstance(self.jitter, (int, float)) and 0 <= self.jitter < 1):
            raise SpecError(f"expected a fraction in [0, 1); got {self.jitter!r}", key="backoff.jitter")
        if self.maximum < self.initial:
            raise SpecError(
                f"maximum ({self.maximum}) must not be below initial ({self.initial})", key="backoff.maximum"
            )

    def delay(self, attempt: int, u: float) -> float:
        """Seconds before restart number ``attempt`` (1-based) of a streak."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1; got {attempt}")
        try:
            growth = float(self.multiplier) ** (attempt - 1)
        except OverflowError:  # a long streak: far past the maximum anyway
            growth = math.inf
        base = min(self.maximum, self.initial * growth)
        return min(self.maximum, base * (1.0 + self.jitter * (2.0 * u - 1.0)))

    def next_attempt(self, streak: int, ran_for: float) -> int:
        """The attempt number after an exit, given how long the child ran."""
        return 1 if ran_for >= self.reset_after else streak + 1


def _positive_seconds(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise SpecError(f"expected a positive number of seconds; got {value!r}", key=key)
