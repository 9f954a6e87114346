"""How a device's frames reach the constellation: one small contract, several carriers.

A :class:`Link` carries one signed frame to the constellation and returns
its signed answer, or None when no answer came in time (offline, a lost
reply). The device never learns more than that: a missing answer is
handled like being offline (back off, push again later), and the
constellation's idempotence makes the retry harmless.

- :class:`LocalLink`: a :class:`~.constellation.Constellation` in the same
  process (tests, the benchmark, single-process simulations). Each push is
  its own batch here; batching comes from the carriers that fan in.
- ``NatsLink`` (:mod:`.nats_transport`): NATS with JetStream, durable, for
  more than one machine.
- Under supervision, the sync agent also speaks to the constellation's
  ingest actor by message (:mod:`omega_actors.actors.constellation`),
  where the ingest gathers pushes from many TVs into one batch.
"""

from __future__ import annotations

from typing import Protocol

from omega_actors.federation.constellation import Constellation


class Link(Protocol):
    def push(self, frame: bytes, timeout: float) -> bytes | None: ...

    def pull(self, frame: bytes, timeout: float) -> bytes | None: ...

    def close(self) -> None: ...


class LocalLink:
    """A constellation in this process. ``online = False`` simulates a lost connection."""

    def __init__(self, constellation: Constellation) -> None:
        self.constellation = constellation
        self.online = True

    def push(self, frame: bytes, timeout: float) -> bytes | None:
        return self.constellation.submit([frame])[0] if self.online else None

    def pull(self, frame: bytes, timeout: float) -> bytes | None:
        return self.constellation.pull(frame) if self.online else None

    def close(self) -> None:
        pass
