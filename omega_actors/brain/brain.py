"""One TV's brain as plain code: observe, recommend, learn items, consolidate.

    embedder = shared_embedder()                      # one per process
    brain = Brain.open("data/tv-1", embedder)
    brain.add_items(synthetic_catalogue(1000))
    brain.observe(Observation("m12", watch_fraction=0.9, daypart="evening", mood="relaxed"))
    brain.recommend(RecommendContext("evening", "relaxed", n=5))

The SQLite memory (:mod:`.memory`) is the source of truth and is committed
before :meth:`Brain.observe` returns; the HNSW index and the in-memory
profiles are caches of it. On open, an index file whose version differs from
the store's, or that fails its checksum, is rebuilt from the store.

The actors in :mod:`omega_actors.actors.tv_brain` split this across
supervised processes; the simulation runs many of these in one process.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from omega_actors.brain.catalogue import MediaItem, is_text, shared_item
from omega_actors.brain.cowatch import (
    CowatchCounter,
    FleetTable,
    cowatch_scores,
    item_ids,
    similarity_rows,
)
from omega_actors.brain.embedder import Embedder, check_vector
from omega_actors.brain.index import IndexUnusable, VectorIndex
from omega_actors.brain.memory import (
    MemoryStore,
    ReasoningBank,
    ReflexionMemory,
    SkillLibrary,
)
from omega_actors.brain.ranking import (
    DAYPARTS,
    NEUTRAL_RATE,
    Candidate,
    ConsolidatedPatterns,
    Recommendation,
    RecommendContext,
    Weights,
    blend,
    check_daypart,
    check_mood,
    rank,
    smoothed,
)
from omega_actors.brain.settings import RANKING_KEYS, BrainSettings
from omega_actors.errors import BrainInputError, ConfigError

log = logging.getLogger("omega_actors.brain")

MEMORY_FILE = "memory.sqlite3"
INDEX_FILE = "index.hnsw"
MAX_RECOMMENDED = 100


@dataclass(frozen=True, slots=True)
class Observation:
    """The viewer watched ``media_id`` for ``watch_fraction`` of it; ``recommended`` is what was on screen."""

    media_id: str
    watch_fraction: float
    daypart: str
    mood: str = "any"
    recommended: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise BrainInputError unless every field is valid (also for one unpickled from elsewhere)."""
        media_id = getattr(self, "media_id", None)
        if not is_text(media_id) or not media_id:
            raise BrainInputError(f"media_id must be non-empty UTF-8 text; got {media_id!r}")
        fraction = getattr(self, "watch_fraction", None)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (0.0 <= fraction <= 1.0):
            raise BrainInputError(f"watch_fraction must be a number in [0, 1]; got {fraction!r}")
        check_daypart(getattr(self, "daypart", None))
        check_mood(getattr(self, "mood", None))
        recommended = getattr(self, "recommended", None)
        if not isinstance(recommended, tuple) or len(recommended) > MAX_RECOMMENDED:
            raise BrainInputError(f"recommended must be a tuple of at most {MAX_RECOMMENDED} media ids")
        if not all(is_text(media) and media for media in recommended):
            raise BrainInputError("recommended must hold non-empty UTF-8 media id strings")


