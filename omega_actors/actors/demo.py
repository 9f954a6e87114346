"""The actors of the default tree in ``config/``: small, but each shows one thing.

- :class:`Ticker` keeps a count that survives its restarts (a checkpoint) and
  publishes it on the event bus.
- :class:`Counter` answers ``Add`` by registered name, also checkpointed.
- :class:`Flaky` crashes on a schedule, so the live view shows restarts,
  crash reports and backoff.
- :class:`Watcher` subscribes to the supervisors' lifecycle events and counts them.
- Every demo actor takes :class:`Poison`, which makes its handler raise: the
  chaos option of ``python run.py`` uses it (and ``kill -9`` on the tcp base).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..runtime import Actor, Event, emit, handler


@dataclass(frozen=True)
class Poison:
    """Make the receiving handler raise (fault injection)."""


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class Add:
    n: int


@dataclass(frozen=True)
class GetCount:
    pass


class DemoActor(Actor):
    @handler
    def poisoned(self, message: Poison) -> None:
        raise RuntimeError(f"{self.path} swallowed poison")


class Ticker(DemoActor):
    def __init__(self, interval: float = 1.0, subject: str = "demo.tick") -> None:
        self.interval = interval
        self.subject = subject
        self.count = 0

    def restore(self, state: int) -> None:
        self.count = state

    def started(self) -> None:
        self.send_after(self.interval, Tick())

    @handler
    def tick(self, message: Tick) -> None:
        self.count += 1
        self.checkpoint(self.count)
        self.publish(self.subject, self.count)
        self.send_after(self.interval, Tick())

    @handler
    def get_count(self, message: GetCount) -> int:
        return self.count


class Counter(DemoActor):
    def __init__(self, start: int = 0) -> None:
        self.total = start

    def restore(self, state: int) -> None:
        self.total = state

    @handler
    def add(self, message: Add) -> int:
        self.total += message.n
        self.checkpoint(self.total)
        return self.total

    @handler
    def get_count(self, message: GetCount) -> int:
        return self.total


class Flaky(DemoActor):
    """Crashes ``crash_after`` seconds after each start."""

    def __init__(self, crash_after: float = 7.0) -> None:
        self.crash_after = crash_after

    def started(self) -> None:
        self.send_after(self.crash_after, Poison())


class Watcher(DemoActor):
    """Counts lifecycle events from every supervisor (subjects ``omega.child.>``)."""

    def __init__(self, pattern: str = "omega.child.exited.>") -> None:
        self.pattern = pattern
        self.seen = 0

    def started(self) -> None:
        self.subscribe(self.pattern)

    @handler
    def event(self, message: Event) -> None:
        self.seen += 1
        emit(logging.INFO, "watcher_saw", self.path, subject=message.subject, payload=message.payload)

    @handler
    def get_count(self, message: GetCount) -> int:
        return self.seen
