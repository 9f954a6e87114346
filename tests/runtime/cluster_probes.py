"""Actors for the multi-node tests: each says where it runs, and counts across restarts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from omega_actors.runtime import Actor, handler


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