class Brain:
    def __init__(self, directory: Path, embedder: Embedder | None, settings: BrainSettings) -> None:
        self.directory = directory
        self.embedder = embedder
        self.settings = settings
        self.store = MemoryStore(directory / MEMORY_FILE)
        self.reflexion = ReflexionMemory(self.store)
        self.skills = SkillLibrary(self.store)
        self.reasoning = ReasoningBank(self.store)
        self.weights = _weights(settings)
        self._items: dict[str, tuple[int, MediaItem]] = {}
        self._by_label: dict[int, MediaItem] = {}
        self._taste_cache: tuple[bool, np.ndarray | None] = (False, None)
        self._recent: deque[tuple[str, float]] = deque(maxlen=settings.recent_window)
        self._unsaved = 0
        self._since_consolidation = 0
        self.rebuilt_index = False
        self.cowatch = CowatchCounter(settings.cowatch_window)
        self.fleet = FleetTable()  # the constellation's released co-watch counts: a cache, pulled again after a restart
        self._history: deque[str] = deque(maxlen=settings.history_limit)  # successes, oldest first
        self._watched: set[str] = set()
        self._catalogue_cache: tuple[int, list[str], np.ndarray] | None = None
        self._items_version = 0
        self._fleet_cache: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None  # key, cowatch, popularity
        try:
            self.index = self._open_index()
            self._load_recent()
            self._load_history()
        except BaseException:
            self.store.close()
            raise

    @classmethod
    def open(cls, directory: str | Path, embedder: Embedder | None, settings: BrainSettings | None = None) -> Brain:
        """Open (or create) the brain in ``directory``. Without an embedder, texts must arrive embedded."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, embedder, settings or BrainSettings())

    def close(self) -> None:
        try:
            self.save_index()
        finally:
            self.store.close()

    # Items.

    def add_items(self, items: Sequence[MediaItem], vectors: np.ndarray | None = None) -> list[str]:
        """Learn items (embedding their text unless ``vectors`` is given); returns the media ids evicted."""
        if vectors is None:
            vectors = self._embedder().embed_many([item.text for item in items])
        vectors = np.asarray(vectors) if isinstance(vectors, np.ndarray) else vectors
        if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or len(vectors) != len(items):
            raise BrainInputError(f"vectors must be an array of {len(items)} rows, one per item")
        units = [check_vector(vector, what=f"vector of {item.media_id!r}") for item, vector in zip(items, vectors)]
        batch = {item.media_id for item in items}
        new = len(batch - self._items.keys())
        if len(batch) > self.settings.capacity:
            raise BrainInputError(f"{len(batch)} items exceed the index capacity of {self.settings.capacity}")
        # Decide evictions here, never inside the index, so the store and the index drop the same items.
        keep = {self._items[media][0] for media in batch if media in self._items}
        evicted = self.index.eviction_candidates(new, keep=keep)
        evicted_media = [self._by_label[label].media_id for label in evicted]
        with self.store.transaction():
            self.store.delete_items(evicted)
            labels = self.store.put_items(items, units)
        for label in evicted:
            self.index.delete(label)
            self._forget_label(label)
        for label, item, vector in zip(labels, items, units, strict=True):
            self.index.add(label, vector)
            self._remember(label, item)
        self._taste_cache = (False, None)
        self._items_version += 1
        self._changed(len(items) + len(evicted))
        return evicted_media

    def remove_items(self, media_ids: Iterable[str]) -> int:
        labels = [self._items[media][0] for media in media_ids if media in self._items]
        with self.store.transaction():
            self.store.delete_items(labels)
        for label in labels:
            self.index.delete(label)
            self._forget_label(label)
        self._taste_cache = (False, None)
        self._items_version += 1
        self._changed(len(labels))
        return len(labels)

    def item(self, media_id: str) -> MediaItem:
        entry = self._items.get(media_id)
        if entry is None:
            raise BrainInputError(f"unknown media id {media_id!r}: this brain has no such item")
        return entry[1]

    def __len__(self) -> int:
        return len(self._items)

    # Learning.

    def observe(self, observation: Observation) -> int:
        """Record an episode, committed before this returns; returns its id."""
        observation.check()
        label, item = self._known(observation.media_id)
        success = observation.watch_fraction >= self.settings.success_fraction
        outcome = _outcome(observation, success)
        reflection = self._reflect(observation, item, success)
        contexts = (f"{observation.daypart}|{observation.mood}", f"{observation.daypart}|*")
        try:
            with self.store.transaction():
                episode = self.reflexion.record(
                    media_id=observation.media_id, watch_fraction=float(observation.watch_fraction),
                    daypart=observation.daypart, mood=observation.mood, recommended=observation.recommended,
                    outcome=outcome, reflection=reflection,
                )
                for context in contexts:
                    for genre in item.genres:
                        self.skills.record(context, genre, success)
        except BaseException:
            self.skills.reload()  # the cache took writes the file did not
            raise
        self.index.touch(label)
        self._watched.add(observation.media_id)
        if success:
            self._remember_success(observation.media_id)
        self._recent.append((observation.media_id, float(observation.watch_fraction)))
        self._taste_cache = (False, None)
        self._since_consolidation += 1
        if self._since_consolidation >= self.settings.consolidate_every:
            self.consolidate()
        return episode

    def consolidate(self) -> None:
        """Rebuild the ReasoningBank's profiles from the recent episodes."""
        episodes = self.reflexion.recent(self.settings.recent_window * 10)
        known = sorted({e.media_id for e in episodes if e.media_id in self._items})
        rows = self.index.vectors([self._items[media][0] for media in known]) if known else np.zeros((0, 0))
        vectors = dict(zip(known, rows))
        genres = {media: self._items[media][1].genres for media in known}
        self.reasoning.consolidate(episodes, vectors, genres, success=self.settings.success_fraction)
        self._since_consolidation = 0

    def retune(self, changes: Mapping[str, float]) -> BrainSettings:
        """Change ranking weights in place (a hot reload: no restart, nothing re-read); the new settings.

        Only the keys of :data:`RANKING_KEYS` may change here: the others shape
        what is stored (windows, capacity) and need a restart.
        """
        unknown = sorted(set(changes) - set(RANKING_KEYS))
        if unknown:
            raise BrainInputError(f"only ranking weights can be retuned ({', '.join(RANKING_KEYS)}); got {', '.join(unknown)}")
        try:
            settings = replace(self.settings, **dict(changes))  # type: ignore[arg-type]
        except (ConfigError, TypeError) as exc:
            raise BrainInputError(f"bad ranking weights: {exc}") from None
        self.settings = settings
        self.weights = _weights(settings)
        return settings

    def apply_patterns(self, patterns: ConsolidatedPatterns) -> None:
        """Take the constellation's consolidated patterns (replacing the previous ones)."""
        self.reasoning.replace_patterns(patterns.as_tables())

    def local_patterns(self) -> list[tuple[str, int, int]]:
        """This TV's skill statistics as ("daypart|mood|genre", trials, successes): what sync may share."""
        return [(f"{skill.context}|{skill.genre}", skill.trials, skill.successes) for skill in self.skills.all()]

    def cowatch_patterns(self) -> list[tuple[int, int]]:
        """This TV's co-watch counts as (pattern id, count): items and pairs it watched to the end (see cowatch)."""
        return self.cowatch.records()

    def apply_fleet_page(self, lo: int, hi: int, ids: np.ndarray, support: np.ndarray) -> None:
        """One page of the constellation's released counts: it replaces the table's range [lo, hi)."""
        ids, support = np.asarray(ids), np.asarray(support, np.float64)
        if ids.shape != support.shape or ids.ndim != 1 or not 0 <= lo <= hi <= 1 << 32:
            raise BrainInputError("a fleet page is ids and supports of one length, over a range inside [0, 2**32]")
        if len(ids) and ((np.diff(ids.astype(np.int64)) <= 0).any() or ids[0] < lo or ids[-1] >= hi):
            raise BrainInputError("a fleet page's ids must ascend inside its range")
        if not np.isfinite(support).all() or (support < 0).any():
            raise BrainInputError("fleet supports are finite counts >= 0")
        self.fleet.apply_page(lo, hi, ids, support)

    def merge_fleet_records(self, ids: np.ndarray, support: np.ndarray) -> None:
        """The headline page's best-supported records: the most popular items and pairs, before the full table."""
        ids, support = np.asarray(ids), np.asarray(support, np.float64)
        if ids.shape != support.shape or ids.ndim != 1 or len(np.unique(ids)) != len(ids):
            raise BrainInputError("fleet records are distinct ids with one support each")
        if not np.isfinite(support).all() or (support < 0).any():
            raise BrainInputError("fleet supports are finite counts >= 0")
        self.fleet.merge(ids, support)

    def pattern_vocabulary(self) -> list[str]:
        """Every pattern key this TV could use from the fleet: its dayparts, its moods and "*", its catalogue's genres."""
        moods = {"*"} | {skill.context.split("|", 1)[1] for skill in self.skills.all()}
        genres = {genre for _, item in self._items.values() for genre in item.genres}
        return sorted(f"{daypart}|{mood}|{genre}" for daypart in DAYPARTS for mood in moods for genre in genres)

    def usual_daypart(self) -> str:
        """The daypart of most recent episodes ("evening" with none): the context to rank for when none is given."""
        dayparts = [episode.daypart for episode in self.reflexion.recent(self.settings.recent_window)]
        return max(DAYPARTS, key=dayparts.count) if dayparts else "evening"

    @property
    def patterns(self) -> ConsolidatedPatterns:
        return ConsolidatedPatterns.from_tables(self.reasoning.patterns)

    # Recommending.

    def recommend(self, context: RecommendContext) -> list[Recommendation]:
        query = self._embedder().embed(context.query) if context.query else None
        return self.recommend_with(context, query)

    def recommend_with(self, context: RecommendContext, query: np.ndarray | None, *,
                       exhaustive: bool = False) -> list[Recommendation]:
        """As :meth:`recommend`, with the query text already embedded (the actors embed elsewhere).

        ``exhaustive`` scores every item instead of the best candidates of each signal (an evaluation
        ranks the whole catalogue; a TV on screen needs milliseconds)."""
        context.check()
        if query is not None:
            query = check_vector(query, what="query vector")
        taste = self._taste(context, query)
        seen = self._watched if context.unseen_only else {media for media, _ in self._recent}
        wanted = len(self._items) if exhaustive else min(3 * context.n + len(seen), len(self._items))
        candidates = self._with_fleet(self._candidates(taste, wanted, seen), wanted, seen)
        anchor = self._anchor()
        return rank(candidates, context, self._skill, self._trend_scores(candidates, context), self.weights, anchor=anchor)

    def _trend_scores(self, candidates: list[Candidate], context: RecommendContext) -> Mapping[str, float]:
        """Fleet trend per candidate: its item score, or its genres' trend in this daypart and mood."""
        items = self.reasoning.patterns.get("item_score", {})
        trends = self.reasoning.patterns.get("trend", {})
        if not trends:
            return items
        scores = dict(items)
        for candidate in candidates:
            best = max((trends.get(f"{context.daypart}|{context.mood}|{genre}",
                                   trends.get(f"{context.daypart}|*|{genre}", 0.0)) for genre in candidate.genres), default=0.0)
            if best > scores.get(candidate.media_id, 0.0):
                scores[candidate.media_id] = best
        return scores

    def _taste(self, context: RecommendContext, query: np.ndarray | None) -> np.ndarray | None:
        profiles = self.reasoning.profiles
        def vector(key: str) -> np.ndarray | None:
            profile = profiles.get(key)
            return profile.vector if profile else None
        return blend([
            (query, 2.0),
            (self._recent_taste(), 0.6),
            (vector(f"daypart:{context.daypart}"), 0.3),
            (vector(f"mood:{context.mood}"), 0.2),
            (vector("all"), 0.2),
        ])

    def _candidates(self, taste: np.ndarray | None, k: int, seen: set[str]) -> list[Candidate]:
        if taste is None:
            return self._cold_candidates(k, seen)
        found = []
        for label, similarity in self.index.search(taste, min(k, len(self.index)) or 1):
            item = self._by_label.get(label)
            if item is not None and item.media_id not in seen:
                found.append(Candidate(item.media_id, item.title, item.genres, similarity))
        return found

    def _with_fleet(self, candidates: list[Candidate], k: int, seen: set[str]) -> list[Candidate]:
        """Each candidate's co-watch and popularity scores, plus the best co-watch items the taste missed."""
        media, _ = self._catalogue()
        cowatch, popularity = self._fleet_scores()
        if not media or not (cowatch.any() or popularity.any()):
            return candidates
        position = {m: i for i, m in enumerate(media)}
        chosen = {c.media_id: c for c in candidates}
        for signal in (cowatch, popularity):
            for i in np.argsort(-signal, kind="stable")[:k]:
                if signal[i] <= 0:
                    break
                if media[i] not in chosen and media[i] not in seen:
                    item = self._items[media[i]][1]
                    chosen[media[i]] = Candidate(media[i], item.title, item.genres, 0.0)
        top = float(cowatch.max()) or 1.0
        # Popularity is for viewers the TV knows little about: it fades as their own history grows.
        fade_after = self.settings.popularity_fade
        fade = fade_after / (fade_after + len(self._history)) if fade_after > 0 else 0.0
        popularity = popularity * fade
        return [
            replace(c, cowatch=float(cowatch[position[c.media_id]]) / top, popularity=float(popularity[position[c.media_id]]))
            for c in chosen.values() if c.media_id in position
        ]

    def _catalogue(self) -> tuple[list[str], np.ndarray]:
        if self._catalogue_cache is None or self._catalogue_cache[0] != self._items_version:
            media = sorted(self._items)
            self._catalogue_cache = (self._items_version, media, item_ids(media))
        return self._catalogue_cache[1], self._catalogue_cache[2]

    def _fleet_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Recency-weighted co-watch and popularity (support over the largest) of every catalogue item, cached
        until either side changes."""
        key = (self.fleet.version, self._items_version)
        if self._fleet_cache is None or self._fleet_cache[0] != key:
            media, ids = self._catalogue()
            known = [m for m in self._history if m in self._items]
            cowatch = cowatch_scores(self.fleet, known, ids, self.settings.cowatch_decay)
            support = self.fleet.lookup(ids)
            popularity = support / support.max() if len(support) and support.max() > 0 else np.zeros(len(media))
            self._fleet_cache = (key, cowatch, popularity)
        return self._fleet_cache[1], self._fleet_cache[2]

    def _remember_success(self, media_id: str) -> None:
        self.cowatch.add(media_id)
        if len(self._history) == self._history.maxlen:
            self._fleet_cache = None  # the oldest item leaves the sum: recompute rather than carry its weight
        self._history.append(media_id)
        if self._fleet_cache is not None and self._fleet_cache[0] == (self.fleet.version, self._items_version):
            # One step of the recency-weighted sum: older items fade by `decay`, the new one adds its row.
            _, ids = self._catalogue()
            row = similarity_rows(self.fleet, item_ids([media_id]), ids)[0]
            key, cowatch, popularity = self._fleet_cache
            self._fleet_cache = (key, cowatch * self.settings.cowatch_decay + row, popularity)

    def _load_history(self) -> None:
        """Every success, oldest first: the co-watch counts after a restart are the ones before it."""
        for media_id in self.reflexion.successes(self.settings.success_fraction):
            self._remember_success(media_id)
        self._watched.update(self.reflexion.media_ids())

    def _cold_candidates(self, k: int, seen: set[str]) -> list[Candidate]:
        """No taste yet: the fleet's trending items, then the most recently learned ones."""
        trending = sorted(self.reasoning.patterns.get("item_score", {}).items(), key=lambda pair: (-pair[1], pair[0]))
        media = [m for m, _ in trending if m in self._items] + [self._by_label[label].media_id for label in reversed(self.index.labels())]
        chosen: list[Candidate] = []
        for media_id in dict.fromkeys(media):
            if media_id not in seen:
                item = self._items[media_id][1]
                chosen.append(Candidate(media_id, item.title, item.genres, 0.0))
            if len(chosen) >= k:
                break
        return chosen

    def _skill(self, context: str, genre: str) -> tuple[float, int, int]:
        daypart = context.split("|", 1)[0]
        fleet = self.reasoning.patterns.get("genre_rate", {})
        prior = fleet.get(f"{context}|{genre}", fleet.get(f"{daypart}|*|{genre}", NEUTRAL_RATE))
        broad = self.skills.get(f"{daypart}|*", genre)
        prior = smoothed(broad.trials, broad.successes, prior, self.weights.prior_strength)
        exact = self.skills.get(context, genre)
        rate = smoothed(exact.trials, exact.successes, prior, self.weights.prior_strength)
        return rate, exact.trials, exact.successes

    def _recent_taste(self) -> np.ndarray | None:
        fresh, taste = self._taste_cache
        if not fresh:
            watched = [(m, f) for m, f in self._recent if f >= self.settings.success_fraction and m in self._items]
            rows = self.index.vectors([self._items[m][0] for m, _ in watched]) if watched else np.zeros((0, 0))
            taste = blend([(row, f) for row, (_, f) in zip(rows, watched)]) if watched else None
            self._taste_cache = (True, taste)
        return taste

    def _anchor(self) -> str:
        for media, fraction in reversed(self._recent):
            if fraction >= self.settings.success_fraction and media in self._items:
                return self._items[media][1].title
        return ""

    # Caches of the store.

    def _open_index(self) -> VectorIndex:
        for label, item in self.store.all_items():
            self._remember(label, item)
        path = self.directory / INDEX_FILE
        version = self.store.items_version()
        try:
            index = VectorIndex.load(path, version, self.settings.index_params)
            if set(index.labels()) == set(self._by_label):
                return index
            reason = "its labels differ from the store's items"
        except IndexUnusable as exc:
            reason = str(exc)
        log.info("brain %s: rebuilding the index (%s)", self.directory, reason)
        self.rebuilt_index = True
        self._shrink_to_capacity()
        index = VectorIndex(self.settings.index_params)
        for label, vector in self.store.all_vectors():
            if index.add(label, vector):
                raise AssertionError("the index evicted during a rebuild; the store must fit its capacity first")
        index.save(path, self.store.items_version())
        return index

    def _shrink_to_capacity(self) -> None:
        """A lowered capacity: drop the oldest items not recently watched, from the store first."""
        excess = len(self._by_label) - self.settings.capacity
        if excess <= 0:
            return
        recent = {episode.media_id for episode in self.reflexion.recent(self.settings.recent_window)}
        ordered = sorted(self._by_label, key=lambda label: (self._by_label[label].media_id in recent, label))
        victims = ordered[:excess]
        with self.store.transaction():
            self.store.delete_items(victims)
        for label in victims:
            self._forget_label(label)
        log.info("brain %s: dropped %d items over the capacity of %d", self.directory, excess, self.settings.capacity)

    def _load_recent(self) -> None:
        for episode in self.reflexion.recent(self.settings.recent_window):
            self._recent.append((episode.media_id, episode.watch_fraction))
            if episode.media_id in self._items:
                self.index.touch(self._items[episode.media_id][0])

    def save_index(self) -> None:
        self.index.save(self.directory / INDEX_FILE, self.store.items_version())
        self._unsaved = 0

    def _changed(self, count: int) -> None:
        self._unsaved += count
        if self._unsaved >= self.settings.save_index_every:
            self.save_index()

    def _remember(self, label: int, item: MediaItem) -> None:
        item = shared_item(item)
        previous = self._items.get(item.media_id)
        if previous is not None and previous[0] != label:
            self._forget_label(previous[0])
        self._items[item.media_id] = (label, item)
        self._by_label[label] = item

    def _forget_label(self, label: int) -> None:
        item = self._by_label.pop(label, None)
        if item is not None:
            self._items.pop(item.media_id, None)

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            raise BrainInputError("this brain was opened without an embedder: send vectors, not texts")
        return self.embedder

    def _known(self, media_id: str) -> tuple[int, MediaItem]:
        entry = self._items.get(media_id)
        if entry is None:
            raise BrainInputError(f"unknown media id {media_id!r}: add the item before observing it")
        return entry

    def _reflect(self, observation: Observation, item: MediaItem, success: bool) -> str:
        genres = "/".join(item.genres) or "untagged"
        when = f"{observation.mood} {observation.daypart.replace('_', ' ')}"
        percent = f"{round(observation.watch_fraction * 100)}%"
        if observation.media_id in observation.recommended:
            rank_ = observation.recommended.index(observation.media_id) + 1
            verdict = "worked" if success else "was abandoned"
            return f"our pick #{rank_} ({genres}) {verdict} at {percent} on a {when}"
        if observation.recommended:
            return f"chose {genres} over our picks on a {when}; watched {percent}"
        return f"watched {genres} on a {when}: {percent}"


def _weights(settings: BrainSettings) -> Weights:
    return Weights(settings.similarity_weight, settings.skill_weight, settings.trend_weight, settings.prior_strength,
                   settings.cowatch_weight, settings.popularity_weight, settings.query_weight)


def _outcome(observation: Observation, success: bool) -> str:
    if observation.watch_fraction >= 0.9:
        return "finished"
    return "watched" if success else "abandoned"
