"""The messages between a TV and the constellation over the actor cluster: enroll, push, pull.

A TV's sync agent (:mod:`.sync_agent`), or a fleet worker speaking for many
TVs (:mod:`.fleet`), sends :class:`Enroll` and :class:`PushFrame` to the
ingest (registered as :data:`INGEST`) and :class:`PullFrame` to the
publisher (:data:`PUBLISHER`); the constellation's actors
(:mod:`.constellation`) answer. This module is the contract between the two
sides, so neither imports the other's actors. Only signed msgpack frames
(:mod:`omega_actors.federation.wire`) travel inside these messages, and
nothing in a frame is ever unpickled.

``tag`` is the sender's own label (a worker of many TVs names the TV), echoed back unread.
"""

from __future__ import annotations

from dataclasses import dataclass

INGEST = "constellation.ingest"
PUBLISHER = "constellation.publisher"


@dataclass(frozen=True)
class PushFrame:
    frame: bytes
    tag: str = ""


@dataclass(frozen=True)
class PushReply:
    frame: bytes | None
    tag: str = ""


@dataclass(frozen=True)
class PullFrame:
    frame: bytes
    tag: str = ""


@dataclass(frozen=True)
class PullReply:
    frame: bytes | None
    tag: str = ""


@dataclass(frozen=True)
class Enroll:
    """In-cluster enrollment: only actors of the trusted cluster can send this."""

    device: str
    quality: float = 1.0


@dataclass(frozen=True)
class Enrolled:
    """The key (shown once), and the last sequence number committed for this name: a device that lost its
    state starts above it, or its pushes would be taken for replays."""

    device: str
    key: bytes
    seq: int = 0
