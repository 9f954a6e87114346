"""MovieLens-format datasets: loading, the fixed evaluation protocol, reference systems and metrics.

Use::

    dataset = load(Path("tests/data/movielens_small"))
    held_out = split(dataset)                 # the protocol below
    print(evaluate(item_knn(held_out), held_out))   # {'k': 10, 'users': ..., 'recall': ..., 'ndcg': ...}

The protocol (fixed: results are only comparable if it never changes)
--------------------------------------------------------------------
* A positive is a rating >= 3.5 (``POSITIVE``). Other ratings are ignored.
* Each user's positives are put in timestamp order; ties keep file order.
* Users with fewer than ``min_positives`` (5) positives are dropped.
* The last ``max(1, round(test_fraction * n))`` of a user's ``n`` positives
  are her test set (Python's ``round``, half to even; never all ``n``: at
  least one positive stays for training). With the defaults that is 1 of 5,
  2 of 10, 3 of 13.
* The rest are her training positives, replayed as observations in global
  timestamp order (``Split.replay``).
* A system ranks the whole catalogue (every movie in movies.csv) minus the
  user's own training items; Recall@k and NDCG@k are averaged over the
  split's users.

Reference systems see every user's training positives at once, as a central
server would: ``popularity`` (count of training positives) and ``item_knn``
(cosine over the binary user x item matrix). Ties rank in catalogue order.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omega_actors.brain.catalogue import MediaItem
from omega_actors.errors import BrainInputError, OmegaError

POSITIVE = 3.5
MIN_RATING, MAX_RATING = 0.5, 5.0
RATINGS_HEADER = ("userId", "movieId", "rating", "timestamp")
MOVIES_HEADER = ("movieId", "title", "genres")
NO_GENRES = "(no genres listed)"


class DatasetError(OmegaError):
    """A dataset file is missing or malformed; ``file``, ``line`` and ``column`` locate the problem."""

    def __init__(self, message: str, *, file: Path | str, line: int | None = None, column: str | None = None) -> None:
        self.file, self.line, self.column, self.detail = str(file), line, column, message
        where = f"{file}, line {line}" if line is not None else str(file)
        super().__init__(f"{where}{f', column {column}' if column else ''}: {message}")


class EvaluationError(OmegaError):
    """A ranking or a metric's arguments were rejected (missing user, duplicate items, k < 1)."""


@dataclass(frozen=True, slots=True)
class Rated:
    media_id: str
    rating: float
    timestamp: float


@dataclass(frozen=True, slots=True)
class Dataset:
    items: tuple[MediaItem, ...]                 # movies.csv, in file order
    ratings: Mapping[str, tuple[Rated, ...]]     # userId -> that user's ratings, in file order


@dataclass(frozen=True, slots=True)
class UserSplit:
    user: str
    train: tuple[Rated, ...]   # training positives, oldest first
    test: frozenset[str]       # the media ids of the last positives


@dataclass(frozen=True, slots=True)
class Split:
    items: tuple[MediaItem, ...]
    users: tuple[UserSplit, ...]   # kept users, in order of first appearance in ratings.csv

    def replay(self) -> list[tuple[str, Rated]]:
        """Every training positive as (user, rating), in global timestamp order (ties: user order, then own order)."""
        observations = [(user.user, rated) for user in self.users for rated in user.train]
        return sorted(observations, key=lambda pair: pair[1].timestamp)


# ---------------------------------------------------------------- loading


