"""The constellation as plain code in one process: ingest, shards and publisher over one store.

This is what the in-process transport, the benchmark and the tests drive
directly; the supervised constellation (``omega_actors.actors.constellation``)
runs the same parts as separate actors. The order of one :meth:`submit`:

1. decode, verify and check the whole batch (:class:`~.ingest.Ingest`);
2. append each shard's part to the store, one commit per shard per batch;
3. only then move sequence numbers on and sign the acks.

A crash anywhere before step 3 leaves the devices unacknowledged; they push
again, and the shards' latest-by-sequence folding absorbs whatever was
committed twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from omega_actors.errors import ConfigError
from omega_actors.federation.bundle import (
    MAX_COHORT,
    body_pages,
    bundle_frame,
    decode_pull_request,
    pull_device,
    unchanged_body,
)
from omega_actors.federation.ingest import ROW, Device, Ingest, pack_rows, unpack_rows
from omega_actors.federation.publisher import Publisher, PublishSettings, Release
from omega_actors.federation.shard import AGGREGATE, ShardState, Weighting
from omega_actors.federation.wire import (
    MAX_DEVICE_ID,
    PUSH_CAP,
    FrameVerdict,
    Kind,
    Refusal,
    WireError,
    encode_refusal,
    split_frame,
    verify,
)
from omega_actors.settings import check_keys, located
from omega_actors.storage.constellation import ConstellationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConstellationSettings:
    shards: int = 4
    weighting: Weighting = field(default_factory=Weighting)
    publish: PublishSettings = field(default_factory=PublishSettings)
    push_cap: int = PUSH_CAP
    cohort: str = "all"
    compact_rows: int = 2_000_000  # fold a shard's log once it holds this many rows

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or not 1 <= self.shards <= 256:
            raise ValueError(f"shards must be a whole number from 1 to 256; got {self.shards!r}")
        if isinstance(self.push_cap, bool) or not isinstance(self.push_cap, int) or not 64 <= self.push_cap <= 1 << 16:
            raise ValueError(f"push_cap must be a whole number from 64 to 65536; got {self.push_cap!r}")
        if not isinstance(self.compact_rows, int) or self.compact_rows < 1:
            raise ValueError(f"compact_rows must be a whole number >= 1; got {self.compact_rows!r}")
        if not isinstance(self.cohort, str) or not 1 <= len(self.cohort) <= MAX_COHORT:
            raise ValueError(f"cohort must be a string of 1-{MAX_COHORT} characters; got {self.cohort!r}")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], file: str | None = None) -> ConstellationSettings:
        """Settings from one flat table, split into the parts' dataclasses; an error names ``constellation.<key>``."""
        parts: dict[type, dict[str, Any]] = {Weighting: {}, PublishSettings: {}, cls: {}}
        owners = {f.name: part for part in parts for f in fields(part) if f.name not in ("weighting", "publish")}
        with located("constellation", file):
            check_keys(table, sorted(owners))
        for key, value in table.items():
            parts[owners[key]][key] = value
        try:
            weighting = Weighting(**parts[Weighting])
            publish = PublishSettings(**parts[PublishSettings])
            return cls(weighting=weighting, publish=publish, **parts[cls])
        except (ValueError, TypeError) as exc:
            key = next((k for k in table if str(exc).startswith(k)), "?")
            raise ConfigError(str(exc), file=file, key=f"constellation.{key}") from None


class ShardWriter:
    """One shard's durable side: its state, loaded from the store, and commits of batch parts."""

    def __init__(self, store: ConstellationStore, shard: int, compact_rows: int) -> None:
        self.store, self.shard, self.compact_rows = store, shard, compact_rows
        table, logged = store.shard(shard)
        self.state = ShardState(np.frombuffer(table, ROW).copy() if table else np.zeros(0, ROW))
        for _, rows in logged:
            self.state.append(unpack_rows(rows))
        self.through = logged[-1][0] if logged else 0

    def commit(self, batch: int, rows: np.ndarray) -> bool:
        """Store one batch's part (idempotent by ``batch``); False when it was stored before."""
        position = self.store.append(self.shard, batch, pack_rows(rows))
        if position is None:
            return False
        self.state.append(rows)
        self.through = position
        if self.state.pending_rows >= self.compact_rows:
            self.compact()
        return True

    def compact(self) -> None:
        if self.state.log:
            self.store.replace_table(self.shard, self.state.compact().tobytes(), self.through)


