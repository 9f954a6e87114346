"""The ``[brain]`` table: how each TV brain embeds, indexes, learns and ranks.

::

    [brain]
    data_dir = ".omega/brains"   # one directory per TV: memory.sqlite3, index.hnsw
    model_dir = ""               # "" means the repository's models/
    threads = 1                  # onnxruntime threads per shared session
    max_text_chars = 1000        # longer texts are refused, not truncated silently
    capacity = 10000             # items per brain; the least recently used are evicted
    hnsw_m = 8
    ef_construction = 100
    ef_search = 64
    success_fraction = 0.5       # watched at least this much: the recommendation worked
    recent_window = 50           # episodes behind the recent-taste vector and the seen list
    consolidate_every = 25       # observations between ReasoningBank consolidations
    save_index_every = 200       # index changes between index file saves
    prior_strength = 4.0         # how many trials the consolidated prior is worth
    similarity_weight = 0.3      # ranking: cosine to the blended taste vector
    query_weight = 1.0           # ranking: the same, when the viewer typed a query
    skill_weight = 0.35          # ranking: the context's success rate for the item's genres
    trend_weight = 0.15          # ranking: the constellation's item scores
    cowatch_weight = 1.0         # ranking: recency-weighted item-kNN over the fleet's co-watch counts
    popularity_weight = 1.0      # ranking: the item's fleet support over the largest...
    popularity_fade = 3.0        # ...times fade / (fade + successes on this TV): the fleet's taste for newcomers
    cowatch_window = 20          # successes this close count as watched together
    cowatch_decay = 0.9          # the weight of a history item, per later success
    history_limit = 500          # successes the co-watch score and the push remember
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omega_actors.errors import ConfigError
from omega_actors.settings import settings_from_table

if TYPE_CHECKING:
    from omega_actors.brain.index import IndexParams

_COUNTS = ("threads", "max_text_chars", "capacity", "hnsw_m", "ef_construction", "ef_search",
           "recent_window", "consolidate_every", "save_index_every", "cowatch_window", "history_limit")
# What a running brain may change in place (Brain.retune): they shape ranking only, not what is stored.
RANKING_KEYS = _WEIGHTS = ("prior_strength", "similarity_weight", "query_weight", "skill_weight", "trend_weight", "cowatch_weight",
            "popularity_weight", "popularity_fade")


@dataclass(frozen=True, slots=True)
class BrainSettings:
    data_dir: str = ".omega/brains"
    model_dir: str = ""
    threads: int = 1
    max_text_chars: int = 1000
    capacity: int = 10_000
    hnsw_m: int = 8
    ef_construction: int = 100
    ef_search: int = 64
    success_fraction: float = 0.5
    recent_window: int = 50
    consolidate_every: int = 25
    save_index_every: int = 200
    prior_strength: float = 4.0
    similarity_weight: float = 0.3
    query_weight: float = 1.0
    skill_weight: float = 0.35
    trend_weight: float = 0.15
    cowatch_weight: float = 1.0
    popularity_weight: float = 1.0
    popularity_fade: float = 3.0
    cowatch_window: int = 20
    cowatch_decay: float = 0.9
    history_limit: int = 500

    def __post_init__(self) -> None:
        for key in ("data_dir", "model_dir"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"expected a directory path; got {getattr(self, key)!r}", key=key)
        for key in _COUNTS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected a whole number >= 1; got {value!r}", key=key)
        for key in _WEIGHTS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(f"expected a finite number >= 0; got {value!r}", key=key)
        decay = self.cowatch_decay
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise ConfigError(f"expected a number in (0, 1]; got {decay!r}", key="cowatch_decay")
        fraction = self.success_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ConfigError(f"expected a fraction in (0, 1]; got {fraction!r}", key="success_fraction")

    @property
    def index_params(self) -> IndexParams:
        # Imported here: reading a [brain] table (config checks do) must not load hnswlib and the ONNX runtime.
        from omega_actors.brain.index import IndexParams

        return IndexParams(self.capacity, self.hnsw_m, self.ef_construction, self.ef_search)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, file: str | None = None) -> BrainSettings:
        """The ``[brain]`` table, checked; an error names the file and the key."""
        return settings_from_table(cls, table, section="brain", file=file)
