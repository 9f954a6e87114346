"""Raw Thespian, the baseline the runtime benchmark divides by.

Besides the runtime's adapter, this is the only module that imports
Thespian: measuring Thespian without omega in between needs plain Thespian
actors. Nothing outside the benchmarks uses it.
"""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import Actor, ActorExitRequest, ActorSystem


class RawPonger(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple) and message[0] == "ping":
            self.send(sender, ("pong",))


class RawPinger(Actor):  # type: ignore[misc]
    """Plays ``n`` ping-pong rounds with a target, then reports the seconds taken."""

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple) and message[0] == "go":
            _, self.rounds, self.target = message
            self.asker, self.left, self.t0 = sender, self.rounds, time.perf_counter()
            self.send(self.target, ("ping",))
        elif isinstance(message, tuple) and message[0] == "pong":
            self.left -= 1
            if self.left:
                self.send(self.target, ("ping",))
            else:
                self.send(self.asker, ("done", time.perf_counter() - self.t0))


class RawNoop(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        pass


def pingpong_seconds(system: Any, rounds: int) -> float:
    """Seconds for ``rounds`` round trips between two raw actors (2 * rounds messages)."""
    ponger, pinger = system.createActor(RawPonger), system.createActor(RawPinger)
    try:
        reply = system.ask(pinger, ("go", rounds, ponger), 300)
        if not (isinstance(reply, tuple) and reply[0] == "done"):
            raise RuntimeError(f"raw ping-pong failed: {reply!r}")
        return float(reply[1])
    finally:
        for actor in (pinger, ponger):
            system.tell(actor, ActorExitRequest())


def create_seconds(system: Any) -> float:
    """One blocking createActor from outside, then the actor is stopped again."""
    t0 = time.perf_counter()
    actor = system.createActor(RawNoop)
    elapsed = time.perf_counter() - t0
    system.tell(actor, ActorExitRequest())
    return elapsed


def start(base: str, admin_port: int | None) -> Any:
    """A raw system, bound like the runtime's (the adapter's loopback patch is already installed)."""
    capabilities = {"Admin Port": admin_port} if base == "multiprocTCPBase" else {}
    return ActorSystem(base, capabilities, logDefs=False if base == "simpleSystemBase" else None, transientUnique=True)
