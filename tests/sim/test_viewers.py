"""The viewer model: determinism, time order, watch fractions, drift and the MovieLens round trip."""

from __future__ import annotations

import numpy as np
import pytest

from omega_actors.brain.ranking import DAYPARTS
from omega_actors.errors import ConfigError
from omega_actors.evaluation.movielens import load
from omega_actors.sim import viewers
from omega_actors.sim.viewers import (
    EPOCH,
    MOODS,
    View,
    World,
    generate_dataset,
    movie_id,
    rating_for,
    write_movielens,
)


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(users=60, items=150, seed=11)


def test_a_seed_gives_the_same_world_and_the_same_days():
    first, second = World.generate(users=20, items=80, seed=3), World.generate(users=20, items=80, seed=3)
    assert first.catalogue == second.catalogue
    assert [first.views(day) for day in range(3)] == [second.views(day) for day in range(3)]
    assert World.generate(users=20, items=80, seed=4).views(0) != first.views(0)


def test_a_day_is_the_same_whatever_was_asked_before():
    in_order = World.generate(users=20, items=80, seed=5)
    days = [in_order.views(day) for day in range(4)]
    skipping = World.generate(users=20, items=80, seed=5)
    assert skipping.views(3) == days[3]
    assert skipping.views(1) == days[1]
    assert skipping.days_played == 4


def test_the_catalogue_has_movielens_style_titles_and_one_to_three_genres(world):
    assert [item.media_id for item in world.catalogue] == [f"m{n}" for n in range(150)]
    assert all(1 <= len(item.genres) <= 3 and item.title.endswith(")") for item in world.catalogue)


def test_views_come_in_time_order_within_their_day_and_daypart(world):
    for day in range(3):
        views = world.views(day)
        stamps = [view.timestamp for view in views]
        assert stamps == sorted(stamps)
        assert all(EPOCH + day * 86400 + 6 * 3600 <= stamp < EPOCH + day * 86400 + 29 * 3600 for stamp in stamps)
    hours = {view.daypart: (view.timestamp - EPOCH) % 86400 / 3600 for view in world.views(0)}
    assert 6 <= hours.get("morning", 6) < 12 and 18 <= hours.get("evening", 18) < 23


def test_views_are_valid_and_nobody_watches_an_item_twice(world):
    views = [view for day in range(5) for view in world.views(day)]
    assert len(views) > 60 * 5 * 2   # about four views a day each
    assert all(0.0 <= view.watch_fraction <= 1.0 for view in views)
    assert {view.daypart for view in views} == set(DAYPARTS) and {view.mood for view in views} == set(MOODS)
    pairs = [(view.viewer, view.media_id) for view in views]
    assert len(pairs) == len(set(pairs))


def test_good_matches_are_mostly_watched_to_the_end_and_some_views_are_abandoned(world):
    fractions = np.array([view.watch_fraction for day in range(5) for view in world.views(day)])
    assert (fractions == 1.0).mean() > 0.15
    assert (fractions < 0.3).mean() > 0.05


def share_of_picks_near_the_last(world: World, days: int) -> float:
    by_viewer: dict[int, list[str]] = {}
    for day in range(days):
        for view in world.views(day):
            by_viewer.setdefault(view.viewer, []).append(view.media_id)
    index = {item.media_id: row for row, item in enumerate(world.catalogue)}
    follows = [(index[a], index[b]) for picks in by_viewer.values() for a, b in zip(picks, picks[1:])]
    return float(np.mean([b in world.neighbours[a] for a, b in follows]))


def test_sessions_make_the_next_pick_often_a_near_neighbour_of_the_last_one(monkeypatch):
    with_sessions = share_of_picks_near_the_last(World.generate(users=60, items=400, seed=11), days=5)
    monkeypatch.setattr(viewers, "SESSION_PROBABILITY", 0.0)
    without = share_of_picks_near_the_last(World.generate(users=60, items=400, seed=11), days=5)
    # 30 neighbours of 400 items: taste alone finds some (~0.18); sessions add about 0.4 of the rest.
    assert with_sessions > without + 0.2


def test_tastes_drift_as_viewers_watch():
    world = World.generate(users=30, items=200, seed=9)
    for day in range(15):
        world.views(day)
    similarity = np.sum(world.tastes * world.initial_tastes, axis=1)
    assert np.all(similarity < 0.999)
    assert np.median(similarity) < 0.95


def test_ratings_map_watch_fractions_to_half_stars_from_half_to_five():
    assert [rating_for(f) for f in (0.0, 0.05, 0.5, 0.62, 0.99, 1.0)] == [0.5, 0.5, 2.5, 3.5, 5.0, 5.0]
    assert View(0, "m1", 1.0, "evening", "relaxed", EPOCH).rating == 5.0


def test_a_bad_size_is_a_config_error_that_names_the_key():
    with pytest.raises(ConfigError, match="users: must be an integer >= 1; got 0"):
        World.generate(users=0, items=10, seed=1)


def test_written_movielens_files_load_back_with_the_same_views(tmp_path):
    world = World.generate(users=15, items=50, seed=2)
    write_movielens(world, 3, tmp_path)
    dataset = load(tmp_path)
    assert [(item.media_id, item.title, item.genres) for item in dataset.items] == [
        (str(movie_id(item.media_id)), item.title, item.genres) for item in world.catalogue]
    expected = {
        (str(view.viewer + 1), str(movie_id(view.media_id)), view.rating, float(int(view.timestamp)))
        for day in range(3) for view in world.views(day)}
    loaded = {(user, rated.media_id, rated.rating, rated.timestamp)
              for user, rows in dataset.ratings.items() for rated in rows}
    assert loaded == expected
    assert (tmp_path / "ratings.csv").read_text().splitlines()[0] == "userId,movieId,rating,timestamp"


def test_generate_dataset_writes_a_loadable_dataset_of_the_requested_size(tmp_path):
    generate_dataset(tmp_path / "out", users=10, items=40, days=2, seed=1)
    dataset = load(tmp_path / "out")
    assert len(dataset.items) == 40 and len(dataset.ratings) <= 10
