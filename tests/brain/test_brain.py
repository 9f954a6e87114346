"""The brain as plain code: memory that survives reopening, index rebuilds, learning and ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omega_actors.brain import (
    Brain,
    BrainSettings,
    ConsolidatedPatterns,
    Embedder,
    MediaItem,
    Observation,
    RecommendContext,
    synthetic_catalogue,
)
from omega_actors.brain.brain import INDEX_FILE
from omega_actors.errors import BrainInputError

CATALOGUE = synthetic_catalogue(60, seed=4)


def vectors_for(items: list[MediaItem], seed: int = 0) -> np.ndarray:
    """Random item vectors: these tests are about bookkeeping, not the model."""
    return np.random.default_rng(seed).normal(size=(len(items), 384)).astype(np.float32)


@pytest.fixture
def brain(tmp_path: Path, embedder: Embedder) -> Brain:
    opened = Brain.open(tmp_path / "tv", embedder)
    opened.add_items(CATALOGUE, vectors_for(CATALOGUE))
    yield opened
    opened.store.close()


def test_observations_and_items_survive_reopening(tmp_path: Path, embedder: Embedder, brain: Brain) -> None:
    first = brain.observe(Observation("m1", 0.8, "evening", "relaxed"))
    brain.close()
    again = Brain.open(tmp_path / "tv", embedder)
    assert len(again) == len(CATALOGUE) and not again.rebuilt_index
    assert [e.id for e in again.reflexion.recent(10)] == [first]
    assert again.skills.get("evening|relaxed", again.item("m1").genres[0]).trials == 1
    again.close()


def test_an_index_file_older_than_the_store_is_rebuilt_from_it(tmp_path: Path, embedder: Embedder, brain: Brain) -> None:
    brain.save_index()
    extra = [MediaItem("new-1", "The New One", ("Drama",))]
    brain.add_items(extra, vectors_for(extra, seed=9))  # not saved: as if the process were killed now
    brain.store.close()
    again = Brain.open(tmp_path / "tv", embedder)
    assert again.rebuilt_index
    assert again.item("new-1").title == "The New One"
    assert sorted(again.index.labels()) == sorted(label for label, _ in again._items.values())
    again.close()


def test_a_corrupt_index_file_is_rebuilt_not_loaded(tmp_path: Path, embedder: Embedder, brain: Brain) -> None:
    brain.close()
    (tmp_path / "tv" / INDEX_FILE).write_bytes(b"\x00garbage" * 100)
    again = Brain.open(tmp_path / "tv", embedder)
    assert again.rebuilt_index and len(again.index) == len(CATALOGUE)
    again.close()


def test_a_full_brain_evicts_its_least_recently_used_items_from_index_and_store(tmp_path: Path, embedder: Embedder) -> None:
    small = Brain.open(tmp_path / "small", embedder, BrainSettings(capacity=5))
    items = CATALOGUE[:7]
    small.add_items(items[:5], vectors_for(items[:5]))
    small.observe(Observation(items[0].media_id, 0.9, "morning"))
    evicted = small.add_items(items[5:], vectors_for(items[5:], seed=1))
    assert evicted == [items[1].media_id, items[2].media_id]
    assert len(small) == 5 and {media for media, in small.store.db.execute("SELECT media_id FROM items")} == {
        item.media_id for item in (items[0], items[3], items[4], items[5], items[6])
    }
    small.close()


def forged(**fields: object) -> Observation:
    """An observation as an unpickled, forged message could hold it: its own checks never ran."""
    observation = object.__new__(Observation)
    defaults = {"media_id": "m1", "watch_fraction": 0.5, "daypart": "evening", "mood": "any", "recommended": ()}
    for name, value in {**defaults, **fields}.items():
        object.__setattr__(observation, name, value)
    return observation


@pytest.mark.parametrize(
    "fields, refusal",
    [
        ({"media_id": "nope"}, "unknown media id"),
        ({"watch_fraction": float("nan")}, "watch_fraction"),
        ({"watch_fraction": 1.5}, "watch_fraction"),
        ({"daypart": "brunch"}, "daypart"),
        ({"daypart": np.array(["evening", "morning"])}, "daypart"),
        ({"mood": "Very Happy!"}, "mood"),
        ({"mood": "happy\n"}, "mood"),
        ({"recommended": ("m1", "\ud800")}, "UTF-8"),
        ({"media_id": "m\ud800"}, "UTF-8"),
    ],
)
def test_bad_observations_are_refused_and_store_nothing(brain: Brain, fields: dict, refusal: str) -> None:
    with pytest.raises(BrainInputError, match=refusal):
        brain.observe(forged(**fields))
    assert brain.reflexion.count() == 0


def test_lowering_the_capacity_drops_the_oldest_unwatched_items_from_store_and_index(tmp_path: Path, embedder: Embedder, brain: Brain) -> None:
    brain.observe(Observation("m0", 0.9, "evening"))
    brain.close()
    smaller = Brain.open(tmp_path / "tv", embedder, BrainSettings(capacity=10))
    stored = {media for media, in smaller.store.db.execute("SELECT media_id FROM items")}
    assert len(stored) == 10 and "m0" in stored
    assert stored == {smaller._by_label[label].media_id for label in smaller.index.labels()}
    assert len(smaller.recommend(RecommendContext("evening", n=10))) == 9
    smaller.close()


def test_a_search_hnsw_cannot_complete_is_answered_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 384))
    items = [MediaItem(f"d{i}", f"Near duplicate {i}") for i in range(300)]
    vectors = np.stack([centres[i % 5] + 0.001 * rng.normal(size=384) for i in range(300)]).astype(np.float32)
    brain = Brain.open(tmp_path / "dupes", None)
    brain.add_items(items, vectors)
    brain.observe(Observation("d0", 0.9, "evening"))
    assert len(brain.recommend_with(RecommendContext("evening", n=100), None)) == 100
    brain.close()


def test_texts_without_an_embedder_are_refused_with_the_reason(tmp_path: Path) -> None:
    bare = Brain.open(tmp_path / "bare", None)
    with pytest.raises(BrainInputError, match="without an embedder"):
        bare.add_items([MediaItem("a", "A")])
    bare.close()


def test_an_item_vector_with_nan_is_refused_and_nothing_is_stored(brain: Brain) -> None:
    bad = np.full((1, 384), np.nan, dtype=np.float32)
    with pytest.raises(BrainInputError, match="NaN"):
        brain.add_items([MediaItem("x", "X")], bad)
    assert "x" not in {media for media, in brain.store.db.execute("SELECT media_id FROM items")}


def test_an_episode_records_what_was_recommended_the_outcome_and_a_reflection(brain: Brain) -> None:
    shown = ("m3", "m1", "m7")
    brain.observe(Observation("m1", 0.2, "late_night", "tired", recommended=shown))
    (episode,) = brain.reflexion.recent(1)
    assert (episode.recommended, episode.outcome) == (shown, "abandoned")
    assert episode.reflection.startswith("our pick #2") and "abandoned at 20%" in episode.reflection


def test_watched_items_are_not_recommended_again_and_taste_follows_them(brain: Brain) -> None:
    assert {r.reason for r in brain.recommend(RecommendContext("evening", n=5))} == {"new on this TV"}
    brain.observe(Observation("m10", 1.0, "evening"))
    picks = brain.recommend(RecommendContext("evening", n=5))
    assert "m10" not in {r.media_id for r in picks}
    nearest = brain.index.search(brain.index.vectors([brain._items["m10"][0]])[0], 2)[1][0]
    assert brain._by_label[nearest].media_id in {r.media_id for r in picks}
    assert f"because you watched {brain.item('m10').title}" in {r.reason for r in picks}


def test_consolidation_builds_profiles_per_daypart_and_mood(brain: Brain) -> None:
    for media in ("m1", "m2", "m3"):
        brain.observe(Observation(media, 0.9, "morning", "curious"))
    brain.observe(Observation("m4", 0.1, "evening", "tired"))  # abandoned: not part of any taste
    brain.consolidate()
    assert set(brain.reasoning.profiles) == {"all", "daypart:morning", "mood:curious"}
    assert brain.reasoning.profiles["daypart:morning"].summary.startswith("daypart:morning: 3 watched through")


def test_fleet_patterns_guide_a_new_brain_until_its_own_evidence_takes_over(brain: Brain) -> None:
    genre = brain.item("m5").genres[0]
    brain.apply_patterns(ConsolidatedPatterns(genre_rates={f"evening|*|{genre}": 0.95}))
    rate_from_fleet, trials, _ = brain._skill("evening|any", genre)
    assert rate_from_fleet > 0.9 and trials == 0
    for _ in range(30):
        brain.observe(Observation("m5", 0.0, "evening"))
    rate_after, trials, successes = brain._skill("evening|any", genre)
    assert trials == 30 and successes == 0 and rate_after < 0.2


def test_trending_items_lead_a_brain_with_no_history(brain: Brain) -> None:
    brain.apply_patterns(ConsolidatedPatterns(item_scores={"m42": 0.9, "m7": 0.4}))
    picks = brain.recommend(RecommendContext("afternoon", n=3))
    assert [r.media_id for r in picks[:2]] == ["m42", "m7"]
    assert picks[0].reason == "popular with viewers like you right now"


def test_patterns_survive_reopening(tmp_path: Path, embedder: Embedder, brain: Brain) -> None:
    patterns = ConsolidatedPatterns({"evening|*|Drama": 0.7}, {"m2": 0.5})
    brain.apply_patterns(patterns)
    brain.close()
    again = Brain.open(tmp_path / "tv", embedder)
    assert again.patterns == patterns
    again.close()


def test_re_adding_items_at_capacity_evicts_only_others_and_index_and_store_agree(tmp_path: Path, embedder: Embedder) -> None:
    small = Brain.open(tmp_path / "small", embedder, BrainSettings(capacity=4))
    items = CATALOGUE[:6]
    small.add_items(items[:4], vectors_for(items[:4]))
    # items[0] is the least recently used, but it is in this batch: it is updated, never evicted.
    evicted = small.add_items([items[0], items[4], items[5]], vectors_for([items[0], items[4], items[5]], seed=2))
    assert evicted == [items[1].media_id, items[2].media_id]
    stored = {label for label, in small.store.db.execute("SELECT label FROM items")}
    assert stored == set(small.index.labels()) and len(stored) == 4
    small.close()
