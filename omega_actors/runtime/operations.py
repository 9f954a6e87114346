"""Sequential operations inside an actor: how a supervisor stays an OTP supervisor.

An OTP supervisor is a sequential process. While it restarts a group it
blocks: it stops one child, waits for it to die, stops the next, starts one,
waits for its init, and only then reads its next message. An actor must not
block, so each multi-step job is written as a generator that ``yield``s what
it waits for and is resumed by the event that answers it::

    def restart_group(self, group):
        for child in reversed(group):
            yield Wait("exit", child.token)   # resumed by that child's exit
        ...

:class:`OperationQueue` runs one operation at a time and keeps every other
task (another child's exit, a ``start_child`` request, a retry) in order
behind it, which is exactly the order an OTP supervisor's mailbox imposes.
Read-only queries do not go through it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Wait:
    """What an operation waits for: the ``start`` or the ``exit`` of one child instance."""

    kind: str
    token: int


Operation = Generator[Wait, Any, Any]
Task = Callable[[], Operation]


class OperationQueue:
    def __init__(self) -> None:
        self._running: Operation | None = None
        self._waiting: Wait | None = None
        self._tasks: deque[Task] = deque()
        self._draining = False
        self.closed = False

    @property
    def waiting(self) -> Wait | None:
        return self._waiting

    def run(self, task: Task) -> None:
        """Run ``task`` now if nothing else runs or waits, else after what does."""
        self._tasks.append(task)
        self._drain()

    def later(self, task: Task) -> None:
        """Queue ``task`` behind what already waits, without starting anything now."""
        self._tasks.append(task)

    def resume(self, kind: str, token: int, value: Any) -> bool:
        """Hand ``value`` to the running operation if it waits for this; True if it did.

        An exit also answers a wait for a start: the instance died starting.
        """
        waiting = self._waiting
        if waiting is None or waiting.token != token or (kind != "exit" and waiting.kind != kind):
            return False
        self._advance(value)
        return True

    def close(self) -> None:
        """Run nothing more (the supervisor is exiting)."""
        self.closed = True
        self._tasks.clear()

    def _drain(self) -> None:
        if self._draining:
            return  # an operation finished inside _advance: the outer loop carries on
        self._draining = True
        try:
            while self._running is None and self._tasks and not self.closed:
                self._running = self._tasks.popleft()()
                self._advance(None)
        finally:
            self._draining = False

    def _advance(self, value: Any) -> None:
        assert self._running is not None
        try:
            self._waiting = self._running.send(value)
        except StopIteration:
            self._running = self._waiting = None
            self._drain()
