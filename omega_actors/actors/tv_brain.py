"""The TV brain's actors: the embedder and the memory, with the requests callers send them.

Each TV has its own tree (:func:`omega_actors.app.tv.tv_brain_spec`): the
:class:`EmbedderActor` (the process's shared ONNX session; embeds texts),
the :class:`MemoryActor` (the brain: SQLite memories and the HNSW index
over them), and optionally the sync agent and the improver.

Callers talk to ``tv.<id>.memory`` by registered name: :class:`Observe`,
:class:`Recommend`, :class:`AddItems`, :class:`ApplyPatterns`. When a
request carries text (a query, new items), the memory actor hands it to the
embedder with the caller's address, and the embedder passes the vectors back
to the memory actor, which answers the caller. Nothing waits in a handler.

Why the index is not an actor of its own: it is a cache of the memory's
``items`` table and must change in the same step as that table (an item
added, evicted or touched). Two actors would need a two-phase update across
processes for no gain in isolation: the index is rebuilt from SQLite on any
restart anyway. The embedder is separate because it is the expensive,
shareable part (one ONNX session per process, about 60 MB) and the one
native library most likely to fail on odd input.

Durability: an :class:`Observed` reply is sent only after the episode is
committed to SQLite (WAL). A restarted memory actor reopens the file and
rebuilds a stale or corrupt index from it, so nothing acknowledged is lost
when any of these processes is killed.

Bad input (unknown media, NaN vectors, empty or over-long text, wrong
dimensions) is answered with ``Refused`` and counted; it never crashes the
actor, so a hostile caller cannot exhaust the supervisor's restart intensity.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..brain import (
    Brain,
    BrainSettings,
    ConsolidatedPatterns,
    Episode,
    MediaItem,
    Observation,
    Recommendation,
    RecommendContext,
    shared_embedder,
)
from ..brain.settings import RANKING_KEYS
from ..errors import BrainInputError, OmegaError
from ..genesis.improvement import proven_recall
from ..runtime import Actor, Address, Done, Refused, emit, handler, is_address

CONSOLIDATE_SECONDS = 60.0
F = TypeVar("F", bound=Callable[..., Any])


def names(tv: str) -> dict[str, str]:
    """The registered names of one TV's actors."""
    return {"embedder": f"tv.{tv}.embedder", "memory": f"tv.{tv}.memory", "sync": f"tv.{tv}.sync",
            "improver": f"tv.{tv}.improver"}


def _refusing(method: F) -> F:
    """A handler whose BrainInputError is answered ``Refused`` (named after its message type), never a crash."""

    @functools.wraps(method)
    def refusing(actor: Actor, message: Any) -> Any:
        try:
            return method(actor, message)
        except BrainInputError as exc:
            return _refused(actor, type(message).__name__, exc)

    return refusing  # type: ignore[return-value]


def _refused(actor: Actor, request: str, exc: BrainInputError) -> Refused:
    """Bad input is answered and counted, never a crash: a hostile caller cannot use up the restart intensity."""
    actor.increment("refused")
    emit(logging.WARNING, "brain_input_refused", actor.path, request=request, reason=str(exc))
    return Refused(request, str(exc))


# Requests a caller sends to tv.<id>.memory, and their answers.

def _field(message: object, name: str, kind: type | tuple[type, ...]) -> Any:
    """A request's field, checked: a message built elsewhere may lack it or hold anything."""
    value = getattr(message, name, None)
    if not isinstance(value, kind):
        raise BrainInputError(f"{type(message).__name__}.{name}: expected {getattr(kind, '__name__', kind)}; got {type(value).__name__}")
    return value


