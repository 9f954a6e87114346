"""The publisher's logic: trends over released rates, optional differential privacy, versioned bundle bodies.

- :class:`TrendDetector`: per pattern, an exponentially weighted moving
  baseline of its released fleet rate. A pattern trends when its rate rises
  at least ``min_rise`` over that baseline, after ``warmup`` rounds; its
  score is the rise over ``rise_scale``, clipped to [0, 1].
- :class:`PrivacyBudget`: with ``epsilon`` set, each release adds Laplace
  noise to every released rate, scaled to one device's largest influence
  on it (``max_weight / total weight``), and spends ``epsilon``. A release
  that would take the total past ``max_epsilon`` is refused, and TVs keep
  the last bundle. What this guarantees, exactly: ``epsilon`` per pattern
  per release. One device contributes to many patterns (up to the ~140 of a
  push), so by basic composition its loss in one round can reach ``m *
  epsilon`` for its ``m`` released patterns; the support counts and which
  patterns pass ``k`` are released without noise, and the noise scale uses
  the (unnoised) total weight. A per-device guarantee needs a cap on
  patterns per device per round and noised counts; that is not built.
- :class:`Publisher`: one release round, from the shards' aggregates to a
  bundle body under the pull cap.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field

import numpy as np

from omega_actors.federation.bundle import (
    MAX_PAGES,
    encode_bundle_body,
    encode_pages,
    page_capacity,
)
from omega_actors.federation.shard import AGGREGATE
from omega_actors.federation.wire import PULL_CAP
from omega_actors.settings import finite_number

TREND = np.dtype([("pattern", "<u4"), ("score", "<f8")])
_BASELINE = np.dtype([("pattern", "<u4"), ("baseline", "<f8"), ("rounds", "<u4")])


@dataclass(frozen=True, slots=True)
class PublishSettings:
    alpha: float = 0.3
    min_rise: float = 0.05
    rise_scale: float = 0.25
    warmup: int = 3
    epsilon: float | None = None  # per release; None: no noise
    max_epsilon: float = 10.0
    pull_cap: int = PULL_CAP

    def __post_init__(self) -> None:
        checks = (
            ("alpha", finite_number(self.alpha) and 0 < self.alpha <= 1, "in (0, 1]"),
            ("min_rise", finite_number(self.min_rise) and 0 <= self.min_rise < 1, "in [0, 1)"),
            ("rise_scale", finite_number(self.rise_scale) and self.rise_scale > 0, "> 0"),
            ("warmup", isinstance(self.warmup, int) and self.warmup >= 0, "a whole number >= 0"),
            ("epsilon", self.epsilon is None or (finite_number(self.epsilon) and self.epsilon > 0), "> 0, or unset"),
            ("max_epsilon", finite_number(self.max_epsilon) and self.max_epsilon > 0, "> 0"),
            ("pull_cap", isinstance(self.pull_cap, int) and 256 <= self.pull_cap <= 1 << 20, "from 256 to 1048576"),
        )
        for name, ok, accepted in checks:
            if not ok:
                raise ValueError(f"{name} must be {accepted}; got {getattr(self, name)!r}")


@dataclass
class TrendDetector:
    alpha: float = 0.3
    min_rise: float = 0.05
    rise_scale: float = 0.25
    warmup: int = 3
    state: np.ndarray = field(default_factory=lambda: np.zeros(0, _BASELINE))

    def update(self, released: np.ndarray) -> np.ndarray:
        """This round's trending patterns (TREND rows); moves every released pattern's baseline."""
        rate = released["rate"]
        if len(self.state):
            at = np.minimum(np.searchsorted(self.state["pattern"], released["pattern"]), len(self.state) - 1)
            seen = self.state["pattern"][at] == released["pattern"]
            baseline = np.where(seen, self.state["baseline"][at], rate)
            rounds = np.where(seen, self.state["rounds"][at], 0)
        else:
            seen, baseline, rounds = np.zeros(len(rate), bool), rate.copy(), np.zeros(len(rate), np.int64)
        rise = released["rate"] - baseline
        trending = seen & (rounds >= self.warmup) & (rise >= self.min_rise)
        trends = np.zeros(int(trending.sum()), TREND)
        trends["pattern"] = released["pattern"][trending]
        trends["score"] = np.clip(rise[trending] / self.rise_scale, 0.0, 1.0)
        fresh = np.zeros(len(released), _BASELINE)
        fresh["pattern"] = released["pattern"]
        fresh["baseline"] = baseline + self.alpha * (released["rate"] - baseline)
        fresh["rounds"] = rounds + 1
        kept = self.state[~np.isin(self.state["pattern"], released["pattern"])]  # patterns not released this round
        merged = np.concatenate([kept, fresh])
        self.state = merged[np.argsort(merged["pattern"], kind="stable")]
        return trends

    def to_bytes(self) -> bytes:
        return self.state.tobytes()

    def load(self, blob: bytes | None) -> None:
        self.state = np.frombuffer(blob, _BASELINE).copy() if blob and len(blob) % _BASELINE.itemsize == 0 else np.zeros(0, _BASELINE)


@dataclass
class PrivacyBudget:
    max_epsilon: float
    spent: float = 0.0

    def spend(self, epsilon: float) -> bool:
        if self.spent + epsilon > self.max_epsilon + 1e-12:
            return False
        self.spent += epsilon
        return True

    def to_bytes(self) -> bytes:
        return struct.pack("<d", self.spent)

    def load(self, blob: bytes | None) -> None:
        self.spent = struct.unpack("<d", blob)[0] if blob and len(blob) == 8 else 0.0


@dataclass(frozen=True, slots=True)
class Release:
    version: int
    body: bytes  # page 0, the headline
    patterns: int  # how many fitted page 0
    trends: int
    noised: bool
    pages: tuple[bytes, ...] = ()  # pages 1 and on: every released pattern, in id order

    @property
    def bodies(self) -> tuple[bytes, ...]:
        return (self.body, *self.pages)


@dataclass
class Publisher:
    settings: PublishSettings = field(default_factory=PublishSettings)
    version: int = 0
    trends: TrendDetector = field(init=False)
    budget: PrivacyBudget = field(init=False)
    refused: int = 0  # releases refused by the privacy budget

    def __post_init__(self) -> None:
        s = self.settings
        self.trends = TrendDetector(s.alpha, s.min_rise, s.rise_scale, s.warmup)
        self.budget = PrivacyBudget(s.max_epsilon)

    def release(self, released: np.ndarray, cohort: str, max_weight: float) -> Release | None:
        """The next bundle body from this round's k-anonymous aggregates, or None when the budget refuses."""
        if released.dtype != AGGREGATE:
            raise TypeError(f"expected AGGREGATE rows; got {released.dtype}")
        noised = False
        if self.settings.epsilon is not None:
            if not self.budget.spend(self.settings.epsilon):
                self.refused += 1
                return None
            released = _noised(released, self.settings.epsilon, max_weight)
            noised = True
        version = self.version + 1
        pages = encode_pages(cohort, version, _most_supported(released, cohort, version, self.settings.pull_cap),
                             self.settings.pull_cap)
        trends = self.trends.update(released)
        body, patterns, trend_count = encode_bundle_body(cohort, version, released, trends,
                                                         self.settings.pull_cap, len(pages) + 1)
        self.version = version
        return Release(version, body, patterns, trend_count, noised, tuple(pages))


def _most_supported(released: np.ndarray, cohort: str, version: int, cap: int) -> np.ndarray:
    """What fits the largest release (MAX_PAGES pages): the patterns most devices reported."""
    fits = (MAX_PAGES - 1) * page_capacity(cohort, version, cap)
    if len(released) <= fits:
        return released
    return released[np.argsort(-released["devices"].astype(np.int64), kind="stable")[:fits]]


def _noised(released: np.ndarray, epsilon: float, max_weight: float) -> np.ndarray:
    """Laplace noise scaled to one device's largest influence on each weighted mean."""
    rng = np.random.default_rng(secrets.randbits(64))
    sensitivity = np.minimum(max_weight / np.maximum(released["weight"], 1e-12), 1.0)
    out = released.copy()
    out["rate"] = np.clip(released["rate"] + rng.laplace(0.0, sensitivity / epsilon), 0.0, 1.0)
    return out