def load(directory: str | Path) -> Dataset:
    """Read ``movies.csv`` and ``ratings.csv`` from ``directory``; DatasetError names any bad value."""
    directory = Path(directory)
    items = _load_movies(directory / "movies.csv")
    known = {item.media_id for item in items}
    ratings: dict[str, list[Rated]] = {}
    seen: set[tuple[str, str]] = set()
    path = directory / "ratings.csv"
    for line, row in _rows(path, RATINGS_HEADER):
        user = _identifier(row[0], path, line, "userId")
        media_id = _identifier(row[1], path, line, "movieId")
        if media_id not in known:
            raise DatasetError(f"movieId {media_id!r} is not in movies.csv; every rated movie must be listed there",
                               file=path, line=line, column="movieId")
        if (user, media_id) in seen:
            raise DatasetError(f"user {user} rates movie {media_id} twice; each (userId, movieId) pair appears once",
                               file=path, line=line, column="movieId")
        seen.add((user, media_id))
        rating = _number(row[2], path, line, "rating")
        if not MIN_RATING <= rating <= MAX_RATING:
            raise DatasetError(f"rating must be a number in [{MIN_RATING}, {MAX_RATING}]; got {row[2]!r}",
                               file=path, line=line, column="rating")
        ratings.setdefault(user, []).append(Rated(media_id, rating, _number(row[3], path, line, "timestamp")))
    return Dataset(tuple(items), {user: tuple(rows) for user, rows in ratings.items()})


def _load_movies(path: Path) -> list[MediaItem]:
    items, seen = [], set()
    for line, (raw_id, title, genres) in _rows(path, MOVIES_HEADER):
        media_id = _identifier(raw_id, path, line, "movieId")
        if media_id in seen:
            raise DatasetError(f"movieId {media_id} is listed twice; each movie appears once", file=path, line=line,
                               column="movieId")
        seen.add(media_id)
        split_genres = () if genres == NO_GENRES else tuple(genres.split("|"))
        try:
            items.append(MediaItem(media_id, title, split_genres))
        except BrainInputError as error:
            raise DatasetError(f"{error} (genres are '|'-separated names, or {NO_GENRES!r})", file=path, line=line,
                               column="title/genres") from error
    return items


def _rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row, after checking the header and the field count."""
    line, reader = 1, None
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            first = next(reader, None)
            if first is None or tuple(first) != header:
                raise DatasetError(f"the header must be {','.join(header)}; got {first!r}", file=path, line=1)
            for row in reader:
                line = reader.line_num
                if len(row) != len(header):
                    raise DatasetError(f"expected {len(header)} fields ({','.join(header)}); got {len(row)}: {row!r}",
                                       file=path, line=line)
                yield line, row
    except FileNotFoundError:
        raise DatasetError("file not found; a MovieLens directory holds ratings.csv and movies.csv", file=path) from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"not UTF-8 text ({error.reason} at byte {error.start}); MovieLens files are UTF-8",
                           file=path) from None
    except csv.Error as error:
        raise DatasetError(f"not valid CSV: {error}", file=path, line=reader.line_num if reader else line) from None


def _identifier(value: str, path: Path, line: int, column: str) -> str:
    if not value.isascii() or not value.isdigit():
        raise DatasetError(f"{column} must be a non-negative integer; got {value!r}", file=path, line=line, column=column)
    return value


def _number(value: str, path: Path, line: int, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise DatasetError(f"{column} must be a finite number; got {value!r}", file=path, line=line, column=column)
    return number


# ---------------------------------------------------------------- the protocol


def split(dataset: Dataset, min_positives: int = 5, test_fraction: float = 0.2) -> Split:
    """Apply the protocol in the module docs: positives in time order, the last 20% held out."""
    if isinstance(min_positives, bool) or not isinstance(min_positives, int) or min_positives < 2:
        raise EvaluationError(f"min_positives must be an integer >= 2 (one to train, one to test); got {min_positives!r}")
    if not 0.0 < test_fraction < 1.0:
        raise EvaluationError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    users = []
    for user, ratings in dataset.ratings.items():
        positives = sorted((rated for rated in ratings if rated.rating >= POSITIVE), key=lambda rated: rated.timestamp)
        if len(positives) < min_positives:
            continue
        held_out = min(len(positives) - 1, max(1, round(test_fraction * len(positives))))
        cut = len(positives) - held_out
        users.append(UserSplit(user, tuple(positives[:cut]), frozenset(rated.media_id for rated in positives[cut:])))
    return Split(dataset.items, tuple(users))


def training_matrix(split: Split) -> np.ndarray:
    """The binary user x item matrix of training positives (float32, users and items in split order)."""
    column = {item.media_id: number for number, item in enumerate(split.items)}
    matrix = np.zeros((len(split.users), len(split.items)), dtype=np.float32)
    for row, user in enumerate(split.users):
        matrix[row, [column[rated.media_id] for rated in user.train]] = 1.0
    return matrix


# ---------------------------------------------------------------- reference systems


def popularity(split: Split, k: int = 10) -> dict[str, list[str]]:
    """Each user's top k of the catalogue by count of training positives, her own training items left out."""
    matrix = training_matrix(split)
    return _top_k(split, np.broadcast_to(matrix.sum(axis=0), matrix.shape), matrix, k)


