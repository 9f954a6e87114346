"""A circuit breaker: stop calling a provider that keeps failing, and try it again later.

Closed: calls go through; ``failures`` in a row open it. Open: calls are
refused at once (the router escalates instead of waiting out a timeout)
until ``reset_after`` seconds have passed; then one trial call is let
through (half-open). The trial's success closes the circuit; its failure
opens it for another ``reset_after``.

The clock is injected, so tests step it; the state is plain data, so a
provider checkpoints it and a restarted instance keeps its circuit open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .settings import BreakerSettings

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0

    def allow(self) -> bool:
        """May a call go through now? Moves an open circuit to half-open when its time is up."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self.clock() - self.opened_at >= self.settings.reset_after:
            self.state = HALF_OPEN
            return True
        return False  # open, or half-open with its one trial in flight

    def succeeded(self) -> None:
        self.state, self.failures = CLOSED, 0

    def failed(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.settings.failures:
            self.state, self.opened_at = OPEN, self.clock()

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial through (0 when closed)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.settings.reset_after - (self.clock() - self.opened_at))

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "failures": self.failures, "opened_at": self.opened_at}

    def restore(self, data: dict[str, Any]) -> None:
        # A trial in flight died with the old instance: the new one waits for a fresh trial.
        self.state = OPEN if data["state"] == HALF_OPEN else data["state"]
        self.failures, self.opened_at = int(data["failures"]), float(data["opened_at"])