def quality_array(devices: Iterable[Device]) -> np.ndarray:
    devices = list(devices)
    quality = np.ones(max((d.index for d in devices), default=0) + 1)
    for device in devices:
        quality[device.index] = device.quality
    return quality


def stored_devices(store: ConstellationStore) -> list[Device]:
    return [Device(name, index, key, quality) for name, index, key, quality in store.devices()]


def pull_counter(verdict: FrameVerdict) -> str:
    """The counter a pull's verdict is counted under: ``pulls``, or ``pull_<reason>``."""
    return "pulls" if verdict is FrameVerdict.ACCEPTED else f"pull_{verdict}"


def answer_pull(frame: bytes, devices: Mapping[str, Device], store: ConstellationStore,
                settings: ConstellationSettings) -> tuple[bytes | None, FrameVerdict]:
    """One pull request's signed answer (None: the sender cannot be told) and what became of it."""
    device: Device | None = None
    try:
        kind, body, mac = split_frame(frame, settings.push_cap)
        if kind is not Kind.PULL:
            raise WireError(FrameVerdict.KIND, f"expected a pull; got {kind.name}")
        device = devices.get(pull_device(body))
        if device is None:
            raise WireError(FrameVerdict.UNKNOWN_DEVICE, "not enrolled")
        verify(kind, body, mac, device.key)
        request = decode_pull_request(body)
        if request.cohort != settings.cohort:
            raise WireError(FrameVerdict.RANGE, f"unknown cohort {request.cohort!r}")
        stored = store.bundle(page_key(request.cohort, request.page))
        if stored is None:
            raise WireError(FrameVerdict.UNAVAILABLE if request.page == 0 else FrameVerdict.RANGE, f"no page {request.page} published")
        version, bundle_body = stored
        if request.have == version:
            bundle_body = unchanged_body(request.cohort, version, request.page, body_pages(bundle_body))
        body = bundle_body
        # A bundle stored under a larger pull cap than today's is refused here, not sent oversize.
        return bundle_frame(body, device.key, settings.publish.pull_cap), FrameVerdict.ACCEPTED
    except WireError as exc:
        if device is None or exc.reason is FrameVerdict.SIGNATURE:
            return None, exc.reason
        return encode_refusal(Refusal(exc.reason), device.key), exc.reason


class Publishing:
    """The publisher's durable side: its version, trend baselines and privacy budget, kept in the store."""

    def __init__(self, store: ConstellationStore, settings: ConstellationSettings) -> None:
        self.store, self.settings = store, settings
        self.publisher = Publisher(settings.publish)
        stored = store.bundle(settings.cohort)
        self.publisher.version = stored[0] if stored else 0
        self.publisher.trends.load(store.state("trends"))
        self.publisher.budget.load(store.state("privacy_spent"))

    def release(self, aggregates: np.ndarray) -> Release | None:
        release = self.publisher.release(aggregates, self.settings.cohort, self.settings.weighting.max_weight)
        self.store.put_state("privacy_spent", self.publisher.budget.to_bytes())
        if release is not None:
            self.store.put_state("trends", self.publisher.trends.to_bytes())
            # Later pages first: a device that reads the new page 0 finds every page it names.
            for page in range(len(release.bodies) - 1, -1, -1):
                self.store.put_bundle(page_key(self.settings.cohort, page), release.version, release.bodies[page])
        return release


def page_key(cohort: str, page: int) -> str:
    """Where a page is stored: page 0 under the cohort's name (what a single-page release always was)."""
    return cohort if page == 0 else f"{cohort}#{page}"


