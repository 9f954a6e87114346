"""Co-watch: what a viewer watched together, counted on the TV, and the fleet's counts, used to rank.

The collaborative signal of a cloud recommender, without the raw data:

- On the TV, :class:`CowatchCounter` counts items watched to the end (a
  success) and pairs of successes that came within ``window`` of each other.
  These counts leave the TV as ordinary sync patterns (4-byte ids, trials),
  never as events: no time, no order, no watch fraction.
- The constellation counts, per id, how many TVs reported it, and releases
  only ids that ``k`` TVs or more reported (k-anonymity), as pages of
  (id, support) records. :class:`FleetTable` holds them on the TV.
- Ranking: cosine(i, j) = support(i, j) / sqrt(support(i) support(j)), the
  item-kNN similarity, summed over the viewer's history with recent items
  weighted more (``decay`` per step back). Pairs within a window and recency
  make this sequence-aware, which is what recent taste needs.

Ids: an item's id is the 4-byte BLAKE2b of ``"item|" + media_id`` (the same
function as any sync pattern), and a pair's is a 64-bit mix of its two item
ids (smaller first), cut to 4 bytes. The mix is plain integer arithmetic, so
a TV computes the ids of every (history item, catalogue item) pair in one
numpy call instead of hashing strings; a false match needs two 32-bit ids to
collide, about one lookup in four billion per released id.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

ITEM_PREFIX = "item|"
_MULTIPLIERS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_ITEM_IDS: dict[str, int] = {}


def item_id(media_id: str) -> int:
    """An item's pattern id (cached: many brains in a process share one catalogue)."""
    found = _ITEM_IDS.get(media_id)
    if found is None:
        digest = hashlib.blake2b((ITEM_PREFIX + media_id).encode("utf-8"), digest_size=4).digest()
        found = _ITEM_IDS[media_id] = int.from_bytes(digest, "big")
    return found


def item_ids(media_ids: Iterable[str]) -> np.ndarray:
    return np.fromiter((item_id(media) for media in media_ids), dtype=np.uint64)


def pair_ids(a: np.ndarray | np.unsignedinteger, b: np.ndarray | np.unsignedinteger) -> np.ndarray:
    """The ids of the pairs (a[i], b[i]) (broadcasting), the same for (b, a): splitmix64's finaliser, high half."""
    a, b = np.asarray(a, np.uint64), np.asarray(b, np.uint64)
    x = (np.minimum(a, b) << np.uint64(32)) | np.maximum(a, b)
    with np.errstate(over="ignore"):  # the mix multiplies modulo 2**64 on purpose
        x = (x ^ (x >> np.uint64(30))) * _MULTIPLIERS[0]
        x = (x ^ (x >> np.uint64(27))) * _MULTIPLIERS[1]
    return (x ^ (x >> np.uint64(31))) >> np.uint64(32)


class CowatchCounter:
    """A TV's own counts: each successful item, and each pair of successes ``window`` apart or less."""

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self.counts: dict[int, int] = {}
        self._last: deque[int] = deque(maxlen=window)

    def add(self, media_id: str) -> None:
        new = item_id(media_id)
        self.counts[new] = self.counts.get(new, 0) + 1
        earlier = [other for other in dict.fromkeys(self._last) if other != new]
        if earlier:
            for pair in pair_ids(np.array(earlier, np.uint64), np.uint64(new)).tolist():
                self.counts[pair] = self.counts.get(pair, 0) + 1
        self._last.append(new)

    def records(self) -> list[tuple[int, int]]:
        """(id, count) of everything counted: what sync may share."""
        return list(self.counts.items())


class FleetTable:
    """The released (id, support) records, as sorted arrays; pages replace their id ranges."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.uint64)
        self.support = np.zeros(0, np.float64)
        self.version = 0  # moves on with every page taken, for caches built on this table

    def __len__(self) -> int:
        return len(self.ids)

    def apply_page(self, lo: int, hi: int, ids: np.ndarray, support: np.ndarray) -> None:
        """Everything released in [lo, hi) is ``ids`` (ascending) with ``support`` (device counts)."""
        keep = (self.ids < lo) | (self.ids >= hi)
        at = int(np.searchsorted(self.ids[keep], lo))
        kept_ids, kept_support = self.ids[keep], self.support[keep]
        self.ids = np.concatenate([kept_ids[:at], np.asarray(ids, np.uint64), kept_ids[at:]])
        self.support = np.concatenate([kept_support[:at], np.asarray(support, np.float64), kept_support[at:]])
        self.version += 1

    def merge(self, ids: np.ndarray, support: np.ndarray) -> None:
        """Records that say nothing of the ids around them (the headline page): insert or update these only."""
        ids, support = np.asarray(ids, np.uint64), np.asarray(support, np.float64)
        keep = ~np.isin(self.ids, ids)
        merged_ids = np.concatenate([self.ids[keep], ids])
        order = np.argsort(merged_ids, kind="stable")
        self.ids = merged_ids[order]
        self.support = np.concatenate([self.support[keep], support])[order]
        self.version += 1

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Support per id (0 where nothing was released), any shape."""
        if not len(self.ids):
            return np.zeros(np.shape(ids))
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.where(self.ids[at] == ids, self.support[at], 0.0)


def similarity_rows(table: FleetTable, sources: np.ndarray, catalogue: np.ndarray) -> np.ndarray:
    """cosine(source, item) for each source (rows) and catalogue item (columns); 0 where unreleased."""
    if not len(table) or not len(sources) or not len(catalogue):
        return np.zeros((len(sources), len(catalogue)))
    pairs = table.lookup(pair_ids(sources[:, None], catalogue[None, :]))
    norms = np.sqrt(table.lookup(sources)[:, None] * table.lookup(catalogue)[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, pairs / np.where(norms > 0, norms, 1.0), 0.0)
    cosine[sources[:, None] == catalogue[None, :]] = 0.0
    return cosine


def history_weights(length: int, decay: float) -> np.ndarray:
    """Weights of a history of ``length`` items, oldest first: ``decay`` per step back from the newest."""
    return decay ** np.arange(length - 1, -1, -1, dtype=np.float64)


def cowatch_scores(table: FleetTable, history: Sequence[str], catalogue: np.ndarray, decay: float) -> np.ndarray:
    """Recency-weighted item-kNN scores of every catalogue item for a history (oldest first)."""
    if not history:
        return np.zeros(len(catalogue))
    sources = item_ids(history)
    return history_weights(len(sources), decay) @ similarity_rows(table, sources, catalogue)
