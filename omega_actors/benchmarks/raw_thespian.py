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


class RawNest(Actor):  # type: ignore[misc]
    """Creates a ping-pong pair ``depth`` levels below itself, as a supervision tree would."""

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple) and message[0] == "nest":
            if message[1] == 0:
                self.send(sender, (self.createActor(RawPinger), self.createActor(RawPonger)))
            else:
                self.asker = sender
                self.send(self.createActor(RawNest), ("nest", message[1] - 1))
        elif isinstance(message, tuple) and len(message) == 2:
            self.send(self.asker, message)  # the pair, on its way up


class RawNoop(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        pass


def pingpong_pair(system: Any, depth: int) -> tuple[Any, Any]:
    """A raw pinger and ponger, ``depth`` actor levels below the admin (0: created by the admin)."""
    if depth == 0:
        return system.createActor(RawPinger), system.createActor(RawPonger)
    pair = system.ask(system.createActor(RawNest), ("nest", depth - 1), 60)
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise RuntimeError(f"raw actors did not start: {pair!r}")
    return pair


def pingpong_seconds(system: Any, pair: tuple[Any, Any], rounds: int) -> float:
    """Seconds for ``rounds`` round trips between a raw pair (2 * rounds messages)."""
    pinger, ponger = pair
    reply = system.ask(pinger, ("go", rounds, ponger), 300)
    if not (isinstance(reply, tuple) and reply[0] == "done"):
        raise RuntimeError(f"raw ping-pong failed: {reply!r}")
    return float(reply[1])


def stop(system: Any, actors: tuple[Any, ...]) -> None:
    for actor in actors:
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
