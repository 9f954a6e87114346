"""What a device pushes: its successful patterns that changed since the last ack, by priority, within the cap.

:class:`PushBuilder` is the device side of the protocol, with no I/O. It
takes the brain's skill statistics, keeps only patterns whose success rate
is above the threshold (0.8 by default: only what works leaves the TV), and
drops those the constellation already acknowledged with the same values.
When more changed than fits in 1,024 bytes, the ones with the most trials
go first; the rest wait for the next push. A pattern whose trials pass
65,535 travels as 65,535 (the aggregator clips weights far below that).

Statistics are cumulative, so pending pushes need no queue: while a device
is offline, the next push simply carries the latest values, and a push that
was never acknowledged is superseded by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from omega_actors.federation.wire import (
    MAX_TRIALS,
    PUSH_CAP,
    RECORD,
    Ack,
    FrameVerdict,
    PatternStat,
    Push,
    WireError,
    encode_push,
    pattern_id,
    push_overhead,
    quantize,
)


@dataclass(frozen=True, slots=True)
class LocalPattern:
    """One pattern as the brain knows it: "daypart|mood|genre", trials and successes.

    ``ident`` is the id when the brain computed it itself (co-watch items and pairs); ``key`` is then unused.
    """

    key: str
    trials: int
    successes: int
    ident: int | None = None

    @property
    def id(self) -> int:
        return pattern_id(self.key) if self.ident is None else self.ident

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass
class PushBuilder:
    device: str
    key: bytes
    threshold: float = 0.8
    cap: int = PUSH_CAP
    seq: int = 0
    acked: dict[int, tuple[int, int]] = field(default_factory=dict)  # pattern id -> (trials, rate_q) acknowledged
    in_flight: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)  # seq -> what it carried

    def build(self, patterns: Iterable[LocalPattern]) -> bytes | None:
        """The next signed push frame, or None when nothing changed."""
        chosen = self._fit(self._changed(patterns))
        if not chosen:
            return None
        self.seq += 1
        self.in_flight[self.seq] = {stat.id: (stat.trials, stat.rate_q) for stat in chosen}
        return encode_push(Push(self.device, self.seq, tuple(chosen)), self.key, self.cap)

    def acknowledged(self, ack: Ack) -> None:
        """The constellation committed push ``ack.seq``: its values need not travel again."""
        if ack.device != self.device:
            raise WireError(FrameVerdict.UNKNOWN_DEVICE, f"an ack for {ack.device!r} reached {self.device!r}")
        carried = self.in_flight.pop(ack.seq, None)
        if carried:
            self.acked.update(carried)
        # Older pushes still in flight were superseded by this one's cumulative values.
        for seq in [s for s in self.in_flight if s < ack.seq]:
            del self.in_flight[seq]

    def _changed(self, patterns: Iterable[LocalPattern]) -> list[PatternStat]:
        by_id: dict[int, PatternStat] = {}
        for pattern in patterns:
            if pattern.trials < 1 or pattern.rate <= self.threshold:
                continue
            stat = PatternStat(pattern.id, min(pattern.trials, MAX_TRIALS), quantize(pattern.rate))
            # Two keys with one 4-byte id (rare): a push may carry an id once, so the better-evidenced wins.
            if stat.id not in by_id or stat.trials > by_id[stat.id].trials:
                by_id[stat.id] = stat
        return [stat for stat in by_id.values() if self.acked.get(stat.id) != (stat.trials, stat.rate_q)]

    def _fit(self, changed: list[PatternStat]) -> list[PatternStat]:
        """Most trials first, until the next record would pass the cap (measured, not estimated)."""
        budget = self.cap - push_overhead(self.device, self.seq + 1) - 2  # the bin headers may grow by 2 bytes
        fits = max(budget // RECORD.itemsize, 0)
        return sorted(changed, key=lambda s: (-s.trials, s.id))[:fits]
