"""Restart intensity: OTP's sliding window, as a pure object.

A supervisor may restart at most ``intensity`` children in any ``period``
seconds. Exactly as ``supervisor:add_restart/3``: every restart is recorded
first, restarts older than ``now - period`` are forgotten (a restart exactly
``period`` seconds old still counts), and the supervisor gives up when more
than ``intensity`` remain. So ``intensity = 0`` means "give up on the first
restart", and ``intensity = 1, period = 5`` (the defaults) tolerates one
restart every five seconds.

OTP counts in whole seconds; this counts in the float seconds of an
injectable :class:`~omega_actors.runtime.clock.Clock`.
"""

from __future__ import annotations

from collections import deque


class RestartWindow:
    """Times of recent restarts, newest last."""

    __slots__ = ("intensity", "period", "_times")

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self.period = period
        self._times: deque[float] = deque()

    def add(self, now: float) -> bool:
        """Record a restart at ``now``; False when the intensity is exceeded."""
        threshold = now - self.period
        while self._times and self._times[0] < threshold:
            self._times.popleft()
        self._times.append(now)
        return len(self._times) <= self.intensity

    def recent(self) -> int:
        """How many restarts the window holds (as of the last ``add``)."""
        return len(self._times)
