"""The sync protocol and the constellation's aggregation, as plain code. No actors.

- :mod:`.wire`: versioned, signed msgpack frames with hard size caps.
- :mod:`.encoder`: what a device pushes, by priority, within the cap.
- :mod:`.aggregator`: idempotent, quality-weighted, k-anonymous aggregation.
"""

from omega_actors.federation.aggregator import Aggregator, Released
from omega_actors.federation.encoder import LocalPattern, PushBuilder
from omega_actors.federation.wire import (
    PULL_CAP,
    PUSH_CAP,
    REASONS,
    SCHEMA_VERSION,
    Ack,
    PatternStat,
    Push,
    Refusal,
    WireError,
    decode_reply,
    encode_push,
    pattern_id,
)

__all__ = [
    "PULL_CAP",
    "PUSH_CAP",
    "REASONS",
    "SCHEMA_VERSION",
    "Ack",
    "Aggregator",
    "LocalPattern",
    "PatternStat",
    "Push",
    "PushBuilder",
    "Refusal",
    "Released",
    "WireError",
    "decode_reply",
    "encode_push",
    "pattern_id",
]
