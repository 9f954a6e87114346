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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omega_actors.brain.catalogue import MediaItem, is_text, shared_item
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
from omega_actors.brain.settings import BrainSettings
from omega_actors.errors import BrainInputError

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
        self.weights = Weights(settings.similarity_weight, settings.skill_weight, settings.trend_weight, settings.prior_strength)
        self._items: dict[str, tuple[int, MediaItem]] = {}
        self._by_label: dict[int, MediaItem] = {}
        self._taste_cache: tuple[bool, np.ndarray | None] = (False, None)
        self._recent: deque[tuple[str, float]] = deque(maxlen=settings.recent_window)
        self._unsaved = 0
        self._since_consolidation = 0
        self.rebuilt_index = False
        try:
            self.index = self._open_index()
            self._load_recent()
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

    def apply_patterns(self, patterns: ConsolidatedPatterns) -> None:
        """Take the constellation's consolidated patterns (replacing the previous ones)."""
        self.reasoning.replace_patterns(patterns.as_tables())

    def local_patterns(self) -> list[tuple[str, int, int]]:
        """This TV's skill statistics as ("daypart|mood|genre", trials, successes): what sync may share."""
        return [(f"{skill.context}|{skill.genre}", skill.trials, skill.successes) for skill in self.skills.all()]

    def pattern_vocabulary(self) -> list[str]:
        """Every pattern key this TV could use from the fleet: its dayparts, its moods and "*", its catalogue's genres."""
        moods = {"*"} | {skill.context.split("|", 1)[1] for skill in self.skills.all()}
        genres = {genre for _, item in self._items.values() for genre in item.genres}
        return sorted(f"{daypart}|{mood}|{genre}" for daypart in DAYPARTS for mood in moods for genre in genres)

    @property
    def patterns(self) -> ConsolidatedPatterns:
        return ConsolidatedPatterns.from_tables(self.reasoning.patterns)

    # Recommending.

    def recommend(self, context: RecommendContext) -> list[Recommendation]:
        query = self._embedder().embed(context.query) if context.query else None
        return self.recommend_with(context, query)

    def recommend_with(self, context: RecommendContext, query: np.ndarray | None) -> list[Recommendation]:
        """As :meth:`recommend`, with the query text already embedded (the actors embed elsewhere)."""
        context.check()
        if query is not None:
            query = check_vector(query, what="query vector")
        taste = self._taste(context, query)
        seen = {media for media, _ in self._recent}
        candidates = self._candidates(taste, 3 * context.n + len(seen), seen)
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


def _outcome(observation: Observation, success: bool) -> str:
    if observation.watch_fraction >= 0.9:
        return "finished"
    return "watched" if success else "abandoned"
