"""A generative model of TV viewers and a catalogue, to replay against the brains.

Use::

    world = World.generate(users=2000, items=1000, seed=7)
    for day in range(7):
        for view in world.views(day):   # every viewer's views that day, in time order
            ...  # view.viewer, view.media_id, view.watch_fraction, view.rating
    write_movielens(world, days=7, directory=Path("out"))   # ratings.csv + movies.csv

The model
---------
Items and viewers share one latent space of ``DIMENSIONS`` dimensions. Each
genre has a random unit centroid; an item is the mean of its genres' centroids
plus noise, and has a Zipf-like popularity (``ZIPF_EXPONENT``). A viewer's
taste starts as a random mix of one to three genre centroids plus noise, then
drifts: a small random step after every view, and every ``SHIFT_EVERY`` views,
with probability ``SHIFT_PROBABILITY``, a pull towards a new genre. A viewer
also has an activity level (lognormal views per day), daypart habits and mood
habits; the daypart and mood of a view tilt genre preferences a little
(``DAYPART_TILT``, ``MOOD_TILT``: late night leans to Horror and Thriller,
mornings to Documentary and Children).

A pick is a softmax over ``taste . item / TEMPERATURE + log popularity +
context tilt`` among the items the viewer has not watched (drawn by inverse
CDF: one uniform per view). With probability ``SESSION_PROBABILITY`` the pool
is the ``SESSION_NEIGHBOURS`` items nearest the previous pick instead: the
"one more like that" session effect, the sequential structure an on-device
recency model can exploit. A good match is mostly watched to the end, a bad
one abandoned (``watch_fraction``); ``rating_for`` maps that onto MovieLens
stars. Tastes drift after every view but are read once a day: a day's
choices use the taste as it stood that morning. That is one matrix product
per day for all viewers instead of one per view, and it is what keeps 2000
viewers x 7 days at about 2-3 seconds.

Determinism
-----------
A viewer never re-watches an item and her taste drifts with every view, so a
day depends on all the days before it. ``World`` therefore plays days in
order itself: ``views(day)`` plays every day up to ``day`` once, caches them,
and returns that day. Each (viewer, day) draws from its own generator seeded
with ``SeedSequence((seed, 1, viewer, day))``, so ``views(day)`` is the same
for a seed whatever was asked before, in whatever order. Asking for day 100
first costs playing days 0 to 99.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omega_actors.brain.catalogue import GENRES, MediaItem, synthetic_catalogue
from omega_actors.brain.ranking import DAYPARTS
from omega_actors.errors import BrainInputError, ConfigError

MOODS = ("relaxed", "curious", "social", "tired")
DIMENSIONS = 12
ITEM_NOISE = 0.35          # spread of an item around its genres' centroid
TASTE_NOISE = 0.3          # spread of a viewer's taste around her genres' mix
ZIPF_EXPONENT = 0.9
TEMPERATURE = 0.12         # on taste . item in [-1, 1]: peaked, but far from argmax
SESSION_PROBABILITY = 0.4
SESSION_NEIGHBOURS = 30
DRIFT_STEP = 0.02          # per-dimension std of the random walk, per view
SHIFT_EVERY = 30
SHIFT_PROBABILITY = 0.3
SHIFT_WEIGHT = 0.6         # how far a shift pulls the taste towards the new genre
MEAN_VIEWS_PER_DAY = 4.0
ACTIVITY_SIGMA = 0.5       # lognormal spread of views per day across viewers
DAYPART_PRIOR = (1.0, 1.5, 4.0, 1.5)   # Dirichlet prior of daypart habits: evenings dominate
MOOD_PRIOR = (2.0, 2.0, 2.0, 2.0)
# Hours after the day's midnight; late night runs past the next midnight (to 05:00).
DAYPART_HOURS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 23), "late_night": (23, 29)}
EPOCH = 1_600_000_000.0    # 2020-09-13 UTC: day 0, so timestamps look like MovieLens'
DAYPART_TILT = {
    "morning": {"Documentary": 0.6, "Children": 0.6, "Animation": 0.3},
    "afternoon": {"Comedy": 0.3, "Adventure": 0.3, "Animation": 0.2},
    "evening": {"Drama": 0.3, "Crime": 0.3, "Action": 0.2},
    "late_night": {"Horror": 0.6, "Thriller": 0.6, "Mystery": 0.3},
}
MOOD_TILT = {
    "relaxed": {"Comedy": 0.4, "Romance": 0.3, "Musical": 0.2},
    "curious": {"Documentary": 0.4, "Mystery": 0.3, "Sci-Fi": 0.3},
    "social": {"Comedy": 0.3, "Adventure": 0.3, "Action": 0.2},
    "tired": {"Animation": 0.3, "Comedy": 0.2, "War": -0.3},
}


def rating_for(watch_fraction: float) -> float:
    """MovieLens stars for a watch fraction: 0 -> 0.5, 1 -> 5.0, in steps of 0.5."""
    return 0.5 + round(float(watch_fraction) * 9) / 2


@dataclass(frozen=True, slots=True)
class View:
    viewer: int
    media_id: str
    watch_fraction: float   # 0 abandoned at once .. 1 watched to the end
    daypart: str
    mood: str
    timestamp: float        # seconds since the Unix epoch

    def __post_init__(self) -> None:
        if not 0.0 <= self.watch_fraction <= 1.0:
            raise BrainInputError(f"watch_fraction must be in [0, 1]; got {self.watch_fraction!r}")
        if self.daypart not in DAYPARTS or self.mood not in MOODS:
            raise BrainInputError(
                f"daypart must be one of {DAYPARTS} and mood one of {MOODS}; got {self.daypart!r}, {self.mood!r}")

    @property
    def rating(self) -> float:
        return rating_for(self.watch_fraction)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"must be an integer >= {minimum}; got {value!r}", key=name)
    return int(value)


def _tilt_vector(tilt: dict[str, float]) -> np.ndarray:
    return np.array([tilt.get(genre, 0.0) for genre in GENRES])


class World:
    """A catalogue and its viewers; ``views(day)`` plays the simulation (see the module docs)."""

    def __init__(self, seed: int, catalogue: list[MediaItem], rng: np.random.Generator, users: int) -> None:
        """Prefer ``World.generate``; this draws everything from ``rng``, items first, then viewers."""
        self.seed = seed
        self.catalogue = catalogue
        self._make_items(rng)
        self._make_viewers(rng, users)
        self._tastes = self.initial_tastes.copy()
        self._available = np.ones((users, len(catalogue)))   # 0 once watched: nobody re-watches
        self._counts = np.zeros(users, dtype=np.int64)
        self._last = np.full(users, -1)
        self._days: list[list[View]] = []

    def _make_items(self, rng: np.random.Generator) -> None:
        catalogue = self.catalogue
        genre_index = {genre: number for number, genre in enumerate(GENRES)}
        membership = np.zeros((len(catalogue), len(GENRES)))
        for row, item in enumerate(catalogue):
            membership[row, [genre_index[genre] for genre in item.genres]] = 1.0
        membership /= np.maximum(membership.sum(axis=1, keepdims=True), 1.0)
        self.centroids = _unit(rng.standard_normal((len(GENRES), DIMENSIONS)))
        noise = ITEM_NOISE * rng.standard_normal((len(catalogue), DIMENSIONS))
        self.item_vectors = _unit(membership @ self.centroids + noise)
        popularity = (1.0 + rng.permutation(len(catalogue))) ** -ZIPF_EXPONENT
        self.popularity = popularity / popularity.max()
        self.neighbours = _nearest(self.item_vectors, min(SESSION_NEIGHBOURS, len(catalogue) - 1))
        tilts = [[_tilt_vector(DAYPART_TILT[d]) + _tilt_vector(MOOD_TILT[m]) for m in MOODS] for d in DAYPARTS]
        self.context_bias = np.array(tilts) @ membership.T   # (daypart, mood, item), in logits
        self._item_weight = self.popularity * np.exp(self.context_bias)

    def _make_viewers(self, rng: np.random.Generator, users: int) -> None:
        self.initial_tastes = np.array([self._first_taste(rng) for _ in range(users)])
        sigma = ACTIVITY_SIGMA
        self.activity = rng.lognormal(np.log(MEAN_VIEWS_PER_DAY) - sigma**2 / 2, sigma, users)
        self.daypart_habits = rng.dirichlet(DAYPART_PRIOR, users)
        self.mood_habits = rng.dirichlet(MOOD_PRIOR, users)
        self._daypart_cdf = np.cumsum(self.daypart_habits, axis=1)
        self._mood_cdf = np.cumsum(self.mood_habits, axis=1)
        hours = np.array([DAYPART_HOURS[name] for name in DAYPARTS], dtype=float)
        self._hour_starts, self._hour_spans = hours[:, 0], hours[:, 1] - hours[:, 0]

    @classmethod
    def generate(cls, users: int, items: int, seed: int) -> World:
        users = _check_count("users", users, 1)
        items = _check_count("items", items, 2)
        seed = _check_count("seed", seed, 0)
        rng = np.random.default_rng(np.random.SeedSequence((seed, 0)))
        return cls(seed, synthetic_catalogue(items, seed=seed), rng, users)

    @property
    def users(self) -> int:
        return len(self.initial_tastes)

    @property
    def days_played(self) -> int:
        return len(self._days)

    @property
    def tastes(self) -> np.ndarray:
        """Each viewer's taste after the days played so far (a copy)."""
        return self._tastes.copy()

    def views(self, day: int) -> list[View]:
        """Day ``day``'s views of every viewer, in time order (plays earlier days first if needed)."""
        day = _check_count("day", day, 0)
        while len(self._days) <= day:
            self._days.append(self._play(len(self._days)))
        return list(self._days[day])

    def _first_taste(self, rng: np.random.Generator) -> np.ndarray:
        genres = rng.choice(len(GENRES), size=rng.integers(1, 4), replace=False)
        weights = rng.dirichlet(np.ones(len(genres)))
        return _unit(weights @ self.centroids[genres] + TASTE_NOISE * rng.standard_normal(DIMENSIONS))

    def _play(self, day: int) -> list[View]:
        # Tastes are read once per day (see the module docs): one matrix
        # product per day instead of one per view.
        affinity = self._tastes @ self.item_vectors.T
        taste_weight = np.exp((affinity - 1.0) / TEMPERATURE)   # affinity <= 1: no overflow
        views = [view for viewer in range(self.users)
                 for view in self._play_viewer(viewer, day, affinity[viewer], taste_weight[viewer])]
        views.sort(key=lambda view: (view.timestamp, view.viewer))
        return views

    def _play_viewer(self, viewer: int, day: int, affinity: np.ndarray, taste_weight: np.ndarray) -> list[View]:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence((self.seed, 1, viewer, day))))
        count = int(rng.poisson(self.activity[viewer]))
        if count == 0:
            return []
        draws = _Draws(rng, count)
        dayparts = _categorical(self._daypart_cdf[viewer], draws.daypart)
        moods = _categorical(self._mood_cdf[viewer], draws.mood)
        hours = self._hour_starts[dayparts] + draws.hour * self._hour_spans[dayparts]
        order = np.argsort(hours, kind="stable")
        weights = taste_weight * self._available[viewer]   # zeroed as the day's picks are watched
        picks = []
        for step in order:
            pick = self._pick(viewer, weights, self._item_weight[dayparts[step], moods[step]], draws.pick[step],
                              draws.session[step] < SESSION_PROBABILITY)
            if pick < 0:
                break   # this viewer has watched the whole catalogue
            picks.append(pick)
            weights[pick] = 0.0
            self._advance(viewer, pick, draws, step)
        order = order[:len(picks)]
        match = 6.0 * (affinity[picks] - 0.3) + draws.noise[order]
        # A sigmoid of the match, stretched past [0, 1] and clipped, so that good
        # matches are often watched to the very end and bad ones dropped at once.
        fractions = np.clip(1.3 / (1.0 + np.exp(-match)) - 0.15, 0.0, 1.0)
        start = EPOCH + day * 86400.0
        return [
            View(viewer, self.catalogue[pick].media_id, float(fraction), DAYPARTS[dayparts[step]],
                 MOODS[moods[step]], start + float(hours[step]) * 3600.0)
            for pick, step, fraction in zip(picks, order, fractions, strict=True)
        ]

    def _pick(self, viewer: int, weights: np.ndarray, context: np.ndarray, uniform: float, session: bool) -> int:
        """An item drawn in proportion to ``weights * context``, from the session pool if there is one."""
        last = self._last[viewer]
        if session and last >= 0:
            pool = self.neighbours[last]
            found = _draw(weights[pool] * context[pool], uniform)
            if found >= 0:
                return int(pool[found])
        return _draw(weights * context, uniform)

    def _advance(self, viewer: int, pick: int, draws: _Draws, step: int) -> None:
        self._available[viewer, pick] = 0.0
        self._last[viewer] = pick
        self._counts[viewer] += 1
        taste = self._tastes[viewer] + draws.drift[step]
        if self._counts[viewer] % SHIFT_EVERY == 0 and draws.shift[step] < SHIFT_PROBABILITY:
            taste = (1 - SHIFT_WEIGHT) * taste / np.sqrt(taste @ taste) + SHIFT_WEIGHT * self.centroids[draws.genre[step]]
        self._tastes[viewer] = taste / np.sqrt(taste @ taste)