def item_knn(split: Split, k: int = 10) -> dict[str, list[str]]:
    """Each user's top k by ``score(u, j) = sum over i in train(u) of cos(i, j)``, training items left out."""
    matrix = training_matrix(split)
    return _top_k(split, item_knn_scores(matrix), matrix, k)


def item_knn_scores(matrix: np.ndarray) -> np.ndarray:
    """``matrix @ C`` where C is the item-item cosine of the binary ``matrix`` (users x items).

    cos(i, j) = co(i, j) / sqrt(n_i n_j), with n_i the item's count and 0 for
    an unseen item. Written as ``(X D) X^T (X D)`` with D = diag(1/sqrt n),
    and multiplied in the order whose middle product is smaller: users x users
    when there are fewer users than items, items x items otherwise. Either way
    no Python loop runs over pairs.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    counts = matrix.sum(axis=0)
    scale = np.zeros_like(counts)
    np.divide(1.0, np.sqrt(counts), out=scale, where=counts > 0)
    scaled = matrix * scale
    if matrix.shape[0] < matrix.shape[1]:
        return (scaled @ matrix.T) @ scaled
    return scaled @ (matrix.T @ scaled)


def _top_k(split: Split, scores: np.ndarray, matrix: np.ndarray, k: int) -> dict[str, list[str]]:
    k = _check_k(k)
    masked = np.where(matrix > 0, -np.inf, scores)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :k]   # stable: ties in catalogue order
    ids = [item.media_id for item in split.items]
    rankings = {}
    for row, user in enumerate(split.users):
        allowed = len(ids) - len(user.train)
        rankings[user.user] = [ids[column] for column in order[row, :allowed]]
    return rankings


# ---------------------------------------------------------------- metrics


def recall_at_k(ranked: Sequence[str], test: Collection[str], k: int) -> float:
    """|top k of ranked ∩ test| / |test|: the standard recall, which cannot reach 1 when |test| > k."""
    top = _checked_top(ranked, test, k)
    return sum(1 for media_id in top if media_id in test) / len(test)


def ndcg_at_k(ranked: Sequence[str], test: Collection[str], k: int) -> float:
    """Binary-relevance NDCG: DCG of the top k over the DCG of min(k, |test|) hits in a row."""
    top = _checked_top(ranked, test, k)
    gain = sum(1.0 / math.log2(position + 2) for position, media_id in enumerate(top) if media_id in test)
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(test))))
    return gain / ideal


def evaluate(rankings: Mapping[str, Sequence[str]], split: Split, k: int = 10) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over the split's users (users only in ``rankings`` are ignored)."""
    k = _check_k(k)
    missing = [user.user for user in split.users if user.user not in rankings]
    if missing:
        raise EvaluationError(f"no ranking for {len(missing)} of the split's users (first: {missing[0]!r}); "
                              "rank every user of the split, even with an empty list")
    if not split.users:
        raise EvaluationError("the split has no users to average over")
    recall = [recall_at_k(rankings[user.user], user.test, k) for user in split.users]
    ndcg = [ndcg_at_k(rankings[user.user], user.test, k) for user in split.users]
    return {"k": k, "users": len(split.users), "recall": float(np.mean(recall)), "ndcg": float(np.mean(ndcg))}


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EvaluationError(f"k must be an integer >= 1; got {k!r}")
    return k


def _checked_top(ranked: Sequence[str], test: Collection[str], k: int) -> Sequence[str]:
    top = ranked[:_check_k(k)]
    if not test:
        raise EvaluationError("the test set is empty; recall and NDCG are undefined without held-out items")
    if len(set(top)) != len(top):
        raise EvaluationError(f"the top {k} repeats an item: {list(top)!r}; a ranking lists each item once")
    return top
