"""One aggregator shard's state: a log of committed rows, compacted to each device's latest value per pattern.

The shape is a log-structured merge. A committed batch is appended as it
came (one array, one stored blob), which is what lets ingest keep up with
fan-in. :meth:`ShardState.compact` folds the log into ``table``: rows sorted
by (pattern, device), one per pair, the one with the highest sequence
number. Aggregates are a pure function of that table, so replays,
redeliveries and reordering cannot change them: the same (device, pattern,
seq) folds to the same row however often it arrives.

Aggregation per pattern (:meth:`ShardState.aggregate`), all vectorised:

- weight = min(trials x quality, max_weight): quality-weighted federated
  averaging, clipped so no single heavy viewer dominates;
- ``trim`` > 0: the trimmed mean, dropping that fraction of devices at each
  end of the rates (at least one device is kept);
- only patterns with at least ``k`` distinct devices come out (k-anonymity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omega_actors.federation.ingest import ROW, take
from omega_actors.federation.wire import RATE_STEPS
from omega_actors.settings import finite_number

AGGREGATE = np.dtype([("pattern", "<u4"), ("rate", "<f8"), ("devices", "<u4"), ("weight", "<f8")])


@dataclass(frozen=True, slots=True)
class Weighting:
    k: int = 50
    max_weight: float = 100.0
    trim: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a whole number >= 1; got {self.k!r}")
        if not finite_number(self.max_weight) or not self.max_weight > 0:
            raise ValueError(f"max_weight must be > 0; got {self.max_weight!r}")
        if not finite_number(self.trim) or not 0 <= self.trim < 0.5:
            raise ValueError(f"trim must be in [0, 0.5); got {self.trim!r}")


@dataclass
class ShardState:
    table: np.ndarray = field(default_factory=lambda: np.zeros(0, ROW))
    log: list[np.ndarray] = field(default_factory=list)

    @property
    def pending_rows(self) -> int:
        return sum(len(part) for part in self.log)

    def append(self, rows: np.ndarray) -> None:
        """A committed batch's rows (call after the store committed them)."""
        if rows.dtype != ROW:
            raise TypeError(f"rows must be of dtype ROW; got {rows.dtype}")
        if len(rows):
            self.log.append(rows)

    def compact(self) -> np.ndarray:
        """Fold the log into the table: one row per (pattern, device), the latest by seq."""
        if not self.log:
            return self.table
        rows = np.concatenate([self.table, *self.log])
        pair = (rows["pattern"].astype(np.uint64) << np.uint64(32)) | rows["device"].astype(np.uint64)
        order = np.lexsort((rows["seq"], pair))
        pair = pair[order]
        last = np.r_[pair[1:] != pair[:-1], True]  # the highest seq of each pair comes last
        self.table = take(rows, order[last])
        self.log = []
        return self.table

    def aggregate(self, weighting: Weighting, quality: np.ndarray | None = None) -> np.ndarray:
        """Released patterns as AGGREGATE rows, sorted by pattern id."""
        table = self.compact()
        if not len(table):
            return np.zeros(0, AGGREGATE)
        rate = table["rate_q"].astype(np.float64) / RATE_STEPS
        scale = _quality_of(table["device"], quality)
        weight = np.minimum(table["trials"].astype(np.float64) * scale, weighting.max_weight)
        pattern = table["pattern"]
        starts = np.flatnonzero(np.r_[True, pattern[1:] != pattern[:-1]])
        devices = np.diff(np.r_[starts, len(table)])
        if weighting.trim > 0:
            keep = _trimmed(pattern, rate, weight, starts, devices, weighting.trim)
            rate, weight, pattern = rate[keep], weight[keep], pattern[keep]
            starts = np.flatnonzero(np.r_[True, pattern[1:] != pattern[:-1]])
        total = np.add.reduceat(weight, starts)
        weighted = np.add.reduceat(weight * rate, starts)
        plain = np.add.reduceat(rate, starts) / np.diff(np.r_[starts, len(rate)])
        out = np.zeros(len(starts), AGGREGATE)
        out["pattern"] = pattern[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["rate"] = np.where(total > 0, weighted / np.where(total > 0, total, 1), plain)  # all-zero quality: plain mean
        out["devices"] = devices
        out["weight"] = total
        return out[out["devices"] >= weighting.k]

    def last_seqs(self) -> np.ndarray:
        """Every stored row's (device, seq), for the ingest to recover its sequence numbers."""
        return np.concatenate([self.table, *self.log]) if self.log else self.table


def _quality_of(devices: np.ndarray, quality: np.ndarray | None) -> np.ndarray | float:
    """Each row's device quality; 1.0 for a device enrolled after ``quality`` was read."""
    if quality is None:
        return 1.0
    scale = np.ones(len(devices))
    inside = devices < len(quality)
    scale[inside] = quality[devices[inside]]
    return scale


def _trimmed(pattern: np.ndarray, rate: np.ndarray, weight: np.ndarray, starts: np.ndarray, devices: np.ndarray,
             trim: float) -> np.ndarray:
    """A mask keeping each pattern's rates between its ``trim`` quantiles (by count, never emptying a pattern).

    Equal rates are ordered by weight, so which of them is trimmed (and so the total weight kept)
    depends on neither device ids nor arrival order.
    """
    order = np.lexsort((weight, rate, pattern))
    group = np.repeat(np.arange(len(starts)), devices)
    rank = np.arange(len(rate)) - starts[group]
    cut = np.floor(devices * trim).astype(np.int64)
    cut = np.where(devices - 2 * cut >= 1, cut, 0)[group]
    keep_sorted = (rank >= cut) & (rank < devices[group] - cut)
    keep = np.zeros(len(rate), bool)
    keep[order[keep_sorted]] = True
    return keep
