"""Improvements of the brain's ranking: checks, fingerprints, the live rule, and fleet adoption against a model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.brain.memory import Episode
from omega_actors.errors import GenesisError
from omega_actors.genesis.improvement import (
    Adoption,
    brain_toml,
    check_ranking,
    fingerprint,
    hit_rate,
    validated,
)


def episode(media: str, shown: tuple[str, ...], outcome: str = "finished") -> Episode:
    return Episode(1, 0.0, media, 0.95, "evening", "any", shown, outcome, "")


def test_a_change_names_only_ranking_weights_with_finite_values_at_or_above_zero():
    assert check_ranking({"skill_weight": 0, "similarity_weight": 1.5}) == {"similarity_weight": 1.5, "skill_weight": 0.0}
    for bad, key in (({"capacity": 3}, "settings"), ({"skill_weight": -0.1}, "settings.skill_weight"),
                     ({"skill_weight": math.inf}, "settings.skill_weight"), ({"skill_weight": True}, "settings.skill_weight"),
                     ({}, "settings"), ([("skill_weight", 1.0)], "settings")):  # fmt: skip
        with pytest.raises(GenesisError) as caught:
            check_ranking(bad)
        assert caught.value.key == key


def test_the_same_change_has_the_same_fingerprint_however_it_is_written():
    assert fingerprint({"skill_weight": 0, "trend_weight": 1}) == fingerprint({"trend_weight": 1.0, "skill_weight": 0.0})
    assert fingerprint({"skill_weight": 0.0}) != fingerprint({"skill_weight": 0.1})


def test_a_brain_table_round_trips_through_toml():
    import tomllib

    assert tomllib.loads(brain_toml({"skill_weight": 0.25}))["brain"] == {"skill_weight": 0.25}


def test_a_hit_is_an_item_watched_from_the_recommendations_and_not_abandoned():
    episodes = [episode("a", ("a", "b")), episode("c", ("a", "b")), episode("b", ("b",), outcome="abandoned"), episode("d", ("d",))]
    assert hit_rate(episodes) == 0.5
    assert hit_rate([]) == 0.0


def test_the_live_rule_keeps_a_change_that_holds_within_the_tolerance():
    assert validated(0.5, 0.48, 0.05) and validated(0.0, 0.0, 0.05) and validated(0.5, 0.9, 0.0)
    assert not validated(0.5, 0.47, 0.05) and not validated(1.0, 0.0, 0.5)


events = st.lists(st.tuples(st.sampled_from(["tv-1", "tv-2", "tv-3", "tv-4", "tv-5", "tv-6"]), st.sampled_from(["x", "y"]),
                            st.booleans()), max_size=40)  # fmt: skip


@given(events, st.integers(0, 8), st.sampled_from([0.0, 0.5, 0.7, 0.99]))
def test_adoption_crosses_once_per_improvement_exactly_when_the_share_first_passes_the_threshold(log, fleet, threshold):
    adoption = Adoption(fleet, threshold)
    heard: set[str] = set()
    validators: dict[str, set[str]] = {}
    crossed: set[str] = set()
    for instance, improvement, validation in log:
        heard.add(instance)
        if not validation:
            adoption.heard(instance)
            continue
        validators.setdefault(improvement, set()).add(instance)
        share = len(validators[improvement]) / max(fleet, len(heard))
        expected = improvement not in crossed and share > threshold
        crossed |= {improvement} if expected else set()
        assert adoption.validated(instance, improvement) is expected
