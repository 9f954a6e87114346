"""Pure ranking: the blend, smoothing towards the fleet's prior, deterministic order, and reasons."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.brain.ranking import (
    Candidate,
    RecommendContext,
    Weights,
    blend,
    daypart_of,
    rank,
    smoothed,
)
from omega_actors.errors import BrainInputError

WEIGHTS = Weights(similarity=1.0, skill=0.35, trend=0.15, prior_strength=4.0)


def no_skill(context: str, genre: str) -> tuple[float, int, int]:
    return 0.5, 0, 0


def test_blend_ignores_missing_parts_and_returns_a_unit_vector() -> None:
    a, b = np.eye(384, dtype=np.float32)[:2]
    mixed = blend([(a, 1.0), (None, 5.0), (b, 1.0)])
    assert mixed is not None and abs(float(np.linalg.norm(mixed)) - 1) < 1e-6
    assert blend([(None, 1.0)]) is None


@given(st.integers(0, 1000), st.data(), st.floats(0, 1), st.floats(0.1, 50))
def test_a_smoothed_rate_lies_between_the_prior_and_the_observed_rate(trials: int, data, prior: float, strength: float) -> None:
    successes = data.draw(st.integers(0, trials))
    rate = smoothed(trials, successes, prior, strength)
    observed = successes / trials if trials else prior
    assert min(prior, observed) - 1e-9 <= rate <= max(prior, observed) + 1e-9


def test_equal_scores_are_ordered_by_media_id_and_cut_to_n() -> None:
    candidates = [Candidate(m, m.upper(), (), 0.5) for m in ("b", "c", "a")]
    picks = rank(candidates, RecommendContext("evening", n=2), no_skill, {}, WEIGHTS)
    assert [p.media_id for p in picks] == ["a", "b"]


def test_a_genre_the_viewer_finishes_outranks_a_slightly_closer_item_and_says_why() -> None:
    def skill(context: str, genre: str) -> tuple[float, int, int]:
        return (0.9, 10, 9) if genre == "Comedy" else (0.5, 0, 0)

    candidates = [Candidate("close", "Close", ("Drama",), 0.60), Candidate("funny", "Funny", ("Comedy",), 0.55)]
    first, second = rank(candidates, RecommendContext("late_night", n=2), skill, {}, WEIGHTS, anchor="Old Film")
    assert first.media_id == "funny"
    assert second.reason == "because you watched Old Film"
    assert rank([candidates[1]], RecommendContext("late_night"), skill, {}, Weights(0.1, 1.0, 0.0, 4.0))[0].reason == (
        "you usually finish Comedy in the late night (9 of 10)"
    )


@pytest.mark.parametrize(
    "kwargs, refusal",
    [({"daypart": "noon"}, "daypart"), ({"daypart": "evening", "n": 0}, "n must"), ({"daypart": "evening", "mood": "UP"}, "mood")],
)
def test_bad_contexts_are_refused(kwargs: dict, refusal: str) -> None:
    with pytest.raises(BrainInputError, match=refusal):
        RecommendContext(**kwargs)


@pytest.mark.parametrize(
    ("hour", "daypart"),
    [(4, "late_night"), (5, "morning"), (11, "morning"), (12, "afternoon"), (16, "afternoon"), (17, "evening"),
     (21, "evening"), (22, "late_night"), (0, "late_night")],
)
def test_a_unix_time_falls_in_the_daypart_of_its_hour_in_utc(hour: int, daypart: str) -> None:
    assert daypart_of(datetime(2024, 3, 9, hour, 30, tzinfo=timezone.utc).timestamp()) == daypart
