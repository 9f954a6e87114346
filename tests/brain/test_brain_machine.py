"""A stateful model of the brain's bookkeeping: items, evictions, episodes, reopening and crashes.

The model is a plain LRU list of media ids and a count of episodes. After
every step the brain, its SQLite store and its HNSW index must agree with it,
including after a reopen that rebuilds the index (a crash before the index
was saved) or loads it (a clean close).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from omega_actors.brain import (
    Brain,
    BrainSettings,
    Observation,
    shared_embedder,
    synthetic_catalogue,
)

CAPACITY = 5
CATALOGUE = synthetic_catalogue(12, seed=8)
VECTORS = np.random.default_rng(8).normal(size=(len(CATALOGUE), 384)).astype(np.float32)
media_ids = st.sampled_from([item.media_id for item in CATALOGUE])


class BrainMachine(RuleBasedStateMachine):
    @initialize()
    def open(self) -> None:
        self.scratch = tempfile.TemporaryDirectory()
        self.path = Path(self.scratch.name) / "tv"
        self.settings = BrainSettings(capacity=CAPACITY, save_index_every=3, consolidate_every=4)
        self.brain = Brain.open(self.path, shared_embedder(), self.settings)
        self.lru: list[str] = []
        self.episodes = 0

    @rule(chosen=st.lists(media_ids, min_size=1, max_size=CAPACITY, unique=True))
    def add(self, chosen: list[str]) -> None:
        rows = [int(media[1:]) for media in chosen]
        incoming = set(chosen)
        expected = []
        while len(set(self.lru) | incoming) > CAPACITY:
            victim = next(media for media in self.lru if media not in incoming)
            self.lru.remove(victim)
            expected.append(victim)
        evicted = self.brain.add_items([CATALOGUE[row] for row in rows], VECTORS[rows])
        assert evicted == expected
        for media in chosen:
            if media in self.lru:
                self.lru.remove(media)
            self.lru.append(media)

    @rule(media=media_ids)
    def remove(self, media: str) -> None:
        assert self.brain.remove_items([media]) == (1 if media in self.lru else 0)
        if media in self.lru:
            self.lru.remove(media)

    @rule(media=media_ids, fraction=st.floats(0, 1))
    def observe(self, media: str, fraction: float) -> None:
        if media not in self.lru:
            return
        self.brain.observe(Observation(media, fraction, "evening"))
        self.episodes += 1
        self.lru.remove(media)
        self.lru.append(media)

    @rule(clean=st.booleans())
    def reopen(self, clean: bool) -> None:
        if clean:
            self.brain.close()
        else:
            self.brain.store.close()  # as if killed: whatever the index file holds is what it holds
        self.brain = Brain.open(self.path, shared_embedder(), self.settings)
        if clean:
            assert not self.brain.rebuilt_index
        # Recency after a reopen: the index's saved order, then the recent episodes. Follow the brain.
        by_label = {label: media for media, (label, _) in self.brain._items.items()}
        self.lru = [by_label[label] for label in self.brain.index.labels()]

    @invariant()
    def store_index_and_model_agree(self) -> None:
        stored = {media for media, in self.brain.store.db.execute("SELECT media_id FROM items")}
        assert stored == set(self.lru) == set(self.brain._items)
        assert [self.brain._by_label[label].media_id for label in self.brain.index.labels()] == self.lru
        assert self.brain.reflexion.count() == self.episodes

    def teardown(self) -> None:
        self.brain.close()
        self.scratch.cleanup()


TestBrainMachine = BrainMachine.TestCase
TestBrainMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
