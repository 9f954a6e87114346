"""The MovieLens loader, the fixed protocol, the reference systems and the metrics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omega_actors.evaluation.movielens import (
    DatasetError,
    EvaluationError,
    Rated,
    evaluate,
    item_knn,
    item_knn_scores,
    load,
    ndcg_at_k,
    popularity,
    recall_at_k,
    split,
    training_matrix,
)

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "movielens_small"


def write(directory: Path, ratings: list[tuple], movies: int = 12) -> Path:
    """A tiny dataset: movies 1..movies, and the given (user, movie, rating, timestamp) rows in that order."""
    lines = ["movieId,title,genres", *(f"{m},Film {m} (2000),Drama" for m in range(1, movies + 1))]
    (directory / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["userId,movieId,rating,timestamp", *(",".join(str(field) for field in row) for row in ratings)]
    (directory / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


def positives(user: str, count: int, start: int = 1) -> list[tuple]:
    return [(user, start + n, 4.0, 100 + n) for n in range(count)]


# ---------------------------------------------------------------- loading


def test_movies_keep_their_ids_titles_and_genres_and_no_genres_listed_means_none(tmp_path):
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,"Heat, Again (1995)",Action|Crime\n2,Untitled (2001),(no genres listed)\n',
        encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n7,2,3.0,5\n", encoding="utf-8")
    dataset = load(tmp_path)
    assert [(item.media_id, item.title, item.genres) for item in dataset.items] == [
        ("1", "Heat, Again (1995)", ("Action", "Crime")), ("2", "Untitled (2001)", ())]
    assert dataset.ratings == {"7": (Rated("2", 3.0, 5.0),)}


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="movies.csv: file not found"):
        load(tmp_path)


def test_a_wrong_header_names_the_file_line_and_the_expected_header(tmp_path):
    write(tmp_path, [])
    (tmp_path / "ratings.csv").write_text("user,movie,rating,timestamp\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"ratings.csv, line 1: the header must be userId,movieId,rating,timestamp"):
        load(tmp_path)


@pytest.mark.parametrize(("row", "column", "accepted"), [
    ("1,1,five,10", "rating", "finite number; got 'five'"),
    ("1,1,5.5,10", "rating", r"number in \[0.5, 5.0\]; got '5.5'"),
    ("1,1,0,10", "rating", r"number in \[0.5, 5.0\]; got '0'"),
    ("1,99,4.0,10", "movieId", "'99' is not in movies.csv"),
    ("x,1,4.0,10", "userId", "non-negative integer; got 'x'"),
    ("1,1,4.0,soon", "timestamp", "finite number; got 'soon'"),
    ("1,2,4.0,10", "movieId", "rates movie 2 twice"),
])
def test_a_bad_rating_row_names_file_line_column_value_and_what_is_accepted(tmp_path, row, column, accepted):
    write(tmp_path, [(1, 2, 4.0, 9)])
    with open(tmp_path / "ratings.csv", "a", encoding="utf-8") as file:
        file.write(row + "\n")
    with pytest.raises(DatasetError, match=f"ratings.csv, line 3, column {column}: .*{accepted}") as raised:
        load(tmp_path)
    assert (raised.value.line, raised.value.column) == (3, column)


def test_a_row_with_the_wrong_number_of_fields_is_rejected_with_its_line(tmp_path):
    write(tmp_path, [(1, 1, 4.0, 9), (1, 2, 4.0)])
    with pytest.raises(DatasetError, match=r"ratings.csv, line 3: expected 4 fields"):
        load(tmp_path)


def test_a_duplicate_movie_and_an_empty_title_are_rejected_with_their_lines(tmp_path):
    write(tmp_path, [])
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A (1990),Drama\n1,B (1991),Drama\n")
    with pytest.raises(DatasetError, match="movies.csv, line 3, column movieId: movieId 1 is listed twice"):
        load(tmp_path)
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1, ,Drama\n")
    with pytest.raises(DatasetError, match="movies.csv, line 2, column title/genres: .*title"):
        load(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    write(tmp_path, [])
    (tmp_path / "movies.csv").write_bytes(b"movieId,title,genres\n1,Caf\xe9 (1990),Drama\n")
    with pytest.raises(DatasetError, match="movies.csv: not UTF-8"):
        load(tmp_path)


# ---------------------------------------------------------------- the protocol


def test_a_positive_is_a_rating_of_at_least_three_and_a_half(tmp_path):
    rows = [("1", 1, 3.5, 1), ("1", 2, 3.0, 2), ("1", 3, 5.0, 3), ("1", 4, 4.0, 4), ("1", 5, 3.5, 5),
            ("1", 6, 0.5, 6), ("1", 7, 4.5, 7)]
    held_out = split(load(write(tmp_path, rows)))
    (user,) = held_out.users
    assert [rated.media_id for rated in user.train] == ["1", "3", "4", "5"]
    assert user.test == {"7"}


def test_positives_are_ordered_by_timestamp_and_ties_keep_file_order(tmp_path):
    rows = [("1", 5, 4.0, 30), ("1", 3, 4.0, 10), ("1", 1, 4.0, 20), ("1", 2, 4.0, 10), ("1", 4, 4.0, 40)]
    (user,) = split(load(write(tmp_path, rows))).users
    assert [rated.media_id for rated in user.train] == ["3", "2", "1", "5"]
    assert user.test == {"4"}


def test_users_with_fewer_than_five_positives_are_dropped(tmp_path):
    rows = [*positives("1", 4), ("1", 9, 3.0, 500), *positives("2", 5)]
    held_out = split(load(write(tmp_path, rows)))
    assert [user.user for user in held_out.users] == ["2"]


@pytest.mark.parametrize(("count", "held_out"), [(5, 1), (7, 1), (8, 2), (10, 2), (12, 2), (13, 3)])
def test_the_last_fifth_of_the_positives_rounded_and_at_least_one_is_held_out(tmp_path, count, held_out):
    (user,) = split(load(write(tmp_path, positives("1", count), movies=count))).users
    assert user.test == {str(n) for n in range(count - held_out + 1, count + 1)}
    assert len(user.train) == count - held_out


def test_replay_yields_every_training_positive_in_global_time_order(tmp_path):
    rows = [*[("1", n, 4.0, 10 * n) for n in range(1, 7)], *[("2", n, 4.0, 10 * n + 5) for n in range(1, 7)]]
    replay = split(load(write(tmp_path, rows))).replay()
    assert [(user, rated.timestamp) for user, rated in replay] == [
        ("1", 10.0), ("2", 15.0), ("1", 20.0), ("2", 25.0), ("1", 30.0), ("2", 35.0),
        ("1", 40.0), ("2", 45.0), ("1", 50.0), ("2", 55.0)]


def test_rankings_cover_the_catalogue_minus_the_users_own_training_items(tmp_path):
    rows = [*positives("1", 6), *positives("2", 5, start=3), ("2", 12, 1.0, 999)]
    held_out = split(load(write(tmp_path, rows)))
    for system in (popularity, item_knn):
        rankings = system(held_out, k=100)
        for user in held_out.users:
            train = {rated.media_id for rated in user.train}
            assert set(rankings[user.user]) == {str(n) for n in range(1, 13)} - train
            assert len(rankings[user.user]) == 12 - len(train)


def test_popularity_ranks_by_count_of_training_positives_and_breaks_ties_in_catalogue_order(tmp_path):
    rows = [*positives("1", 6, start=1), *positives("2", 6, start=3), *positives("3", 6, start=3)]
    held_out = split(load(write(tmp_path, rows)))
    # Training positives: user 1 has 1-5, users 2 and 3 have 3-7: items 3-5 thrice, 6-7 twice, 1-2 once.
    assert popularity(held_out, k=3)["1"] == ["6", "7", "8"]
    assert popularity(held_out, k=4)["2"] == ["1", "2", "8", "9"]


# ---------------------------------------------------------------- item kNN


def plain_item_knn(matrix: np.ndarray) -> np.ndarray:
    """The definition, loop by loop: score(u, j) = sum over i in train(u) of cos(i, j)."""
    users, items = matrix.shape
    cosine = [[0.0] * items for _ in range(items)]
    for i in range(items):
        for j in range(items):
            both = sum(1 for u in range(users) if matrix[u, i] and matrix[u, j])
            n_i, n_j = sum(matrix[:, i] > 0), sum(matrix[:, j] > 0)
            cosine[i][j] = both / math.sqrt(n_i * n_j) if n_i and n_j else 0.0
    return np.array([[sum(cosine[i][j] for i in range(items) if matrix[u, i]) for j in range(items)]
                     for u in range(users)])


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.sampled_from([0.0, 1.0])))
def test_item_knn_scores_match_the_definition_computed_pair_by_pair(matrix):
    assert np.allclose(item_knn_scores(matrix), plain_item_knn(matrix), atol=1e-5)


def test_item_knn_recommends_what_similar_users_watched(tmp_path):
    # Users 2 and 3 trained on 9 and 1-4; user 1 trained on 1-5: 9 should come first for her.
    rows = [*positives("1", 6), *[(u, m, 4.0, m % 9) for u in ("2", "3") for m in (1, 2, 3, 4, 5, 9)],
            *[("4", m, 4.0, m) for m in (6, 7, 8, 10, 11, 12)]]
    held_out = split(load(write(tmp_path, rows)))
    assert training_matrix(held_out).sum() == sum(len(user.train) for user in held_out.users)
    assert item_knn(held_out, k=1)["1"] == ["9"]


# ---------------------------------------------------------------- metrics


def test_recall_is_hits_in_the_top_k_over_the_whole_test_set():
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "x"}, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "x"}, k=4) == pytest.approx(2 / 3)
    # The standard definition: with more test items than k, recall cannot reach 1.
    assert recall_at_k(["a", "b"], {"a", "b", "c", "d"}, k=2) == pytest.approx(0.5)


def test_ndcg_discounts_hits_by_rank_against_min_k_and_test_size_ideal_hits():
    # Hits at ranks 2 and 4 of 4; ideal: 2 hits at ranks 1 and 2.
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, k=4) == pytest.approx(expected)
    # Three test items but k = 2: the ideal is two hits, so a perfect top 2 scores 1.
    assert ndcg_at_k(["b", "d", "a"], {"b", "d", "x"}, k=2) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "c"], {"b"}, k=2) == 0.0


def test_metrics_reject_an_empty_test_set_a_repeated_item_and_k_below_one():
    with pytest.raises(EvaluationError, match="test set is empty"):
        recall_at_k(["a"], set(), k=1)
    with pytest.raises(EvaluationError, match="repeats an item"):
        ndcg_at_k(["a", "a"], {"a"}, k=2)
    with pytest.raises(EvaluationError, match="k must be an integer >= 1; got 0"):
        recall_at_k(["a"], {"a"}, k=0)


def test_evaluate_averages_over_the_splits_users_and_requires_a_ranking_for_each(tmp_path):
    rows = [*positives("1", 5), *positives("2", 5)]
    held_out = split(load(write(tmp_path, rows)))
    assert evaluate({"1": ["5"], "2": ["9"], "ghost": ["1"]}, held_out, k=1) == {
        "k": 1, "users": 2, "recall": 0.5, "ndcg": 0.5}
    with pytest.raises(EvaluationError, match="no ranking for 1 of the split's users"):
        evaluate({"1": ["5"]}, held_out)


# ---------------------------------------------------------------- the shipped dataset


@pytest.fixture(scope="module")
def shipped():
    return split(load(SHIPPED))


def test_the_shipped_dataset_loads_and_the_protocol_keeps_most_of_its_users(shipped):
    dataset = load(SHIPPED)
    assert (len(dataset.items), len(dataset.ratings)) == (600, 400)
    assert 25_000 <= sum(len(rows) for rows in dataset.ratings.values()) <= 40_000
    assert len(shipped.users) >= 0.95 * len(dataset.ratings)
    assert all(user.train and user.test for user in shipped.users)


def test_on_the_shipped_dataset_item_knn_beats_popularity_at_recall_10(shipped):
    knn, popular = evaluate(item_knn(shipped), shipped), evaluate(popularity(shipped), shipped)
    assert knn["recall"] > 1.5 * popular["recall"]
    assert knn["ndcg"] > popular["ndcg"]
