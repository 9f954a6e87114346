"""The constellation's actors: shards, ingest and publisher.

::

    constellation (rest_for_one)
      shards      (one_for_one)  shard-0 .. shard-N-1   ShardActor: commit batch parts, fold, aggregate
      ingest      IngestActor    gathers pushes into batches, verifies, splits by pattern hash, acks after commit
      publisher   PublisherActor release rounds (trends, privacy, bundle), and answers pulls

Registered names: ``constellation.ingest``, ``constellation.publisher`` and
``constellation.shard.<n>``. TVs' sync agents send ``PushFrame`` to the
ingest and ``PullFrame`` to the publisher (:mod:`.sync_messages`, the
contract between the two sides); only signed msgpack frames travel inside
them, and nothing in a frame is ever unpickled. The tree is built by
:func:`omega_actors.app.constellation.constellation_spec`.

The data plane batches: the ingest holds pushes for at most ``batch_wait``
seconds or ``batch_max`` frames, then sends each shard one :class:`ShardAppend`
with its part of the whole batch (never one message per delta). A device is
acknowledged only after every shard that got a part of its push has
committed it. A shard killed mid-batch never answers; after
``shard_timeout`` the ingest sends the part again, the registry holds it
until the restarted shard is up, and the shard's store takes each batch id
once (a copy that arrives after a fold is absorbed by the fold). Nothing
acknowledged is lost; nothing is counted twice.

Trust: these actors trust the actor cluster, as everything on Thespian's
transport must (it carries pickles). TVs on the ``actors`` link are code of
that cluster; devices outside it speak only signed frames, over NATS. Even
so, the answers that make the ingest acknowledge (``ShardCommitted``) and
the publisher release (``Aggregated``) must echo a random nonce from the
request they answer, so a confused or buggy actor cannot make the
constellation acknowledge what no shard committed.

Storage: ``store_dir`` (SQLite, one file per shard) unless ``database_url``
(or ``OMEGA_DATABASE_URL``) names a PostgreSQL database.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..federation.constellation import (
    ConstellationSettings,
    Publishing,
    ShardWriter,
    answer_pull,
    enroll,
    merge_aggregates,
    pull_counter,
    quality_array,
    stored_devices,
)
from ..federation.ingest import DecodedBatch, Device, Ingest, pack_rows, unpack_rows
from ..federation.shard import AGGREGATE
from ..federation.wire import FrameVerdict
from ..runtime import Actor, Address, Refused, emit, handler
from ..storage.constellation import ConstellationStore, open_store
from .sync_messages import (
    PUBLISHER,
    Enroll,
    Enrolled,
    PullFrame,
    PullReply,
    PushFrame,
    PushReply,
)

ROUND_TIMEOUT = 30.0  # seconds a release round waits for a shard before asking it again


def shard_name(shard: int) -> str:
    return f"constellation.shard.{shard}"


@dataclass(frozen=True)
class DeviceKeys:
    """From the ingest to the publisher: a device was enrolled or re-keyed, so its pulls verify at once."""

    device: Device


# Inside the constellation.

@dataclass(frozen=True)
class Flush:
    generation: int


@dataclass(frozen=True)
class ShardAppend:
    batch: int
    shard: int
    rows: bytes  # pack_rows
    nonce: bytes = b""  # echoed in ShardCommitted: only who saw this message can say it was committed


@dataclass(frozen=True)
class ShardCommitted:
    batch: int
    shard: int
    nonce: bytes = b""


@dataclass(frozen=True)
class ShardTimeout:
    batch: int


@dataclass(frozen=True)
class Aggregate:
    round: int
    nonce: bytes = b""


@dataclass(frozen=True)
class Aggregated:
    round: int
    shard: int
    rows: bytes  # AGGREGATE
    nonce: bytes = b""


@dataclass(frozen=True)
class PublishRound:
    """Run a release round now; answered with :class:`Published`."""


@dataclass(frozen=True)
class Published:
    version: int
    patterns: int
    trends: int
    refused: bool


@dataclass(frozen=True)
class PublishTick:
    pass


@dataclass(frozen=True)
class RoundTimeout:
    round: int


@dataclass(frozen=True)
class GetConstellationStats:
    pass


@dataclass(frozen=True)
class ConstellationStats:
    counts: dict[str, int]
    pending: tuple[int, ...] = ()  # batches waiting for a shard's commit (the ingest's)


class _StoreUser(Actor):
    def __init__(self, store_dir: str = "", database_url: str = "", settings: Mapping[str, Any] | None = None) -> None:
        self.settings = ConstellationSettings.from_table(settings or {})
        self.store_dir = store_dir or ".omega/constellation"
        self.database_url = database_url or None
        self.store: ConstellationStore | None = None

    def _open(self) -> ConstellationStore:
        self.store = open_store(self.store_dir, self.database_url)
        return self.store

    def stopping(self, reason: object) -> None:
        if self.store is not None:
            self.store.close()


class ShardActor(_StoreUser):
    """One aggregator shard: its part of each batch, committed before it answers."""

    def __init__(self, shard: int, store_dir: str = "", database_url: str = "", settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(store_dir, database_url, settings)
        self.shard = shard
        self.writer: ShardWriter | None = None

    def started(self) -> None:
        self.writer = ShardWriter(self._open(), self.shard, self.settings.compact_rows)

    @handler
    def append(self, message: ShardAppend) -> ShardCommitted | Refused:
        assert self.writer is not None
        try:
            if not isinstance(message.rows, bytes) or isinstance(message.batch, bool) or not isinstance(message.batch, int):
                raise ValueError("batch is a whole number and rows are bytes")
            rows = unpack_rows(message.rows)
        except ValueError as exc:  # only the ingest sends these; anything else is refused, not a crash
            self.increment("refused")
            emit(logging.WARNING, "shard_append_refused", self.path, reason=str(exc))
            return Refused("ShardAppend", str(exc))
        self.writer.commit(message.batch, rows)  # a batch id stored before is skipped
        return ShardCommitted(message.batch, self.shard, message.nonce)

    @handler
    def aggregate(self, message: Aggregate) -> Aggregated:
        assert self.writer is not None and self.store is not None
        self.writer.compact()
        quality = quality_array(stored_devices(self.store))
        rows = self.writer.state.aggregate(self.settings.weighting, quality)
        return Aggregated(message.round, self.shard, rows.tobytes(), message.nonce)


@dataclass
class _Pending:
    batch: DecodedBatch
    senders: list[tuple[Address | None, str]]  # who sent each frame, and its tag
    parts: dict[int, bytes]  # shard -> packed rows not yet committed
    nonce: bytes = field(default_factory=lambda: secrets.token_bytes(16))


class IngestActor(_StoreUser):
    """Gathers pushes into batches; acknowledges each only after its batch is committed."""

    def __init__(self, store_dir: str = "", database_url: str = "", settings: Mapping[str, Any] | None = None,
                 batch_max: int = 512, batch_wait: float = 0.02, shard_timeout: float = 5.0) -> None:
        super().__init__(store_dir, database_url, settings)
        if not (isinstance(batch_max, int) and batch_max >= 1 and math.isfinite(batch_wait) and batch_wait >= 0
                and math.isfinite(shard_timeout) and shard_timeout > 0):
            raise ConfigError(f"expected batch_max >= 1, batch_wait >= 0 and shard_timeout > 0; "
                              f"got {batch_max!r}, {batch_wait!r}, {shard_timeout!r}")
        self.batch_max, self.batch_wait, self.shard_timeout = batch_max, batch_wait, shard_timeout
        self.ingest = Ingest(cap=self.settings.push_cap)
        self.buffer: list[tuple[bytes, Address | None, str]] = []
        self.generation = 0
        self.timer_armed = False
        self.pending: dict[int, _Pending] = {}
        self.next_batch = time.time_ns()  # unique across restarts: a restarted ingest never reuses a batch id
        self.refreshed = 0.0

    def started(self) -> None:
        store = self._open()
        for device in stored_devices(store):
            self.ingest.add_device(device)
        # Replays are judged against what the shards committed: read their logs once.
        writers = [ShardWriter(store, shard, self.settings.compact_rows) for shard in range(self.settings.shards)]
        self.ingest.recover(writer.state.last_seqs() for writer in writers)

    @handler
    def push(self, message: PushFrame) -> None:
        frame = message.frame if isinstance(message.frame, (bytes, bytearray)) else b""
        tag = message.tag if isinstance(message.tag, str) else ""
        self.buffer.append((bytes(frame), self.sender, tag))
        if len(self.buffer) >= self.batch_max:
            self._flush()
        elif not self.timer_armed:
            self.timer_armed = True
            self.send_after(self.batch_wait, Flush(self.generation))

    @handler
    def flush(self, message: Flush) -> None:
        if message.generation == self.generation:
            self.timer_armed = False
            self._flush()

    def _flush(self) -> None:
        self.generation += 1
        self.timer_armed = False
        if not self.buffer:
            return
        frames, senders, tags = zip(*self.buffer)
        self.buffer = []
        batch = self.ingest.decode(frames)
        self._refresh_unknown(batch, frames)
        self.next_batch += 1
        parts = {shard: pack_rows(rows) for shard, rows in enumerate(batch.by_shard(self.settings.shards)) if len(rows)}
        self.pending[self.next_batch] = _Pending(batch, list(zip(senders, tags)), parts)
        self._send_parts(self.next_batch)
        self._complete_if_done(self.next_batch)

    def _refresh_unknown(self, batch: DecodedBatch, frames: tuple[bytes, ...]) -> None:
        """A device enrolled by another process since we read the store: read it again, at most once a second
        (unknown senders must not be able to make every batch read the whole devices table)."""
        if self.store is None or time.monotonic() < self.refreshed + 1.0:
            return
        if any(outcome.verdict is FrameVerdict.UNKNOWN_DEVICE for outcome in batch.outcomes):
            self.refreshed = time.monotonic()
            known = len(self.ingest.devices)
            for device in stored_devices(self.store):
                self.ingest.add_device(device)
            if len(self.ingest.devices) > known:
                retry = [i for i, o in enumerate(batch.outcomes) if o.verdict is FrameVerdict.UNKNOWN_DEVICE]
                again = self.ingest.decode([frames[i] for i in retry])
                self.ingest.counts[FrameVerdict.UNKNOWN_DEVICE] -= len(retry)
                for i, outcome in zip(retry, again.outcomes):
                    batch.outcomes[i] = outcome
                batch.rows = np.concatenate([batch.rows, again.rows])

    def _send_parts(self, batch: int) -> None:
        pending = self.pending[batch]
        for shard, rows in pending.parts.items():
            self.send_named(shard_name(shard), ShardAppend(batch, shard, rows, pending.nonce))
        if pending.parts:
            self.send_after(self.shard_timeout, ShardTimeout(batch))

    @handler
    def committed(self, message: ShardCommitted) -> None:
        pending = self.pending.get(message.batch)
        if pending is not None and not _same(message.nonce, pending.nonce):
            # An ack before the commit would lose data: only the shard that got the part can answer for it.
            self.increment("refused")
            emit(logging.WARNING, "forged_commit_refused", self.path, batch=message.batch)
            return
        if pending is not None:
            pending.parts.pop(message.shard, None)
            self._complete_if_done(message.batch)

    @handler
    def timed_out(self, message: ShardTimeout) -> None:
        if message.batch in self.pending and self.pending[message.batch].parts:
            emit(logging.WARNING, "shard_batch_resent", self.path, batch=message.batch,
                      shards=sorted(self.pending[message.batch].parts))
            self.increment("shard_resends")
            self._send_parts(message.batch)

    def _complete_if_done(self, batch: int) -> None:
        pending = self.pending.get(batch)
        if pending is None or pending.parts:
            return
        del self.pending[batch]
        for (sender, tag), reply in zip(pending.senders, self.ingest.committed(pending.batch)):
            if sender is not None:
                self.send(sender, PushReply(reply, tag))

    @handler
    def enroll(self, message: Enroll) -> Enrolled | Refused:
        assert self.store is not None
        try:
            device = enroll(self.store, message.device, message.quality)
        except ValueError as exc:
            self.increment("refused")
            return Refused("Enroll", str(exc))
        self.ingest.add_device(device)
        self.send_named(PUBLISHER, DeviceKeys(device))
        return Enrolled(device.name, device.key, self.ingest.last_seq.get(device.index, 0))

    @handler
    def stats(self, message: GetConstellationStats) -> ConstellationStats:
        counts = dict(self.ingest.counts)
        counts["devices"] = len(self.ingest.devices)
        counts["pending_batches"] = len(self.pending)
        return ConstellationStats(counts, tuple(sorted(self.pending)))


class PublisherActor(_StoreUser):
    """Release rounds on a timer (or on request), and the answers to pulls."""

    def __init__(self, store_dir: str = "", database_url: str = "", settings: Mapping[str, Any] | None = None,
                 interval: float = 60.0) -> None:
        super().__init__(store_dir, database_url, settings)
        self.interval = interval
        self.publishing: Publishing | None = None
        self.devices: dict[str, Device] = {}
        self.round = 0
        self.parts: dict[int, np.ndarray] = {}
        self.waiting: list[Address] = []
        self.counts: dict[str, int] = {}
        self.refreshed = 0.0
        self.round_nonce = b""

    def started(self) -> None:
        store = self._open()
        self.publishing = Publishing(store, self.settings)
        self.devices = {d.name: d for d in stored_devices(store)}
        if self.interval > 0:
            self.send_after(self.interval, PublishTick())

    @handler
    def tick(self, message: PublishTick) -> None:
        self._start_round()
        self.send_after(self.interval, PublishTick())

    @handler
    def release_now(self, message: PublishRound) -> None:
        if self.sender is not None:
            self.waiting.append(self.sender)
        self._start_round()

    def _start_round(self) -> None:
        self.round += 1
        self.round_nonce = secrets.token_bytes(16)
        self.parts = {}
        self._ask_shards()

    def _ask_shards(self) -> None:
        for shard in range(self.settings.shards):
            if shard not in self.parts:
                self.send_named(shard_name(shard), Aggregate(self.round, self.round_nonce))
        self.send_after(ROUND_TIMEOUT, RoundTimeout(self.round))

    @handler
    def round_timeout(self, message: RoundTimeout) -> None:
        # A shard that died holding our question never answers: ask the ones missing again.
        if message.round == self.round and len(self.parts) < self.settings.shards:
            self._ask_shards()

    @handler
    def aggregated(self, message: Aggregated) -> None:
        if message.round != self.round or len(self.parts) >= self.settings.shards:
            return  # an answer to a round that a newer one replaced, or one that is complete
        if (not isinstance(message.rows, bytes) or len(message.rows) % AGGREGATE.itemsize
                or message.shard not in range(self.settings.shards) or not _same(message.nonce, self.round_nonce)):
            self.increment("refused")
            return
        self.parts[message.shard] = np.frombuffer(message.rows, AGGREGATE)
        if len(self.parts) < self.settings.shards:
            return
        assert self.publishing is not None
        release = self.publishing.release(merge_aggregates(self.parts.values()))
        answer = (Published(release.version, release.patterns, release.trends, False) if release
                  else Published(self.publishing.publisher.version, 0, 0, True))
        for waiter in self.waiting:
            self.send(waiter, answer)
        self.waiting = []

    @handler
    def device_keys(self, message: DeviceKeys) -> None:
        if isinstance(message.device, Device):
            self.devices[message.device.name] = message.device

    @handler
    def pull(self, message: PullFrame) -> PullReply:
        assert self.store is not None
        frame = message.frame if isinstance(message.frame, (bytes, bytearray)) else b""
        reply, verdict = answer_pull(bytes(frame), self.devices, self.store, self.settings)
        if verdict is FrameVerdict.UNKNOWN_DEVICE and time.monotonic() >= self.refreshed + 1.0:
            # Enrolled since we looked (by another ingest): read the devices again, at most once a second.
            self.refreshed = time.monotonic()
            self.devices = {d.name: d for d in stored_devices(self.store)}
            reply, verdict = answer_pull(bytes(frame), self.devices, self.store, self.settings)
        counter = pull_counter(verdict)
        self.counts[counter] = self.counts.get(counter, 0) + 1
        return PullReply(reply, message.tag if isinstance(message.tag, str) else "")

    @handler
    def stats(self, message: GetConstellationStats) -> ConstellationStats:
        return ConstellationStats(dict(self.counts, bundle_version=self.publishing.publisher.version if self.publishing else 0))


def _same(given: object, expected: bytes) -> bool:
    return isinstance(given, bytes) and len(expected) > 0 and hmac.compare_digest(given, expected)
