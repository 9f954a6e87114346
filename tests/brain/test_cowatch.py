"""Co-watch counting on the TV, the fleet table, and the recency-weighted item-kNN score."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.brain.cowatch import (
    CowatchCounter,
    FleetTable,
    cowatch_scores,
    item_id,
    item_ids,
    pair_ids,
)
from omega_actors.federation.wire import pattern_id


def test_an_items_id_is_the_sync_pattern_id_of_its_item_key() -> None:
    assert item_id("m7") == pattern_id("item|m7")


def test_a_pair_has_one_id_whichever_item_comes_first() -> None:
    a, b = item_ids(["m1", "m2"])
    assert pair_ids(a, b) == pair_ids(b, a)
    assert pair_ids(a, b) != pair_ids(a, item_ids(["m3"])[0])
    assert 0 <= int(pair_ids(a, b)) < 1 << 32


def test_each_success_pairs_with_the_ones_in_the_window_before_it() -> None:
    counter = CowatchCounter(window=2)
    for media in ("a", "b", "c", "d", "a"):
        counter.add(media)
    ids = dict(zip("abcd", item_ids("abcd").tolist()))

    def pair(x: str, y: str) -> int:
        return counter.counts.get(int(pair_ids(ids[x], ids[y])), 0)

    assert counter.counts[ids["a"]] == 2 and counter.counts[ids["d"]] == 1
    # b: a-b; c: a-c, b-c; d: b-d, c-d; a: c-a, d-a
    assert (pair("a", "b"), pair("a", "c"), pair("b", "c"), pair("b", "d"), pair("c", "d"), pair("a", "d")) == (1, 2, 1, 1, 1, 1)
    assert len(counter.records()) == 4 + 6


def test_a_page_replaces_exactly_its_range_of_the_table() -> None:
    table = FleetTable()
    table.apply_page(0, 100, np.array([5, 50], np.uint64), np.array([3.0, 4.0]))
    table.apply_page(100, 1 << 32, np.array([200], np.uint64), np.array([7.0]))
    table.apply_page(0, 100, np.array([60], np.uint64), np.array([9.0]))  # a new release of the first range
    assert table.ids.tolist() == [60, 200]
    assert table.lookup(np.array([60, 200, 5], np.uint64)).tolist() == [9.0, 7.0, 0.0]


histories = st.lists(st.sampled_from([f"m{i}" for i in range(6)]), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(histories, st.dictionaries(st.tuples(st.integers(0, 5), st.integers(0, 5)), st.integers(1, 9), max_size=12),
       st.floats(0.5, 1.0))
def test_the_score_is_the_recency_weighted_sum_of_cosines(history: list[str], pairs: dict[tuple[int, int], int],
                                                          decay: float) -> None:
    catalogue = [f"m{i}" for i in range(6)]
    ids = item_ids(catalogue)
    support = {int(ids[i]): 10.0 + i for i in range(6)}
    for (i, j), count in pairs.items():
        if i != j:
            support[int(pair_ids(ids[i], ids[j]))] = float(count)
    table = FleetTable()
    keys = sorted(support)
    table.apply_page(0, 1 << 32, np.array(keys, np.uint64), np.array([support[k] for k in keys]))
    scores = cowatch_scores(table, history, ids, decay)
    for j, media in enumerate(catalogue):
        expected = 0.0
        for age, seen in enumerate(reversed(history)):
            i = catalogue.index(seen)
            if i != j:
                pair = support.get(int(pair_ids(ids[i], ids[j])), 0.0)
                expected += decay ** age * pair / math.sqrt(support[int(ids[i])] * support[int(ids[j])])
        assert math.isclose(scores[j], expected, rel_tol=1e-9, abs_tol=1e-12)


def test_the_brains_running_score_equals_a_full_recompute_and_its_counts_survive_a_reopen(tmp_path) -> None:
    from omega_actors.brain import (
        Brain,
        BrainSettings,
        Observation,
        synthetic_catalogue,
    )

    catalogue = synthetic_catalogue(8, seed=1)
    media = [item.media_id for item in catalogue]
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((8, 384)).astype(np.float32)
    settings_ = BrainSettings(history_limit=3, cowatch_decay=1.0, cowatch_window=2)
    ids = item_ids(media)
    support = {int(i): 20.0 for i in ids}
    for a in range(8):
        for b in range(a + 1, 8):
            support[int(pair_ids(ids[a], ids[b]))] = float(1 + (a * 3 + b) % 7)
    keys = sorted(support)
    brain = Brain.open(tmp_path, None, settings_)
    try:
        brain.add_items(catalogue, vectors)
        brain.apply_fleet_page(0, 1 << 32, np.array(keys, np.uint64), np.array([support[k] for k in keys]))
        for watched in ("m0", "m3", "m5", "m1", "m6"):  # more than history_limit: the oldest leave the sum
            brain._fleet_scores()  # the running score is in use between observations
            brain.observe(Observation(watched, 1.0, "evening"))
            running = brain._fleet_scores()[0]
            ordered, catalogue_ids = brain._catalogue()
            full = cowatch_scores(brain.fleet, list(brain._history), catalogue_ids, 1.0)
            np.testing.assert_allclose(running, full, rtol=1e-12, atol=1e-12)
        counts = dict(brain.cowatch.counts)
    finally:
        brain.close()
    again = Brain.open(tmp_path, None, settings_)
    try:
        assert again.cowatch.counts == counts and list(again._history) == ["m5", "m1", "m6"]
    finally:
        again.close()