class _Draws:
    """All the random numbers one viewer's day needs, in two calls (numpy is fast in bulk, slow per call)."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self.daypart, self.mood, self.hour, self.session, self.pick, self.shift, genre = rng.random((7, count))
        self.genre = (genre * len(GENRES)).astype(np.int64)
        normal = rng.standard_normal((count, DIMENSIONS + 1))
        self.drift = DRIFT_STEP * normal[:, :DIMENSIONS]
        self.noise = normal[:, DIMENSIONS]


def _categorical(cdf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, uniforms, side="right"), len(cdf) - 1)


def _draw(weights: np.ndarray, uniform: float) -> int:
    """An index drawn in proportion to ``weights`` by inverse CDF, or -1 if they are all zero."""
    cdf = np.cumsum(weights)
    if cdf[-1] <= 0.0:
        return -1
    return int(min(np.searchsorted(cdf, uniform * cdf[-1], side="right"), len(cdf) - 1))


def _nearest(vectors: np.ndarray, count: int) -> np.ndarray:
    """Each row's ``count`` nearest other rows by cosine, nearest first; in blocks to bound memory."""
    rows = []
    for start in range(0, len(vectors), 1024):
        similarity = vectors[start:start + 1024] @ vectors.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf
        top = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        rows.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(rows)


