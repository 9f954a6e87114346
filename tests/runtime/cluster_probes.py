"""Actors for the multi-node tests: each says where it runs, and counts across restarts."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from omega_actors.runtime import Actor, handler
from omega_actors.runtime.messages import Event

from .probes import append_line


@dataclass(frozen=True, slots=True)
class Bump:
    pass


@dataclass(frozen=True, slots=True)
class Bumped:
    count: int
    node: str
    pid: int


class Counter(Actor):
    """Counts ``Bump``s; the count is checkpointed, so a new instance goes on from it."""

    def __init__(self) -> None:
        self.count = 0

    def restore(self, state: int) -> None:
        self.count = state

    @handler
    def bump(self, message: Bump) -> Bumped:
        self.count += 1
        self.checkpoint(self.count)
        return Bumped(self.count, os.environ.get("OMEGA_NODE", "?"), os.getpid())


class NodeEvents(Actor):
    """Writes every ``cluster.node.*`` event's subject to a file, one per line."""

    def __init__(self, log: str) -> None:
        self.log = log

    def started(self) -> None:
        self.subscribe("cluster.node.>")

    @handler
    def event(self, message: Event) -> None:
        append_line(self.log, message.subject)


class SlowStart(Counter):
    """A counter whose start takes longer than a heartbeat lease (a restore, a subtree, a model)."""

    def __init__(self, seconds: float = 1.5) -> None:
        super().__init__()
        self.seconds = seconds

    def started(self) -> None:
        time.sleep(self.seconds)
