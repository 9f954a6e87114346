"""An HNSW index of item vectors: cosine, bounded, with deletes and safe persistence.

Labels are the integer keys the caller chooses (the brain uses SQLite row
ids). When the index is full, :meth:`VectorIndex.add` evicts the least
recently used labels first; :meth:`touch` marks a label as used. Deleted
slots are reused, so a long-lived index does not grow past its capacity.

Persistence writes the hnswlib file and a small JSON sidecar (version,
count, sha256 of the index file), each through a temp file and a rename.
:meth:`VectorIndex.load` checks the sidecar before handing the file to
hnswlib: a truncated or altered file would otherwise reach C++ code that
trusts its own headers. A missing, corrupt or stale file raises
:class:`IndexUnusable`, and the caller rebuilds from its source of truth.

hnswlib releases the GIL in its queries, so every call holds one lock: a
brain is single-threaded in an actor, but a simulation or benchmark may
share one from threads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from omega_actors.brain.embedder import DIMENSIONS, check_vector
from omega_actors.errors import BrainInputError
from omega_actors.storage.files import write_atomically

INITIAL_SLOTS = 1024


class IndexUnusable(Exception):
    """The index file is missing, corrupt or out of date: rebuild it."""


@dataclass(frozen=True, slots=True)
class IndexParams:
    capacity: int = 10_000
    m: int = 8
    ef_construction: int = 100
    ef_search: int = 64
    dimensions: int = DIMENSIONS

    def __post_init__(self) -> None:
        for name in ("capacity", "m", "ef_construction", "ef_search"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"IndexParams.{name}: expected a whole number >= 1; got {value!r}")


class VectorIndex:
    def __init__(self, params: IndexParams = IndexParams(), *, _loaded_from: Path | None = None) -> None:
        self.params = params
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="cosine", dim=params.dimensions)
        if _loaded_from is None:
            # Start small and grow: a brain of 1,000 items should not pay for 10,000 slots.
            self._index.init_index(
                max_elements=min(params.capacity, INITIAL_SLOTS), ef_construction=params.ef_construction, M=params.m,
                allow_replace_deleted=True,
            )
        else:
            # hnswlib sizes a loaded index to max(its item count, max_elements): an empty one would get 0 slots.
            self._index.load_index(str(_loaded_from), max_elements=min(params.capacity, INITIAL_SLOTS), allow_replace_deleted=True)
        self._index.set_ef(params.ef_search)
        self._index.set_num_threads(1)
        self._recency: OrderedDict[int, None] = OrderedDict()  # least recently used first
        self._deleted: set[int] = set()  # labels hnswlib still holds, marked deleted

    def __len__(self) -> int:
        return len(self._recency)

    def __contains__(self, label: object) -> bool:
        return label in self._recency

    def labels(self) -> list[int]:
        return list(self._recency)

    def add(self, label: int, vector: object) -> list[int]:
        """Insert or replace ``label``; returns the labels evicted to make room."""
        unit = check_vector(vector)
        with self._lock:
            if label in self._recency:
                self._index.add_items(unit[None, :], [label], replace_deleted=False)
                self._recency.move_to_end(label)
                return []
            evicted = self._make_room(1)
            if not self._revive(label):
                self._grow_if_full()
                self._index.add_items(unit[None, :], [label], replace_deleted=True)
                self._prune_deleted()
            else:
                self._index.add_items(unit[None, :], [label], replace_deleted=False)
            self._recency[label] = None
            return evicted

    def _revive(self, label: int) -> bool:
        """Unmark a label hnswlib still holds as deleted.

        Adding such a label as new would let hnswlib hand it another deleted
        slot while its old entry lingers: two slots, one label, a corrupt
        lookup. Unmarked, it is updated in place instead.
        """
        if label not in self._deleted:
            return False
        self._deleted.discard(label)
        try:
            self._index.unmark_deleted(label)
        except RuntimeError:  # its slot has gone to another label since
            return False
        return True

    def _prune_deleted(self) -> None:
        # Deleted labels whose slots were reused leave hnswlib silently; forget them now and then.
        if len(self._deleted) > 2 * self._index.get_max_elements():
            self._deleted &= set(self._index.get_ids_list())

    def add_many(self, labels: Iterable[int], vectors: np.ndarray) -> list[int]:
        evicted: list[int] = []
        for label, vector in zip(labels, vectors, strict=True):
            evicted.extend(self.add(label, vector))
        return evicted

    def delete(self, label: int) -> bool:
        with self._lock:
            if label not in self._recency:
                return False
            self._index.mark_deleted(label)
            self._deleted.add(label)
            del self._recency[label]
            return True

    def touch(self, label: int) -> None:
        with self._lock:
            if label in self._recency:
                self._recency.move_to_end(label)

    def search(self, vector: object, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (label, cosine similarity) pairs, most similar first."""
        unit = check_vector(vector, what="query vector")
        if k < 1:
            raise BrainInputError(f"k must be >= 1; got {k}")
        with self._lock:
            count = min(k, len(self._recency))
            if count == 0:
                return []
            try:
                labels, distances = self._index.knn_query(unit[None, :], k=count)
            except RuntimeError:
                # hnswlib cannot always reach `count` items through the graph (near-duplicates,
                # churn, k close to the size): answer exactly instead.
                return self._exact(unit, count)
        return [(int(label), 1.0 - float(distance)) for label, distance in zip(labels[0], distances[0])]

    def _exact(self, unit: np.ndarray, count: int) -> list[tuple[int, float]]:
        labels = list(self._recency)
        similarities = self.vectors(labels) @ unit
        order = np.argsort(-similarities, kind="stable")[:count]
        return [(labels[i], float(similarities[i])) for i in order]

    def vectors(self, labels: list[int]) -> np.ndarray:
        """The stored unit vectors of ``labels`` (all present), one row each."""
        with self._lock:
            return np.asarray(self._index.get_items(labels), dtype=np.float32).reshape(len(labels), self.params.dimensions)

    def _grow_if_full(self) -> None:
        slots = self._index.get_max_elements()
        # Deleted slots are reused first; only a full index of live items grows.
        if len(self._recency) >= slots and slots < self.params.capacity:
            self._index.resize_index(min(self.params.capacity, max(slots * 2, INITIAL_SLOTS)))

    def eviction_candidates(self, new: int, keep: Collection[int] = ()) -> list[int]:
        """The labels to evict before adding ``new`` unknown labels: least recently used first, none of ``keep``."""
        with self._lock:
            excess = len(self._recency) + new - self.params.capacity
            if excess <= 0:
                return []
            return list(itertools.islice((label for label in self._recency if label not in keep), excess))

    def _make_room(self, needed: int) -> list[int]:
        evicted = []
        while len(self._recency) + needed > self.params.capacity:
            label, _ = self._recency.popitem(last=False)
            self._index.mark_deleted(label)
            self._deleted.add(label)
            evicted.append(label)
        return evicted

    # Persistence.

    def save(self, path: str | Path, version: int) -> None:
        """Write the index and its sidecar atomically; ``version`` is what ``load`` must be given back."""
        target = Path(path)
        temp = target.with_name(target.name + ".tmp")
        with self._lock:
            self._index.save_index(str(temp))
            recency = list(self._recency)
        _fsync(temp)
        sidecar = {
            "version": version,
            "count": len(recency),
            "params": [self.params.capacity, self.params.m, self.params.ef_construction, self.params.dimensions],
            "sha256": _sha256(temp),
            "recency": recency,
        }
        os.replace(temp, target)
        write_atomically(_sidecar(target), json.dumps(sidecar).encode())

    @classmethod
    def load(cls, path: str | Path, version: int, params: IndexParams = IndexParams()) -> VectorIndex:
        target = Path(path)
        sidecar = _read_sidecar(target)
        if sidecar.get("version") != version:
            raise IndexUnusable(f"{target}: holds version {sidecar.get('version')}, the store is at {version}")
        if sidecar.get("params") != [params.capacity, params.m, params.ef_construction, params.dimensions]:
            raise IndexUnusable(f"{target}: built with other parameters {sidecar.get('params')}")
        try:
            digest = _sha256(target)
        except OSError as exc:
            raise IndexUnusable(f"{target}: unreadable ({exc.strerror})") from None
        if digest != sidecar.get("sha256"):
            raise IndexUnusable(f"{target}: sha256 differs from its sidecar (corrupt or partly written)")
        try:
            index = cls(params, _loaded_from=target)
        except RuntimeError as exc:
            raise IndexUnusable(f"{target}: hnswlib cannot load it ({exc})") from None
        index._recency = OrderedDict.fromkeys(sidecar["recency"])
        index._deleted = set(map(int, index._index.get_ids_list())) - set(index._recency)
        if len(index._recency) != sidecar.get("count"):
            raise IndexUnusable(f"{target}: sidecar and index disagree on the number of items")
        return index


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_sidecar(path: Path) -> dict:
    try:
        value = json.loads(_sidecar(path).read_text())
    except FileNotFoundError:
        raise IndexUnusable(f"{path}: no index file yet") from None
    except (OSError, ValueError) as exc:
        raise IndexUnusable(f"{_sidecar(path)}: unreadable ({exc})") from None
    kinds = {"version": int, "count": int, "params": list, "sha256": str, "recency": list}
    if not isinstance(value, dict) or any(not isinstance(value.get(key), kind) for key, kind in kinds.items()):
        raise IndexUnusable(f"{_sidecar(path)}: not a sidecar (expected {', '.join(kinds)})")
    if not all(isinstance(label, int) and not isinstance(label, bool) for label in value["recency"]):
        raise IndexUnusable(f"{_sidecar(path)}: recency must list integer labels")
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
