"""Pull requests and pull bundles: what a device asks for, and the consolidated patterns it gets back.

A pull request is ``[device, cohort, have]`` (``have`` is the bundle version
the device holds, 0 for none), signed like a push. The answer is a BUNDLE
frame ``[cohort, version, patterns, trends]``, signed with the asking
device's key. The body between the signatures is built once per cohort and
version and is byte-for-byte the same for every device in the cohort, so a
pull reveals nothing about its viewer. When the device already holds the
latest version, ``patterns`` and ``trends`` are nil: a few bytes instead of
five kilobytes.

Records, fixed width (one numpy call to decode):

- a pattern: id (4 bytes), fleet success rate (1 byte, 1/255 steps), and
  support, the number of contributing devices as ``round(8 * log2(n))``
  (1 byte; 255 means about two billion);
- a trend: id (4 bytes) and a score (1 byte, 1/255 steps).

:func:`encode_bundle_body` fills the pull cap (5,120 bytes by default) by
priority: trends first (few, and the freshest signal), then patterns with
the most support. It never emits an oversize frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import numpy as np

from omega_actors.federation.wire import (
    PULL_CAP,
    RATE_STEPS,
    Kind,
    WireError,
    _check_device,
    _decode_body,
    _frame,
    split_frame,
    verify,
)

PATTERN_RECORD = np.dtype([("id", ">u4"), ("rate_q", "u1"), ("support", "u1")])
TREND_RECORD = np.dtype([("id", ">u4"), ("score_q", "u1")])
MAX_COHORT = 64
FRAME_SLACK = 64  # outer array, version, kind, the bin header and the 16-byte MAC, with room to spare


@dataclass(frozen=True, slots=True)
class PullRequest:
    device: str
    cohort: str
    have: int = 0


@dataclass(frozen=True, slots=True)
class Bundle:
    """A decoded bundle: ``patterns`` and ``trends`` map pattern ids to values in [0, 1]; None when unchanged."""

    cohort: str
    version: int
    patterns: dict[int, float] | None
    trends: dict[int, float] | None
    support: dict[int, int] | None = None

    @property
    def unchanged(self) -> bool:
        return self.patterns is None


def support_q(devices: np.ndarray) -> np.ndarray:
    return np.minimum(np.round(8 * np.log2(np.maximum(devices, 1))), 255).astype(np.uint8)


def encode_pull_request(request: PullRequest, key: bytes) -> bytes:
    _check_device(request.device)
    _check_cohort(request.cohort)
    return _frame(Kind.PULL, msgpack.packb([request.device, request.cohort, int(request.have)], use_bin_type=True), key)


def decode_pull_request(body: bytes) -> PullRequest:
    """A verified pull body (verify with the device's key first)."""
    device, cohort, have = _decode_body(body, 3)
    _check_device(device)
    _check_cohort(cohort)
    if isinstance(have, bool) or not isinstance(have, int) or not 0 <= have < 1 << 63:
        raise WireError("range", f"have must be a whole number >= 0; got {have!r}")
    return PullRequest(device, cohort, have)


def pull_device(body: bytes) -> str:
    device = _decode_body(body, 3)[0]
    _check_device(device)
    return str(device)


def encode_bundle_body(cohort: str, version: int, patterns: np.ndarray, trends: np.ndarray,
                       cap: int = PULL_CAP) -> tuple[bytes, int, int]:
    """The cohort's bundle body within ``cap``; also how many patterns and trends fitted.

    ``patterns`` has fields pattern, rate, devices; ``trends`` has pattern, score.
    """
    _check_cohort(cohort)
    budget = cap - FRAME_SLACK - len(msgpack.packb([cohort, version, b"", b""], use_bin_type=True)) - 6
    if budget < 0:
        raise WireError("oversize", f"a pull cap of {cap} bytes leaves no room for records")
    trends = trends[np.lexsort((trends["pattern"], -trends["score"]))][: budget // TREND_RECORD.itemsize]
    budget -= len(trends) * TREND_RECORD.itemsize
    patterns = patterns[np.lexsort((patterns["pattern"], -patterns["devices"].astype(np.int64)))]
    patterns = patterns[: budget // PATTERN_RECORD.itemsize]
    pattern_rows = np.zeros(len(patterns), PATTERN_RECORD)
    pattern_rows["id"] = patterns["pattern"]
    pattern_rows["rate_q"] = np.round(np.clip(patterns["rate"], 0, 1) * RATE_STEPS)
    pattern_rows["support"] = support_q(patterns["devices"])
    trend_rows = np.zeros(len(trends), TREND_RECORD)
    trend_rows["id"] = trends["pattern"]
    trend_rows["score_q"] = np.round(np.clip(trends["score"], 0, 1) * RATE_STEPS)
    body = msgpack.packb([cohort, version, pattern_rows.tobytes(), trend_rows.tobytes()], use_bin_type=True)
    return body, len(pattern_rows), len(trend_rows)


def unchanged_body(cohort: str, version: int) -> bytes:
    return msgpack.packb([cohort, version, None, None], use_bin_type=True)


def bundle_frame(body: bytes, key: bytes, cap: int = PULL_CAP) -> bytes:
    """A prebuilt body, signed for one device."""
    frame = _frame(Kind.BUNDLE, body, key)
    if len(frame) > cap:
        raise WireError("oversize", f"bundle of {len(frame)} bytes exceeds the cap of {cap}")
    return frame


def decode_bundle(frame: bytes, key: bytes, cap: int = PULL_CAP) -> Bundle:
    """What a device reads back after a pull, verified with its own key."""
    kind, body, mac = split_frame(frame, cap)
    verify(kind, body, mac, key)
    if kind is not Kind.BUNDLE:
        raise WireError("kind", f"expected a bundle; got {kind.name}")
    cohort, version, patterns, trends = _decode_body(body, 4)
    _check_cohort(cohort)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise WireError("range", f"bundle version must be a whole number >= 0; got {version!r}")
    if patterns is None and trends is None:
        return Bundle(cohort, version, None, None)
    if not isinstance(patterns, bytes) or not isinstance(trends, bytes):
        raise WireError("malformed", "patterns and trends are bin fields")
    if len(patterns) % PATTERN_RECORD.itemsize or len(trends) % TREND_RECORD.itemsize:
        raise WireError("malformed", "bundle records have the wrong width")
    rows = np.frombuffer(patterns, PATTERN_RECORD)
    trend_rows = np.frombuffer(trends, TREND_RECORD)
    if (rows["rate_q"] > RATE_STEPS).any() or (trend_rows["score_q"] > RATE_STEPS).any():
        raise WireError("range", f"a quantized value above {RATE_STEPS}")
    return Bundle(
        cohort, version,
        {int(i): q / RATE_STEPS for i, q in zip(rows["id"].tolist(), rows["rate_q"].tolist())},
        {int(i): q / RATE_STEPS for i, q in zip(trend_rows["id"].tolist(), trend_rows["score_q"].tolist())},
        {int(i): int(round(2 ** (s / 8))) for i, s in zip(rows["id"].tolist(), rows["support"].tolist())},
    )


def _check_cohort(cohort: object) -> None:
    if not isinstance(cohort, str) or not 1 <= len(cohort) <= MAX_COHORT:
        raise WireError("malformed", f"cohort must be a string of 1-{MAX_COHORT} characters")


__all__ = [
    "Bundle", "PullRequest", "bundle_frame", "decode_bundle", "decode_pull_request", "encode_bundle_body",
    "encode_pull_request", "pull_device", "unchanged_body",
]
