"""Pull requests and pull bundles: what a device asks for, and the consolidated patterns it gets back.

A pull request is ``[device, cohort, have, page]`` (``have`` is the version
of that page the device holds, 0 for none), signed like a push. The answer
is a BUNDLE frame ``[cohort, version, patterns, trends, page, pages, lo, hi]``,
signed with the asking device's key. The body between the signatures is
built once per cohort, version and page and is byte-for-byte the same for
every device in the cohort, so a pull reveals nothing about its viewer. When
the device already holds the latest version of the page, ``patterns`` and
``trends`` are nil: a few bytes instead of five kilobytes.

Pages. One release is ``pages`` bodies, each under the pull cap:

- page 0, the headline: the trends, then the best-supported patterns (what
  a TV needs first, and all that a small release has);
- pages 1 and on: every released pattern, in id order, cut where the cap
  falls; page ``p`` says it holds *all* released ids in ``[lo, hi)``, so a
  device replaces that range of its table with it. The co-watch patterns
  (items and pairs of items, see :mod:`omega_actors.brain.cowatch`) travel
  this way: far more than one cap, and a device pulls one page per sync.

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
    FrameVerdict,
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
MAX_PAGES = 4096  # 20 MB of patterns at the default cap: far past any cohort's release
FRAME_SLACK = 64  # outer array, version, kind, the bin header and the 16-byte MAC, with room to spare


@dataclass(frozen=True, slots=True)
class PullRequest:
    device: str
    cohort: str
    have: int = 0
    page: int = 0


@dataclass(frozen=True, slots=True)
class Bundle:
    """A decoded bundle page: ``patterns`` and ``trends`` map pattern ids to values in [0, 1]; None when unchanged.

    ``records`` is the page's pattern records as one array (id, rate_q, support), for a table that
    takes the range ``[lo, hi)`` of a page 1 and on.
    """

    cohort: str
    version: int
    patterns: dict[int, float] | None
    trends: dict[int, float] | None
    support: dict[int, int] | None = None
    page: int = 0
    pages: int = 1
    lo: int = 0
    hi: int = 0
    records: np.ndarray | None = None

    @property
    def unchanged(self) -> bool:
        return self.patterns is None


def support_q(devices: np.ndarray) -> np.ndarray:
    return np.minimum(np.round(8 * np.log2(np.maximum(devices, 1))), 255).astype(np.uint8)


def support_of(step: np.ndarray) -> np.ndarray:
    """The device count a support byte stands for (within about 4.5%)."""
    return np.round(2.0 ** (step.astype(np.float64) / 8))


def encode_pull_request(request: PullRequest, key: bytes) -> bytes:
    _check_device(request.device)
    _check_cohort(request.cohort)
    fields = [request.device, request.cohort, int(request.have), int(request.page)]
    return _frame(Kind.PULL, msgpack.packb(fields, use_bin_type=True), key)


def decode_pull_request(body: bytes) -> PullRequest:
    """A verified pull body (verify with the device's key first)."""
    device, cohort, have, page = _decode_body(body, 4)
    _check_device(device)
    _check_cohort(cohort)
    if isinstance(have, bool) or not isinstance(have, int) or not 0 <= have < 1 << 63:
        raise WireError(FrameVerdict.RANGE, f"have must be a whole number >= 0; got {have!r}")
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page < MAX_PAGES:
        raise WireError(FrameVerdict.RANGE, f"page must be a whole number from 0 to {MAX_PAGES - 1}; got {page!r}")
    return PullRequest(device, cohort, have, page)


def pull_device(body: bytes) -> str:
    device = _decode_body(body, 4)[0]
    _check_device(device)
    return str(device)


def encode_bundle_body(cohort: str, version: int, patterns: np.ndarray, trends: np.ndarray,
                       cap: int = PULL_CAP, pages: int = 1) -> tuple[bytes, int, int]:
    """The cohort's headline page (page 0) within ``cap``; also how many patterns and trends fitted.

    ``patterns`` has fields pattern, rate, devices; ``trends`` has pattern, score.
    """
    _check_cohort(cohort)
    budget = _record_budget(cohort, version, cap)
    trends = trends[np.lexsort((trends["pattern"], -trends["score"]))][: budget // TREND_RECORD.itemsize]
    budget -= len(trends) * TREND_RECORD.itemsize
    patterns = patterns[np.lexsort((patterns["pattern"], -patterns["devices"].astype(np.int64)))]
    patterns = patterns[: budget // PATTERN_RECORD.itemsize]
    pattern_rows = _pattern_records(patterns)
    trend_rows = np.zeros(len(trends), TREND_RECORD)
    trend_rows["id"] = trends["pattern"]
    trend_rows["score_q"] = np.round(np.clip(trends["score"], 0, 1) * RATE_STEPS)
    body = msgpack.packb([cohort, version, pattern_rows.tobytes(), trend_rows.tobytes(), 0, pages, 0, 0],
                         use_bin_type=True)
    return body, len(pattern_rows), len(trend_rows)


def encode_pages(cohort: str, version: int, patterns: np.ndarray, cap: int = PULL_CAP) -> list[bytes]:
    """Pages 1 and on: every pattern in id order, cut to fit ``cap``; ranges tile [0, 2**32) with no gap.

    Page numbers in the bodies assume page 0 comes first, so the total is ``len(result) + 1``.
    """
    _check_cohort(cohort)
    ordered = patterns[np.argsort(patterns["pattern"], kind="stable")]
    per_page = page_capacity(cohort, version, cap)
    # An empty release is one empty page over every id: it clears what devices held.
    chunks = [ordered[start:start + per_page] for start in range(0, len(ordered), per_page)] or [ordered]
    if len(chunks) + 1 > MAX_PAGES:
        raise WireError(FrameVerdict.OVERSIZE, f"{len(ordered)} patterns need more than {MAX_PAGES} pages")
    bounds = [0] + [int(chunk["pattern"][0]) for chunk in chunks[1:]] + [1 << 32]
    return [
        msgpack.packb([cohort, version, _pattern_records(chunk).tobytes(), b"", page + 1, len(chunks) + 1,
                       bounds[page], bounds[page + 1]], use_bin_type=True)
        for page, chunk in enumerate(chunks)
    ]


def page_capacity(cohort: str, version: int, cap: int = PULL_CAP) -> int:
    """Pattern records one page holds under ``cap``."""
    return max(_record_budget(cohort, version, cap) // PATTERN_RECORD.itemsize, 1)


def unchanged_body(cohort: str, version: int, page: int = 0, pages: int = 1) -> bytes:
    return msgpack.packb([cohort, version, None, None, page, pages, 0, 0], use_bin_type=True)


def body_pages(body: bytes) -> int:
    """How many pages the release of a stored body has (read from the constellation's own store)."""
    pages = msgpack.unpackb(body, raw=False)[5]
    return int(pages)


def _record_budget(cohort: str, version: int, cap: int) -> int:
    header = len(msgpack.packb([cohort, version, b"", b"", MAX_PAGES, MAX_PAGES, 1 << 32, 1 << 32], use_bin_type=True))
    budget = cap - FRAME_SLACK - header - 6  # the two bin headers may grow by 3 bytes each
    if budget < 0:
        raise WireError(FrameVerdict.OVERSIZE, f"a pull cap of {cap} bytes leaves no room for records")
    return budget


def _pattern_records(patterns: np.ndarray) -> np.ndarray:
    rows = np.zeros(len(patterns), PATTERN_RECORD)
    rows["id"] = patterns["pattern"]
    rows["rate_q"] = np.round(np.clip(patterns["rate"], 0, 1) * RATE_STEPS)
    rows["support"] = support_q(patterns["devices"])
    return rows


def bundle_frame(body: bytes, key: bytes, cap: int = PULL_CAP) -> bytes:
    """A prebuilt body, signed for one device."""
    frame = _frame(Kind.BUNDLE, body, key)
    if len(frame) > cap:
        raise WireError(FrameVerdict.OVERSIZE, f"bundle of {len(frame)} bytes exceeds the cap of {cap}")
    return frame


def decode_bundle(frame: bytes, key: bytes, cap: int = PULL_CAP) -> Bundle:
    """What a device reads back after a pull, verified with its own key."""
    kind, body, mac = split_frame(frame, cap)
    verify(kind, body, mac, key)
    if kind is not Kind.BUNDLE:
        raise WireError(FrameVerdict.KIND, f"expected a bundle; got {kind.name}")
    cohort, version, patterns, trends, page, pages, lo, hi = _decode_body(body, 8)
    _check_cohort(cohort)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise WireError(FrameVerdict.RANGE, f"bundle version must be a whole number >= 0; got {version!r}")
    _check_page(page, pages, lo, hi)
    if patterns is None and trends is None:
        return Bundle(cohort, version, None, None, page=page, pages=pages)
    if not isinstance(patterns, bytes) or not isinstance(trends, bytes):
        raise WireError(FrameVerdict.MALFORMED, "patterns and trends are bin fields")
    if len(patterns) % PATTERN_RECORD.itemsize or len(trends) % TREND_RECORD.itemsize:
        raise WireError(FrameVerdict.MALFORMED, "bundle records have the wrong width")
    rows = np.frombuffer(patterns, PATTERN_RECORD)
    trend_rows = np.frombuffer(trends, TREND_RECORD)
    if (rows["rate_q"] > RATE_STEPS).any() or (trend_rows["score_q"] > RATE_STEPS).any():
        raise WireError(FrameVerdict.RANGE, f"a quantized value above {RATE_STEPS}")
    if page > 0 and len(rows) and ((rows["id"][1:] <= rows["id"][:-1]).any() or rows["id"][0] < lo or rows["id"][-1] >= hi):
        raise WireError(FrameVerdict.MALFORMED, "a page's records must be in ascending id order inside its range")
    if page == 0 and len(np.unique(rows["id"])) != len(rows):
        raise WireError(FrameVerdict.DUPLICATE_PATTERN, "a pattern id appears twice in the headline page")
    if page > 0:  # a table page: read as one array, not as dicts of a thousand entries
        return Bundle(cohort, version, {}, {}, {}, page, pages, lo, hi, rows)
    return Bundle(
        cohort, version,
        {int(i): q / RATE_STEPS for i, q in zip(rows["id"].tolist(), rows["rate_q"].tolist())},
        {int(i): q / RATE_STEPS for i, q in zip(trend_rows["id"].tolist(), trend_rows["score_q"].tolist())},
        {int(i): int(s) for i, s in zip(rows["id"].tolist(), support_of(rows["support"]).tolist())},
        page, pages, lo, hi, rows,
    )


def _check_page(page: object, pages: object, lo: object, hi: object) -> None:
    numbers = (page, pages, lo, hi)
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        raise WireError(FrameVerdict.MALFORMED, "page, pages, lo and hi are whole numbers")
    assert isinstance(page, int) and isinstance(pages, int) and isinstance(lo, int) and isinstance(hi, int)
    if not (1 <= pages <= MAX_PAGES and 0 <= page < pages and 0 <= lo <= hi <= 1 << 32):
        raise WireError(FrameVerdict.RANGE, f"page {page} of {pages} over [{lo}, {hi}) is not a page")


def _check_cohort(cohort: object) -> None:
    if not isinstance(cohort, str) or not 1 <= len(cohort) <= MAX_COHORT:
        raise WireError(FrameVerdict.MALFORMED, f"cohort must be a string of 1-{MAX_COHORT} characters")


__all__ = [
    "Bundle", "PullRequest", "body_pages", "bundle_frame", "decode_bundle", "decode_pull_request",
    "encode_bundle_body", "encode_pages", "encode_pull_request", "page_capacity", "pull_device", "support_of", "unchanged_body",
]
