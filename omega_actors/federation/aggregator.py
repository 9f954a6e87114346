"""The constellation's aggregation core: verify, deduplicate, weigh, and release only what k devices share.

:class:`Aggregator` is plain code with an in-memory state. It is idempotent
by construction: each device's latest cumulative statistics replace its
earlier ones, so a replayed push (at-least-once delivery, a retry) changes
nothing and is acknowledged again; a push older than the device's last is
acknowledged and ignored; a gap in sequence numbers is counted but loses
nothing, since the values are cumulative.

Aggregation per pattern is quality-weighted federated averaging: each
device's success rate weighs ``min(trials * quality, max_weight)``, so no
single heavy viewer dominates. ``trim`` > 0 gives the robust alternative,
a weighted mean after dropping that fraction of devices at each end. A
pattern is released only once ``k`` distinct devices contributed to it
(k-anonymity; 50 in production, smaller in tests).

Every refusal is counted by reason (``wire.REASONS``) and answered with a
signed refusal when the device is known; nothing raises out of
:meth:`Aggregator.ingest`.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from omega_actors.federation.wire import (
    PUSH_CAP,
    RATE_STEPS,
    Ack,
    Kind,
    Refusal,
    WireError,
    decode_push_records,
    encode_ack,
    encode_refusal,
    push_device,
    split_frame,
    verify,
)


@dataclass(frozen=True, slots=True)
class Released:
    """One pattern's aggregate, as the publisher may release it."""

    id: int
    rate: float
    devices: int
    weight: float


@dataclass
class Aggregator:
    k: int = 50
    max_weight: float = 100.0
    trim: float = 0.0
    cap: int = PUSH_CAP
    keys: dict[str, bytes] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)  # device -> [0, 1]; 1.0 when unset
    counts: Counter[str] = field(default_factory=Counter)
    _last_seq: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # pattern id -> device -> (trials, rate): each device's latest cumulative values
    _stats: dict[int, dict[str, tuple[int, float]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1 or self.max_weight <= 0 or not 0 <= self.trim < 0.5:
            raise ValueError(f"expected k >= 1, max_weight > 0 and 0 <= trim < 0.5; got {self.k}, {self.max_weight}, {self.trim}")

    def enroll(self, device: str) -> bytes:
        """A new device's key (shown to it once, at enrollment)."""
        key = secrets.token_bytes(32)
        self.keys[device] = key
        return key

    def ingest(self, frame: bytes) -> bytes | None:
        """Apply one push frame; the signed answer for the device, or None when it cannot be told who sent it."""
        device = None
        try:
            kind, body, mac = split_frame(frame, self.cap)
            if kind is not Kind.PUSH:
                raise WireError("kind", f"a device sends pushes; got {kind.name}")
            device = push_device(body)
            key = self.keys.get(device)
            if key is None:
                raise WireError("unknown_device", f"device {device!r} is not enrolled")
            verify(kind, body, mac, key)
            device, seq, records = decode_push_records(body)
        except WireError as exc:
            self.counts[exc.reason] += 1
            known = device is not None and device in self.keys and exc.reason != "signature"
            return encode_refusal(Refusal(exc.reason), self.keys[device]) if known and device else None
        self._apply(device, seq, records)
        return encode_ack(Ack(device, seq), key)

    def _apply(self, device: str, seq: int, records: np.ndarray) -> None:
        last = self._last_seq.get(device, 0)
        if seq <= last:
            self.counts["replay"] += 1
            return
        if seq > last + 1:
            self.counts["gap"] += 1
        self._last_seq[device] = seq
        stats = self._stats
        for ident, trials, rate_q in records.tolist():
            by_device = stats.get(ident)
            if by_device is None:
                by_device = stats[ident] = {}
            by_device[device] = (trials, rate_q / RATE_STEPS)
        self.counts["accepted"] += 1

    def release(self) -> list[Released]:
        """Every pattern k or more devices contributed to, aggregated; the others stay private."""
        released = []
        for ident, by_device in sorted(self._stats.items()):
            if len(by_device) < self.k:
                continue
            released.append(self._aggregate(ident, by_device))
        return released

    def _aggregate(self, ident: int, by_device: Mapping[str, tuple[int, float]]) -> Released:
        entries = sorted(
            (rate, min(trials * self.quality.get(device, 1.0), self.max_weight))
            for device, (trials, rate) in by_device.items()
        )
        cut = int(len(entries) * self.trim)
        kept = entries[cut : len(entries) - cut] or entries
        total = sum(weight for _, weight in kept)
        rate = sum(r * w for r, w in kept) / total if total > 0 else sum(r for r, _ in kept) / len(kept)
        return Released(ident, rate, len(by_device), total)