def movie_id(media_id: str) -> int:
    """The MovieLens movieId of a generated item: "m0" -> 1 (MovieLens ids start at 1)."""
    return int(media_id.removeprefix("m")) + 1


def write_movielens(world: World, days: int, directory: str | Path) -> None:
    """Write days 0..days-1 as MovieLens ``ratings.csv`` and the catalogue as ``movies.csv``.

    Rows are sorted by userId then movieId, as MovieLens sorts them, so a reader
    must order by timestamp itself. userId is the viewer number plus 1.
    """
    days = _check_count("days", days, 1)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(
        (view.viewer + 1, movie_id(view.media_id), view.rating, int(view.timestamp))
        for day in range(days) for view in world.views(day)
    )
    with open(directory / "ratings.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(("userId", "movieId", "rating", "timestamp"))
        writer.writerows((user, movie, f"{rating:.1f}", stamp) for user, movie, rating, stamp in rows)
    with open(directory / "movies.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(("movieId", "title", "genres"))
        for item in world.catalogue:
            writer.writerow((movie_id(item.media_id), item.title, "|".join(item.genres) or "(no genres listed)"))


def generate_dataset(
    directory: str | Path, users: int = 400, items: int = 600, days: int = 21, seed: int = 2024,
) -> World:
    """Generate a world and write ``days`` of it as a MovieLens-format dataset; returns the world."""
    world = World.generate(users=users, items=items, seed=seed)
    write_movielens(world, days, directory)
    return world
