"""Pure ranking: contexts, the taste-vector blend, smoothed skill rates, scores and reasons.

Nothing here touches a file, a model or an index, so it is tested directly.

A recommendation's score is::

    similarity_weight * cosine(taste, item)         (query_weight when there is a query)
  + skill_weight      * best smoothed success rate of the item's genres in this context
  + trend_weight      * the constellation's score for the item (0 before any sync)
  + popularity_weight * the item's fleet support, log-scaled to [0, 1]
  + cowatch_weight    * the recency-weighted co-watch (item-kNN) score, scaled to [0, 1]

The taste vector blends the query text (if any), the recent-taste vector and
the consolidated profiles of this daypart and mood. Skill rates are smoothed
towards a prior: the success rate the constellation reports for the same
context and genre, or 0.5 before any sync. That is how the personal signal
and the consolidated patterns meet: a TV with little history leans on the
fleet, and its own evidence takes over as trials accumulate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from omega_actors.brain.catalogue import is_text
from omega_actors.errors import BrainInputError

DAYPARTS = ("morning", "afternoon", "evening", "late_night")
NEUTRAL_RATE = 0.5
_MOOD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_RESULTS = 100


def daypart_of(timestamp: float) -> str:
    """The daypart of a Unix time, by its hour in UTC: where replayed ratings and recorded views fall."""
    hour = datetime.fromtimestamp(timestamp, tz=timezone.utc).hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    return "evening" if 17 <= hour < 22 else "late_night"


def check_daypart(daypart: object) -> str:
    if not isinstance(daypart, str) or daypart not in DAYPARTS:
        raise BrainInputError(f"daypart must be one of {', '.join(DAYPARTS)}; got {daypart!r}")
    return str(daypart)


def check_mood(mood: object) -> str:
    if not isinstance(mood, str) or not _MOOD.fullmatch(mood):
        raise BrainInputError(f"mood must be a lower-case word of 1-32 letters, digits, '_' or '-'; got {mood!r}")
    return mood


@dataclass(frozen=True, slots=True)
class RecommendContext:
    daypart: str
    mood: str = "any"
    query: str = ""  # free text, e.g. "something like that thriller, but funnier"
    n: int = 10
    unseen_only: bool = False  # rank every item this TV never played (not only those outside the recent window)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        check_daypart(getattr(self, "daypart", None))
        check_mood(getattr(self, "mood", None))
        if not is_text(getattr(self, "query", None)):
            raise BrainInputError("query must be UTF-8 text")
        n = getattr(self, "n", None)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RESULTS:
            raise BrainInputError(f"n must be a whole number from 1 to {MAX_RESULTS}; got {n!r}")
        if not isinstance(getattr(self, "unseen_only", None), bool):
            raise BrainInputError("unseen_only must be True or False")


@dataclass(frozen=True, slots=True)
class Recommendation:
    media_id: str
    title: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Candidate:
    media_id: str
    title: str
    genres: tuple[str, ...]
    similarity: float  # cosine to the taste vector; 0 when there is no taste yet
    cowatch: float = 0.0  # the fleet's co-watch score for this viewer's history, scaled to [0, 1]
    popularity: float = 0.0  # the fleet's support for the item, log-scaled to [0, 1]


@dataclass(frozen=True, slots=True)
class ConsolidatedPatterns:
    """What the constellation sends back (the sync issue), in the brain's terms.

    ``genre_rates`` maps "daypart|mood|genre" (mood may be "*") to a fleet
    success rate; ``item_scores`` maps media ids to a trend score in [0, 1];
    ``trends`` maps "daypart|mood|genre" to a trend score in [0, 1] (a genre
    rising in that context across the fleet). The empty value is what a
    brain uses before its first sync.
    """

    genre_rates: Mapping[str, float] = field(default_factory=dict)
    item_scores: Mapping[str, float] = field(default_factory=dict)
    trends: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        for kind in ("genre_rates", "item_scores", "trends"):
            table = getattr(self, kind, None)
            if not isinstance(table, Mapping):
                raise BrainInputError(f"{kind} must be a mapping; got {type(table).__name__}")
            for key, value in table.items():
                if not is_text(key) or not key or len(key) > 200:
                    raise BrainInputError(f"{kind}: keys must be UTF-8 strings of 1-200 characters; got {key!r}")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise BrainInputError(f"{kind}[{key!r}]: expected a number in [0, 1]; got {value!r}")

    def as_tables(self) -> dict[str, dict[str, float]]:
        return {"genre_rate": dict(self.genre_rates), "item_score": dict(self.item_scores), "trend": dict(self.trends)}

    @classmethod
    def from_tables(cls, tables: Mapping[str, Mapping[str, float]]) -> ConsolidatedPatterns:
        return cls(dict(tables.get("genre_rate", {})), dict(tables.get("item_score", {})), dict(tables.get("trend", {})))


@dataclass(frozen=True, slots=True)
class Weights:
    similarity: float
    skill: float
    trend: float
    prior_strength: float
    cowatch: float = 0.0
    popularity: float = 0.0
    query: float = 1.0  # the similarity weight when the viewer typed a query: what they asked for leads


def blend(parts: Sequence[tuple[np.ndarray | None, float]]) -> np.ndarray | None:
    """The normalised weighted sum of the vectors present, or None when there are none."""
    total: np.ndarray | None = None
    for vector, weight in parts:
        if vector is None or weight <= 0:
            continue
        total = vector * weight if total is None else total + vector * weight
    if total is None:
        return None
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 1e-12 else None


def smoothed(trials: int, successes: int, prior: float, strength: float) -> float:
    """Successes over trials, pulled towards ``prior`` as if it had ``strength`` trials of its own."""
    return (successes + prior * strength) / (trials + strength) if trials + strength > 0 else prior


SkillLookup = Callable[[str, str], tuple[float, int, int]]  # (context, genre) -> (rate, trials, successes)


def rank(candidates: Sequence[Candidate], context: RecommendContext, skill: SkillLookup,
         item_scores: Mapping[str, float], weights: Weights, *, anchor: str = "") -> list[Recommendation]:
    """Score, sort and explain; ties go to the smaller media id, so results are deterministic."""
    rates: dict[str, tuple[float, int, int]] = {}  # one lookup per genre, not per candidate
    situation = f"{context.daypart}|{context.mood}"
    scored = []
    for candidate in candidates:
        best_genre, best = "", (NEUTRAL_RATE, 0, 0)
        for genre in candidate.genres:
            stats = rates.get(genre)
            if stats is None:
                stats = rates[genre] = skill(situation, genre)
            if stats[0] > best[0]:
                best_genre, best = genre, stats
        trend = float(item_scores.get(candidate.media_id, 0.0))
        similarity = weights.query if context.query else weights.similarity
        parts = (similarity * candidate.similarity, weights.skill * best[0],
                 weights.trend * trend + weights.popularity * candidate.popularity, weights.cowatch * candidate.cowatch)
        score = sum(parts)
        if math.isfinite(score):
            scored.append((-round(score, 6), candidate.media_id, candidate, parts, best_genre, best, trend))
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    return [
        Recommendation(media_id, candidate.title, -negative, _reason(parts, genre, best, trend, context, anchor))
        for negative, media_id, candidate, parts, genre, best, trend in scored[: context.n]
    ]


def _reason(parts: tuple[float, ...], genre: str, skill: tuple[float, int, int], trend: float,
            context: RecommendContext, anchor: str) -> str:
    when = context.daypart.replace("_", " ")
    skill_counts = skill[1] >= 3 and skill[0] > NEUTRAL_RATE
    leader = ("similarity", "skill", "trend", "cowatch")[max(range(4), key=lambda i: parts[i])]
    if leader == "cowatch" and anchor:
        return f"viewers who watched {anchor} also watched this"
    if context.query and leader == "similarity":
        return f"matches \u201c{context.query}\u201d"
    if leader == "skill" and skill_counts:
        return f"you usually finish {genre} in the {when} ({skill[2]} of {skill[1]})"
    if leader == "trend":
        return "popular with viewers like you right now" if trend > 0 else "popular across the fleet"
    if parts[0] > 0 and anchor:
        return f"because you watched {anchor}"
    if skill_counts:
        return f"you usually finish {genre} in the {when} ({skill[2]} of {skill[1]})"
    if trend > 0:
        return "popular with viewers like you right now"
    return "new on this TV"
