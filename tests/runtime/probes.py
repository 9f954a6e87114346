"""Actors for tests, and the log they write.

A probe appends one line per lifecycle event to a file shared by every
process of the system (``O_APPEND`` writes of one short line are atomic):
``start <path>`` when an instance has started and ``stop <path> <reason>``
when it stops (not when it is killed). Tests compare these lines, written by
the actors themselves, with what a model of the semantics predicts.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from omega_actors.runtime import (
    Actor,
    Crash,
    ExitReason,
    Killed,
    Normal,
    Shutdown,
    handler,
)


@dataclass(frozen=True)
class Boom:
    """Make the handler raise."""


@dataclass(frozen=True)
class Quit:
    """Make the actor stop normally."""


@dataclass(frozen=True)
class Hang:
    """Make the handler block for good, as a parse that never ends would."""


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Pong:
    path: str
    pid: int
    count: int


@dataclass(frozen=True)
class GetTag:
    pass


@dataclass(frozen=True)
class Add:
    n: int


def reason_word(reason: ExitReason) -> str:
    for kind, word in ((Normal, "normal"), (Shutdown, "shutdown"), (Crash, "crash"), (Killed, "killed")):
        if isinstance(reason, kind):
            return word
    return "?"


def append_line(log: str, line: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def failures_file(log: str, path: str) -> str:
    return f"{log}.fail.{path.replace('/', '.')}"


def fail_next_starts(log: str, path: str, count: int) -> None:
    """Make the next ``count`` starts of the probe at ``path`` fail."""
    with open(failures_file(log, path), "w") as handle:
        handle.write(str(count))


def take_a_failure(log: str, path: str) -> bool:
    """One instance of a child lives at a time, so reading then writing is safe."""
    name = failures_file(log, path)
    try:
        with open(name) as handle:
            left = int(handle.read())
    except FileNotFoundError:
        return False
    if left <= 0:
        return False
    with open(name, "w") as handle:
        handle.write(str(left - 1))
    return True


def read_lines(log: str) -> list[str]:
    try:
        with open(log) as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []


class Probe(Actor):
    """Logs its lifecycle; crashes, quits, answers pings and counts on request."""

    def __init__(self, log: str, fail_start: bool = False, stop_delay: float = 0.0, tag: str = "") -> None:
        self.log = log
        self.fail_start = fail_start
        self.stop_delay = stop_delay
        self.tag = tag  # an argument to change, to see which spec an instance started from
        self.count = 0

    def restore(self, state: int) -> None:
        self.count = state

    def started(self) -> None:
        if self.fail_start or take_a_failure(self.log, self.path):
            raise RuntimeError("refusing to start")
        append_line(self.log, f"start {self.path}")

    def stopping(self, reason: ExitReason) -> None:
        append_line(self.log, f"stop {self.path} {reason_word(reason)}")
        if self.stop_delay:
            time.sleep(self.stop_delay)  # a worker that is slow to stop, to test shutdown timeouts

    @handler
    def boom(self, message: Boom) -> None:
        raise ZeroDivisionError("boom")

    @handler
    def quit(self, message: Quit) -> None:
        self.stop()

    @handler
    def hang(self, message: Hang) -> None:
        threading.Event().wait()

    @handler
    def ping(self, message: Ping) -> Pong:
        return Pong(self.path, os.getpid(), self.count)

    @handler
    def tell_tag(self, message: GetTag) -> str:
        return self.tag

    @handler
    def add(self, message: Add) -> int:
        self.count += message.n
        self.checkpoint(self.count)
        return self.count
