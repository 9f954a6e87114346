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

CAPACITY = 5  # the largest capacity a reopen may choose
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

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(media_ids, min_size=1, max_size=self.settings.capacity, unique=True))
        rows = [int(media[1:]) for media in chosen]
        incoming = set(chosen)
        expected = []
        while len(set(self.lru) | incoming) > self.settings.capacity:
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

    @rule(clean=st.booleans(), capacity=st.integers(2, CAPACITY))
    def reopen(self, clean: bool, capacity: int) -> None:
        if clean:
            self.brain.close()
        else:
            self.brain.store.close()  # as if killed: whatever the index file holds is what it holds
        before = set(self.lru)
        resized = capacity != self.settings.capacity
        self.settings = BrainSettings(capacity=capacity, save_index_every=3, consolidate_every=4)
        self.brain = Brain.open(self.path, shared_embedder(), self.settings)
        if clean and not resized:
            assert not self.brain.rebuilt_index
        kept = set(self.brain._items)
        assert kept <= before and len(kept) == min(len(before), capacity)
        # Recency after a reopen: the index's saved order, then the recent episodes. Follow the brain.
        by_label = {label: media for media, (label, _) in self.brain._items.items()}
        self.lru = [by_label[label] for label in self.brain.index.labels()]

    @invariant()
    def store_index_and_model_agree(self) -> None:
        stored = dict(self.brain.store.db.execute("SELECT media_id, label FROM items"))
        assert set(stored) == set(self.lru) == set(self.brain._items)
        assert [self.brain._by_label[label].media_id for label in self.brain.index.labels()] == self.lru
        assert self.brain.reflexion.count() == self.episodes
        if self.lru:
            # What hnswlib holds: each stored item's own vector, and a full search finds exactly them.
            labels = [stored[media] for media in self.lru]
            rows = [int(media[1:]) for media in self.lru]
            expected = VECTORS[rows] / np.linalg.norm(VECTORS[rows], axis=1, keepdims=True)
            np.testing.assert_allclose(self.brain.index.vectors(labels), expected, rtol=1e-5, atol=1e-6)
            found = {label for label, _ in self.brain.index.search(VECTORS[rows[0]], CAPACITY)}
            assert found == set(labels)

    def teardown(self) -> None:
        self.brain.close()
        self.scratch.cleanup()


TestBrainMachine = BrainMachine.TestCase
TestBrainMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