def _reply_to(message: object) -> Address:
    value = getattr(message, "reply_to", None)
    if not is_address(value):
        raise BrainInputError(f"{type(message).__name__}.reply_to: expected an actor address; got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class GetSyncView:
    """What the sync agent asks for: the statistics it may share, and the pattern keys it can read."""


@dataclass(frozen=True)
class SyncView:
    patterns: tuple[tuple[str, int, int], ...]  # ("daypart|mood|genre", trials, successes)
    vocabulary: tuple[str, ...]


@dataclass(frozen=True)
class Observe:
    observation: Observation

    def check(self) -> Observation:
        observation: Observation = _field(self, "observation", Observation)
        observation.check()
        return observation


@dataclass(frozen=True)
class Observed:
    episode: int


@dataclass(frozen=True)
class Recommend:
    context: RecommendContext

    def check(self) -> RecommendContext:
        context: RecommendContext = _field(self, "context", RecommendContext)
        context.check()
        return context


@dataclass(frozen=True)
class Recommendations:
    items: tuple[Recommendation, ...]


@dataclass(frozen=True)
class AddItems:
    items: tuple[MediaItem, ...]
    vectors: np.ndarray | None = None  # embedded by the embedder when absent

    def check(self) -> tuple[MediaItem, ...]:
        items: tuple[MediaItem, ...] = _field(self, "items", tuple)
        for item in items:
            if not isinstance(item, MediaItem):
                raise BrainInputError(f"AddItems.items: expected MediaItem entries; got {type(item).__name__}")
            item.check()
        vectors = _field(self, "vectors", (np.ndarray, type(None)))
        if vectors is not None and (vectors.ndim != 2 or len(vectors) != len(items)):
            raise BrainInputError(f"AddItems.vectors: expected {len(items)} rows of 384 numbers; got shape {vectors.shape}")
        return items


@dataclass(frozen=True)
class ItemsAdded:
    count: int
    evicted: tuple[str, ...]


@dataclass(frozen=True)
class ApplyPatterns:
    patterns: ConsolidatedPatterns

    def check(self) -> ConsolidatedPatterns:
        patterns: ConsolidatedPatterns = _field(self, "patterns", ConsolidatedPatterns)
        patterns.check()
        return patterns


@dataclass(frozen=True)
class GetEpisodes:
    """The most recent episodes, oldest first (tests and tools)."""

    limit: int = 1000

    def check(self) -> int:
        limit: int = _field(self, "limit", int)
        return max(1, min(limit, 100_000))


@dataclass(frozen=True)
class Episodes:
    items: tuple[Episode, ...]


@dataclass(frozen=True)
class Retune:
    """Change ranking weights in place (a hot reload); answered with :class:`Retuned`."""

    settings: Mapping[str, float]

    def check(self) -> dict[str, float]:
        table = _field(self, "settings", Mapping)
        return {str(k): v for k, v in table.items()}


@dataclass(frozen=True)
class Retuned:
    settings: Mapping[str, float]  # every ranking weight, after the change


@dataclass(frozen=True)
class ProveRanking:
    """Recall@10 of each candidate change of ranking weights on this TV's own recorded episodes."""

    candidates: tuple[Mapping[str, float], ...]

    def check(self) -> tuple[Mapping[str, float], ...]:
        candidates = _field(self, "candidates", tuple)
        if not 1 <= len(candidates) <= 16 or not all(isinstance(c, Mapping) for c in candidates):
            raise BrainInputError("ProveRanking.candidates: expected 1-16 tables of ranking weights")
        return candidates


@dataclass(frozen=True)
class Proven:
    recalls: tuple[float, ...]
    episodes: int


@dataclass(frozen=True)
class GetStats:
    pass


@dataclass(frozen=True)
class BrainStats:
    items: int
    episodes: int
    rebuilt_index: bool  # this instance found its index file stale or damaged and rebuilt it from SQLite
    fleet_patterns: int = 0  # genre rates and trends applied from the constellation's last bundle


# Between the two actors: the caller's address travels with the work.

# They are checked like any request: a registered name can be reached by anyone in the cluster.

@dataclass(frozen=True)
class EmbedQuery:
    context: RecommendContext
    reply_to: Address

    def check(self) -> RecommendContext:
        _reply_to(self)
        return Recommend(_field(self, "context", RecommendContext)).check()


@dataclass(frozen=True)
class QueryEmbedded:
    context: RecommendContext
    vector: np.ndarray
    reply_to: Address

    def check(self) -> RecommendContext:
        _reply_to(self)
        _field(self, "vector", np.ndarray)
        return Recommend(_field(self, "context", RecommendContext)).check()


@dataclass(frozen=True)
class EmbedItems:
    items: tuple[MediaItem, ...]
    reply_to: Address

    def check(self) -> tuple[MediaItem, ...]:
        _reply_to(self)
        return AddItems(_field(self, "items", tuple)).check()


@dataclass(frozen=True)
class ItemsEmbedded:
    items: tuple[MediaItem, ...]
    vectors: np.ndarray
    reply_to: Address

    def check(self) -> tuple[MediaItem, ...]:
        _reply_to(self)
        return AddItems(_field(self, "items", tuple), _field(self, "vectors", np.ndarray)).check()


@dataclass(frozen=True)
class Consolidate:
    pass


class EmbedderActor(Actor):
    """Embeds texts for one TV's memory actor, on the process's shared session."""

    def __init__(self, tv: str, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = BrainSettings.from_table(settings or {})
        self.tv = tv

    def started(self) -> None:
        self.embedder = shared_embedder(self.settings.model_dir or None, threads=self.settings.threads,
                                        max_chars=self.settings.max_text_chars)

    @handler
    @_refusing
    def embed_query(self, message: EmbedQuery) -> QueryEmbedded | Refused | None:
        context = message.check()
        try:
            vector = self.embedder.embed(context.query)
        except BrainInputError as exc:
            self.send(message.reply_to, _refused(self, "Recommend", exc))
            return None
        return QueryEmbedded(context, vector, message.reply_to)

    @handler
    @_refusing
    def embed_items(self, message: EmbedItems) -> ItemsEmbedded | Refused | None:
        items = message.check()
        try:
            vectors = self.embedder.embed_many([item.text for item in items])
        except BrainInputError as exc:
            self.send(message.reply_to, _refused(self, "AddItems", exc))
            return None
        return ItemsEmbedded(items, vectors, message.reply_to)


class MemoryActor(Actor):
    """One TV's brain: owns its SQLite memory and its index."""

    def __init__(self, tv: str, data_dir: str = "", settings: Mapping[str, Any] | None = None) -> None:
        self.settings = BrainSettings.from_table(settings or {})
        self.tv = tv
        self.directory = Path(data_dir or self.settings.data_dir) / tv
        self.brain: Brain | None = None

    def started(self) -> None:
        # Texts go to the embedder actor; this process never loads the model (about 60 MB).
        self.brain = Brain.open(self.directory, None, self.settings)
        if self.brain.rebuilt_index:
            emit(logging.INFO, "index_rebuilt", self.path, tv=self.tv, items=len(self.brain))
        self.send_after(CONSOLIDATE_SECONDS, Consolidate())

    def stopping(self, reason: object) -> None:
        if self.brain is not None:
            self.brain.close()

    @handler
    @_refusing
    def observe(self, message: Observe) -> Observed | Refused:
        return Observed(self._brain.observe(message.check()))

    @handler
    @_refusing
    def recommend(self, message: Recommend) -> Recommendations | Refused | None:
        context = message.check()
        if context.query:
            self.send_named(names(self.tv)["embedder"], EmbedQuery(context, self._caller()))
            return None
        return self._recommend(context, None)

    @handler
    @_refusing
    def query_embedded(self, message: QueryEmbedded) -> Refused | None:
        context = message.check()
        self.send(message.reply_to, self._recommend(context, message.vector))
        return None

    @handler
    @_refusing
    def add_items(self, message: AddItems) -> ItemsAdded | Refused | None:
        items = message.check()
        if message.vectors is None:
            self.send_named(names(self.tv)["embedder"], EmbedItems(items, self._caller()))
            return None
        return self._add(items, message.vectors)

    @handler
    @_refusing
    def items_embedded(self, message: ItemsEmbedded) -> Refused | None:
        items = message.check()
        self.send(message.reply_to, self._add(items, message.vectors))
        return None

    @handler
    @_refusing
    def apply_patterns(self, message: ApplyPatterns) -> Done | Refused:
        self._brain.apply_patterns(message.check())
        return Done()

    @handler
    @_refusing
    def episodes(self, message: GetEpisodes) -> Episodes | Refused:
        return Episodes(tuple(self._brain.reflexion.recent(message.check())))

    @handler
    @_refusing
    def retune(self, message: Retune) -> Retuned | Refused:
        settings = self._brain.retune(message.check())
        emit(logging.INFO, "brain_retuned", self.path, tv=self.tv, settings=message.settings)
        return Retuned({key: getattr(settings, key) for key in RANKING_KEYS})

    @handler
    @_refusing
    def prove(self, message: ProveRanking) -> Proven | Refused:
        try:
            return self._prove(message.check())
        except OmegaError as exc:  # a replay that cannot prove anything is refused too, never a crash
            raise BrainInputError(str(exc)) from None

    def _prove(self, candidates: tuple[Mapping[str, float], ...]) -> Proven:
        brain = self._brain
        episodes = brain.reflexion.recent(100_000)
        labelled = dict(brain.store.all_items())
        vectors = dict(brain.store.all_vectors())
        labels = [label for label in labelled if label in vectors]
        items = [labelled[label] for label in labels]
        matrix = np.stack([vectors[label] for label in labels]) if labels else np.zeros((0, 384), np.float32)
        recalls = proven_recall(episodes, items, matrix, brain.settings, candidates)
        return Proven(tuple(recalls), len(episodes))

    @handler
    def stats(self, message: GetStats) -> BrainStats:
        brain = self._brain
        patterns = brain.patterns
        return BrainStats(len(brain), brain.reflexion.count(), brain.rebuilt_index,
                          len(patterns.genre_rates) + len(patterns.trends))

    @handler
    def sync_view(self, message: GetSyncView) -> SyncView:
        brain = self._brain
        return SyncView(tuple(brain.local_patterns()), tuple(brain.pattern_vocabulary()))

    @handler
    def consolidate(self, message: Consolidate) -> None:
        self._brain.consolidate()
        self._brain.save_index()
        self.send_after(CONSOLIDATE_SECONDS, Consolidate())

    def _add(self, items: tuple[MediaItem, ...], vectors: np.ndarray) -> ItemsAdded | Refused:
        try:
            return ItemsAdded(len(items), tuple(self._brain.add_items(items, vectors)))
        except BrainInputError as exc:
            return _refused(self, "AddItems", exc)

    def _recommend(self, context: RecommendContext, vector: np.ndarray | None) -> Recommendations | Refused:
        # The query text was embedded by the embedder actor (or there was none).
        try:
            return Recommendations(tuple(self._brain.recommend_with(context, vector)))
        except BrainInputError as exc:
            return _refused(self, "Recommend", exc)

    def _caller(self) -> Address:
        sender = self.sender
        if sender is None:
            raise BrainInputError("a request with text needs a sender to answer")
        return sender

    @property
    def _brain(self) -> Brain:
        assert self.brain is not None, "started() opens the brain before any message"
        return self.brain
