"""Local (type 1) and global (type 2) improvements of a brain's ranking weights: the pure parts.

::

    key = fingerprint({"similarity_weight": 0.0})            # the same change has the same key on every TV
    before, after = proven_recall(episodes, items, vectors, settings, [{}, change])   # on its own recorded episodes
    rate = hit_rate(episodes[-n:])                           # live: the watched item was among those shown
    validated(before=rate_before, after=rate_after, tolerance=0.05)

    adoption = Adoption(fleet=10, threshold=0.7)
    adoption.validated("tv-3", key)                          # -> True once more than 70% of the fleet validated it

An instance proves a change by replaying its own recorded episodes (the last
20% of its successes are held out, the rest observed by a scratch brain) and
measuring Recall@10 with and without it; applies it in place
(:meth:`omega_actors.brain.Brain.retune`); and keeps it only if its live hit
rate over the next N episodes is no worse than over the N before, within a
tolerance. Hit rate is the online twin of Recall@10: a hit is an episode
whose item was among the recommendations shown when it was played.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..brain import BrainSettings, MediaItem
from ..brain.memory import Episode
from ..brain.settings import RANKING_KEYS
from ..errors import GenesisError
from ..settings import unknown_name

MIN_PROOF_EPISODES = 10


def check_ranking(settings: object) -> dict[str, float]:
    """A change of ranking weights, checked: known keys, finite numbers >= 0."""
    if not isinstance(settings, Mapping) or not settings:
        raise GenesisError(f"expected a table of ranking weights; got {settings!r}", key="settings")
    for key, value in settings.items():
        if key not in RANKING_KEYS:
            raise GenesisError(unknown_name(str(key), RANKING_KEYS, "ranking weight"), key="settings")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise GenesisError(f"expected a finite number >= 0; got {value!r}", key=f"settings.{key}")
    return {str(key): float(value) for key, value in sorted(settings.items())}


def fingerprint(settings: Mapping[str, float]) -> str:
    text = json.dumps(check_ranking(settings), sort_keys=True)
    return "imp-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def brain_toml(settings: Mapping[str, float]) -> str:
    """A ``[brain]`` table holding ``settings``: the config change a type-2 safety test tries."""
    lines = ["[brain]"] + [f"{key} = {float(value)!r}" for key, value in sorted(check_ranking(settings).items())]
    return "\n".join(lines) + "\n"


def hit_rate(episodes: Sequence[Episode]) -> float:
    if not episodes:
        return 0.0
    return sum(1 for e in episodes if e.media_id in e.recommended and e.outcome != "abandoned") / len(episodes)


def validated(before: float, after: float, tolerance: float) -> bool:
    """Whether the live rate after a change is no worse than before it, within ``tolerance`` (relative)."""
    return after >= before * (1.0 - tolerance)


def proven_recall(episodes: Sequence[Episode], items: Sequence[MediaItem], vectors: np.ndarray, settings: BrainSettings,
                  candidates: Sequence[Mapping[str, float]]) -> list[float]:
    """Recall@10 of each candidate change on this TV's own episodes: the last 20% of its successes held out."""
    from .replay import replay

    positives = [e for e in episodes if e.watch_fraction >= settings.success_fraction]
    if len(positives) < MIN_PROOF_EPISODES:
        raise GenesisError(f"{len(positives)} successful episodes recorded; a proof needs {MIN_PROOF_EPISODES}", key="episodes")
    cut = len(positives) - max(1, len(positives) // 5)
    held_out = {e.media_id for e in positives[cut:]}
    train = [[e.media_id, e.watch_fraction * 5.0, e.at, e.daypart] for e in positives[:cut]]
    scores = []
    for change in candidates:
        ranked = replay({"self": train}, items, vectors, replace(settings, **check_ranking(change)) if change else settings)  # type: ignore[arg-type]
        scores.append(len(held_out & set(ranked["self"][:10])) / len(held_out))
    return scores


@dataclass
class Adoption:
    """Which improvements more than ``threshold`` of the fleet has validated (type 2).

    The fleet is ``fleet`` instances, or every instance heard from when more
    have been heard from. An improvement crosses the threshold once.
    """

    fleet: int = 0
    threshold: float = 0.7
    instances: set[str] = field(default_factory=set)
    by_improvement: dict[str, set[str]] = field(default_factory=dict)
    crossed: set[str] = field(default_factory=set)

    def heard(self, instance: str) -> None:
        self.instances.add(instance)

    def validated(self, instance: str, improvement: str) -> bool:
        """Record a validation; True when this one carries ``improvement`` over the threshold."""
        self.heard(instance)
        self.by_improvement.setdefault(improvement, set()).add(instance)
        if improvement in self.crossed or self.share(improvement) <= self.threshold:
            return False
        self.crossed.add(improvement)
        return True

    def share(self, improvement: str) -> float:
        size = max(self.fleet, len(self.instances))
        return len(self.by_improvement.get(improvement, ())) / size if size else 0.0
