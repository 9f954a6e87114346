"""The sync protocol and the constellation's aggregation, as plain code. No actors.

- :mod:`.wire`: versioned, signed msgpack frames with hard size caps (pushes, acks, errors).
- :mod:`.bundle`: pull requests and the cohort's pull bundles.
- :mod:`.encoder`: what a device pushes, by priority, within the cap.
- :mod:`.device`: a device's sync session: when to sync, backoff, applying bundles.
- :mod:`.ingest`: a batch of pushes decoded, verified and split by shard at once.
- :mod:`.shard`: one shard's log-structured state and its vectorised aggregation.
- :mod:`.publisher`: trends, differential privacy and versioned bundles.
- :mod:`.constellation`: those parts over one store, in one process.
- :mod:`.transport` and :mod:`.nats_transport`: how frames travel.

May import storage, the runtime and ``omega_actors.errors``; never actors,
app, sim, benchmarks or cli.
"""

from omega_actors.federation.bundle import (
    Bundle,
    PullRequest,
    decode_bundle,
    encode_pull_request,
)
from omega_actors.federation.constellation import Constellation, ConstellationSettings
from omega_actors.federation.device import SyncSession, SyncSettings, bundle_tables
from omega_actors.federation.encoder import LocalPattern, PushBuilder
from omega_actors.federation.publisher import PublishSettings
from omega_actors.federation.shard import Weighting
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
    "Bundle",
    "Constellation",
    "ConstellationSettings",
    "LocalPattern",
    "PatternStat",
    "PublishSettings",
    "PullRequest",
    "Push",
    "PushBuilder",
    "Refusal",
    "SyncSession",
    "SyncSettings",
    "Weighting",
    "WireError",
    "bundle_tables",
    "decode_bundle",
    "decode_reply",
    "encode_pull_request",
    "encode_push",
    "pattern_id",
]
