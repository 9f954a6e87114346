"""A device's side of sync, as a pure state machine: when to sync, what to push, what a pull means.

:class:`SyncSession` does no I/O and reads no clock: callers pass ``now``
(the runtime's clock, so a simulation can compress time) and carry frames
over whatever link they have. One sync is a push (if anything changed) then
a pull; :meth:`SyncSession.finish` schedules the next one:

- after a success, a jittered interval (5-15 minutes by default), so a
  fleet that booted together does not sync together;
- after a failure (no answer, a refusal, a bad reply), exponential backoff
  from ``backoff_base`` up to ``backoff_max``, with full jitter.

Offline, nothing piles up: statistics are cumulative, so the next push
carries the latest values of everything not yet acknowledged, and at most
``max_in_flight`` unacknowledged pushes are remembered (older ones are
superseded by newer ones anyway).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from omega_actors.errors import ConfigError
from omega_actors.federation.bundle import (
    Bundle,
    PullRequest,
    decode_bundle,
    encode_pull_request,
)
from omega_actors.federation.encoder import LocalPattern, PushBuilder
from omega_actors.federation.wire import (
    PULL_CAP,
    PUSH_CAP,
    Ack,
    FrameVerdict,
    WireError,
    decode_reply,
    pattern_id,
)
from omega_actors.settings import finite_number


@dataclass(frozen=True, slots=True)
class SyncSettings:
    interval_min: float = 300.0
    interval_max: float = 900.0
    threshold: float = 0.8
    push_cap: int = PUSH_CAP
    pull_cap: int = PULL_CAP
    timeout: float = 5.0
    backoff_base: float = 5.0
    backoff_max: float = 900.0
    max_in_flight: int = 8
    cohort: str = "all"

    def __post_init__(self) -> None:
        def positive(value: object) -> bool:
            return finite_number(value) and value > 0  # type: ignore[operator]

        checks = (
            ("interval_min", positive(self.interval_min), "a number of seconds > 0"),
            ("interval_max", positive(self.interval_max) and (not positive(self.interval_min) or self.interval_max >= self.interval_min),
             "a number of seconds >= interval_min"),
            ("threshold", finite_number(self.threshold) and 0 <= self.threshold < 1, "a number in [0, 1)"),
            ("push_cap", isinstance(self.push_cap, int) and 64 <= self.push_cap <= 1 << 16, "a whole number from 64 to 65536"),
            ("pull_cap", isinstance(self.pull_cap, int) and 256 <= self.pull_cap <= 1 << 20, "a whole number from 256 to 1048576"),
            ("timeout", positive(self.timeout), "a number of seconds > 0"),
            ("backoff_base", positive(self.backoff_base), "a number of seconds > 0"),
            ("backoff_max", positive(self.backoff_max) and (not positive(self.backoff_base) or self.backoff_max >= self.backoff_base),
             "a number of seconds >= backoff_base"),
            ("max_in_flight", isinstance(self.max_in_flight, int) and self.max_in_flight >= 1, "a whole number >= 1"),
            ("cohort", isinstance(self.cohort, str) and 1 <= len(self.cohort) <= 64, "a string of 1-64 characters"),
        )
        for name, ok, accepted in checks:
            if not ok:
                raise ConfigError(f"expected {accepted}; got {getattr(self, name)!r}", key=name)


@dataclass
class SyncSession:
    device: str
    key: bytes
    settings: SyncSettings = field(default_factory=SyncSettings)
    rng: random.Random = field(default_factory=random.Random)
    due: float = 0.0
    failures: int = 0
    bundle_version: int = 0  # of page 0, the headline
    counts: dict[str, int] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)  # page -> the version of it this device holds
    pages: int = 1  # in the latest release seen
    latest: int = 0  # the newest version any answer mentioned
    cursor: int = -1  # the page asked for last: the next stale one after it comes next
    acked_seq: int = 0  # the push the last ack was for (a late one may be older than others acked)
    builder: PushBuilder = field(init=False)

    def __post_init__(self) -> None:
        self.builder = PushBuilder(self.device, self.key, self.settings.threshold, self.settings.push_cap)

    def is_due(self, now: float) -> bool:
        return now >= self.due

    def push_frame(self, patterns: Iterable[LocalPattern]) -> bytes | None:
        frame = self.builder.build(patterns)
        if frame is not None:
            self._count("pushes")
            self._count("push_bytes", len(frame))
            while len(self.builder.in_flight) > self.settings.max_in_flight:
                del self.builder.in_flight[min(self.builder.in_flight)]  # superseded by the newer, cumulative ones
        return frame

    def on_push_reply(self, reply: bytes | None) -> bool | None:
        """True when the last push was acknowledged; False when it failed (refused, no answer, a bad reply);
        None for a late answer to an earlier push, which is applied but does not end this one."""
        if reply is None:
            self._count("push_unanswered")
            return False
        try:
            answer = decode_reply(reply, self.key)
            if isinstance(answer, Ack):
                self.builder.acknowledged(answer)
                self.acked_seq = answer.seq
        except WireError as exc:
            self._count(f"bad_reply_{exc.reason}")
            return False
        if isinstance(answer, Ack):
            return True if answer.seq == self.builder.seq else None
        self._count(f"refused_{answer.reason}")
        if answer.reason is FrameVerdict.REPLAY:
            # Our count fell behind the constellation's (a reset, a restore): jump past it. The values stay
            # pending, since a replay is never taken as committed, and go again under the next number.
            self.builder.seq = max(self.builder.seq, answer.seq)
        return False

    def pull_frame(self) -> bytes:
        """One page per pull: the next page older than the newest release, or page 0 to hear of news."""
        page = self.cursor = self.next_page()
        request = PullRequest(self.device, self.settings.cohort, self.held.get(page, 0), page)
        return encode_pull_request(request, self.key)

    def next_page(self) -> int:
        """The next page after the last one asked for that is older than the newest release; page 0 when none is.

        Walking on from the last page (not from page 0) matters: releases come more often than syncs, and
        a device that started over at page 0 after each one would never reach the last pages.
        """
        for step in range(1, self.pages + 1):
            page = (self.cursor + step) % self.pages
            if self.held.get(page, 0) < self.latest:
                return page
        return 0

    @property
    def caught_up(self) -> bool:
        """Every page of the newest release seen is held (a device that never pulled is not caught up)."""
        return self.latest > 0 and all(self.held.get(page, 0) >= self.latest for page in range(self.pages))

    def on_pull_reply(self, reply: bytes | None) -> Bundle | None:
        """A new bundle to apply, or None (unchanged, refused, unanswered or bad: see ``counts``)."""
        if reply is None:
            self._count("pull_unanswered")
            self._start_over()
            return None
        try:
            bundle = decode_bundle(reply, self.key, self.settings.pull_cap)
        except WireError as exc:
            self._start_over()  # a page refused or unreadable: ask page 0 next, which always names the release
            try:
                refusal = decode_reply(reply, self.key)
                self._count(f"pull_refused_{getattr(refusal, 'reason', 'ack')}")
            except WireError:
                self._count(f"bad_bundle_{exc.reason}")
            return None
        self._count("pull_bytes", len(reply))
        if bundle.page == 0 and bundle.version < self.latest:
            # The constellation's versions went back (a restored store): what we hold is of another history.
            self.held.clear()
            self.latest = self.bundle_version = 0
        self.latest = max(self.latest, bundle.version)
        if bundle.version == self.latest:
            self.pages = bundle.pages
        if bundle.unchanged or bundle.version <= self.held.get(bundle.page, 0):
            self.held[bundle.page] = max(self.held.get(bundle.page, 0), bundle.version)
            return None
        self.held[bundle.page] = bundle.version
        if bundle.page == 0:
            self.bundle_version = bundle.version
        return bundle

    def _start_over(self) -> None:
        self.cursor = -1
        self.pages = 1

    def finish(self, now: float, ok: bool) -> float:
        """Schedule the next sync; returns its time."""
        if ok:
            self.failures = 0
            delay = self.rng.uniform(self.settings.interval_min, self.settings.interval_max)
        else:
            self.failures += 1
            ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** min(self.failures - 1, 30))
            delay = self.rng.uniform(self.settings.backoff_base / 2, ceiling)
        self.due = now + delay
        return self.due

    def _count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


def bundle_tables(bundle: Bundle, keys: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
    """A bundle's patterns and trends by the keys this device knows ("daypart|mood|genre").

    Ids are hashes, so the device maps them back through its own vocabulary;
    patterns for keys it has never met stay unread.
    """
    by_id = {pattern_id(key): key for key in keys}
    rates = {by_id[i]: rate for i, rate in (bundle.patterns or {}).items() if i in by_id}
    trends = {by_id[i]: score for i, score in (bundle.trends or {}).items() if i in by_id}
    return rates, trends