def merge_aggregates(parts: Iterable[np.ndarray]) -> np.ndarray:
    """Shards' aggregates (disjoint pattern sets) as one array sorted by pattern."""
    merged = np.concatenate([np.zeros(0, AGGREGATE), *parts])
    return merged[np.argsort(merged["pattern"], kind="stable")]


class Constellation:
    def __init__(self, store: ConstellationStore, settings: ConstellationSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ConstellationSettings()
        self.ingest = Ingest(cap=self.settings.push_cap)
        self.counts: Counter[str] = Counter()
        self._batch = time.time_ns()  # batch ids: unique across restarts of this process
        for device in stored_devices(store):
            self.ingest.add_device(device)
        self._quality = quality_array(self.ingest.devices.values())
        self.shards = [ShardWriter(store, shard, self.settings.compact_rows) for shard in range(self.settings.shards)]
        self.ingest.recover(writer.state.last_seqs() for writer in self.shards)
        self.publishing = Publishing(store, self.settings)

    def enroll(self, name: str, quality: float = 1.0, key: bytes | None = None) -> bytes:
        """The device's key (given to it once, at enrollment); a fresh one unless provisioned."""
        device = enroll(self.store, name, quality, key)
        self.ingest.add_device(device)
        if device.index >= len(self._quality):  # grown by doubling: enrolling a fleet stays linear
            grown = np.ones(max(device.index + 1, 2 * len(self._quality)))
            grown[: len(self._quality)] = self._quality
            self._quality = grown
        self._quality[device.index] = device.quality
        return device.key

    def submit(self, frames: Sequence[bytes]) -> list[bytes | None]:
        """One batch of push frames: committed, then answered (an ack, a refusal, or None for an unknown sender)."""
        batch = self.ingest.decode(frames)
        self._batch += 1
        for writer, rows in zip(self.shards, batch.by_shard(self.settings.shards)):
            if len(rows):
                writer.commit(self._batch, rows)
        for outcome in batch.outcomes:
            if outcome.verdict not in (FrameVerdict.ACCEPTED, FrameVerdict.REPLAY):  # counted by the ingest
                log.info("refused a push (%s) from %s", outcome.verdict, outcome.device.name if outcome.device else "an unknown sender")
        return self.ingest.committed(batch)

    def compact(self) -> None:
        for writer in self.shards:
            writer.compact()

    def aggregates(self) -> np.ndarray:
        return merge_aggregates(writer.state.aggregate(self.settings.weighting, self._quality) for writer in self.shards)

    def publish(self) -> Release | None:
        """One release round: aggregate, detect trends, add noise if configured, store the new bundle."""
        self.compact()
        return self.publishing.release(self.aggregates())

    def pull(self, frame: bytes) -> bytes | None:
        reply, verdict = answer_pull(frame, self.ingest.devices, self.store, self.settings)
        self.counts[pull_counter(verdict)] += 1
        return reply

    def stats(self) -> dict[str, int]:
        counts = Counter(self.ingest.counts)
        counts.update(self.counts)
        counts["devices"] = len(self.ingest.devices)
        counts["bundle_version"] = self.publishing.publisher.version
        counts["privacy_refused"] = self.publishing.publisher.refused
        return dict(counts)


def enroll(store: ConstellationStore, name: str, quality: float = 1.0, key: bytes | None = None) -> Device:
    """Enroll a device with a fresh key (given to it once), or with a provisioned 32-byte one."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_DEVICE_ID:
        raise ValueError(f"a device name is a string of 1-{MAX_DEVICE_ID} characters; got {name!r}")
    if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not 0.0 <= quality <= 1.0:
        raise ValueError(f"quality must be a number in [0, 1]; got {quality!r}")
    if key is None:
        key = secrets.token_bytes(32)
    elif not isinstance(key, bytes) or len(key) != 32:
        raise ValueError("a provisioned key is 32 bytes")
    return Device(name, store.enroll(name, key, float(quality)), key, float(quality))
