"""The TV brain under supervision: requests, bad input, and kill -9 of every brain process."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omega_actors.actors.tv_brain import (
    AddItems,
    ApplyPatterns,
    BrainStats,
    EmbedQuery,
    Episodes,
    GetEpisodes,
    GetStats,
    ItemsAdded,
    ItemsEmbedded,
    Observe,
    Observed,
    Recommend,
    Recommendations,
    names,
)
from omega_actors.app.tv import tv_brain_spec
from omega_actors.brain import (
    MediaItem,
    Observation,
    RecommendContext,
    synthetic_catalogue,
)
from omega_actors.errors import AskTimeout, DeliveryError
from omega_actors.runtime import Runtime, SupervisorSpec
from tests.runtime.conftest import wait_until

TV = "t1"
MEMORY = names(TV)["memory"]


def forged_context(**fields: object) -> RecommendContext:
    """A context as a forged message could carry it: its own checks never ran."""
    context = object.__new__(RecommendContext)
    for name, value in {"daypart": "evening", "mood": "any", "query": "", "n": 10, **fields}.items():
        object.__setattr__(context, name, value)
    return context


def brain_tree(data_dir: Path) -> SupervisorSpec:
    return SupervisorSpec(intensity=10, period=60, children=(tv_brain_spec(TV, data_dir=str(data_dir)),))


def test_a_brain_learns_items_and_observations_and_recommends(start_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = start_runtime(brain_tree(tmp_path), "simple")
    catalogue = tuple(synthetic_catalogue(40, seed=2))
    added = runtime.ask(MEMORY, AddItems(catalogue), timeout=60)
    assert added == ItemsAdded(40, ())
    watched = [item for item in catalogue if "Comedy" in item.genres][:3]
    for item in watched:
        assert isinstance(runtime.ask(MEMORY, Observe(Observation(item.media_id, 0.95, "evening", "happy"))), Observed)
    plain = runtime.ask(MEMORY, Recommend(RecommendContext("evening", "happy", n=5)))
    assert isinstance(plain, Recommendations) and len(plain.items) == 5
    assert not {r.media_id for r in plain.items} & {item.media_id for item in watched}
    queried = runtime.ask(MEMORY, Recommend(RecommendContext("evening", "happy", query="a funny film", n=3)), timeout=30)
    assert [r.reason for r in queried.items] == ["matches \u201ca funny film\u201d"] * 3


@pytest.mark.parametrize(
    "request_, refusal",
    [
        (Observe(Observation("no-such-media", 0.5, "evening")), "unknown media id"),
        (Recommend(RecommendContext("evening", query="x" * 5000)), "the limit is 1000"),
        (Recommend(RecommendContext("evening", query="   ")), "empty"),
        (AddItems((MediaItem("bad", "Bad"),), np.full((1, 384), np.nan, dtype=np.float32)), "NaN"),
        (AddItems((MediaItem("bad", "Bad"),), np.ones((1, 12), dtype=np.float32)), "shape (384,)"),
        (ApplyPatterns.__new__(ApplyPatterns), "ApplyPatterns.patterns"),
        (Observe("not an observation"), "Observe.observation"),  # type: ignore[arg-type]
        (ItemsEmbedded((MediaItem("a", "A"),), np.ones((1, 384)), "not an address"), "reply_to"),  # type: ignore[arg-type]
        (EmbedQuery.__new__(EmbedQuery), "EmbedQuery.reply_to"),
        (Recommend(RecommendContext.__new__(RecommendContext)), "daypart"),
        (Recommend(forged_context(query="bad \ud800 text")), "UTF-8"),
        (AddItems((MediaItem("a", "A"),), np.array(1.0)), "rows"),
        (AddItems((MediaItem("a", "A"),), np.ones((2, 384), dtype=np.float32)), "rows"),
    ],
    ids=["unknown-media", "over-long-text", "empty-text", "nan-vector", "wrong-dimension", "malformed-message",
         "wrong-field-type", "forged-internal-message", "malformed-internal-message", "empty-context",
         "lone-surrogate", "scalar-vectors", "too-many-vectors"],
)
def test_bad_input_is_refused_and_the_brain_keeps_running(
    start_runtime: Callable[..., Runtime], tmp_path: Path, request_: object, refusal: str
) -> None:
    runtime = start_runtime(brain_tree(tmp_path), "simple")
    runtime.ask(MEMORY, AddItems(tuple(synthetic_catalogue(5))), timeout=60)
    before = runtime.tree()
    target = names(TV)["embedder"] if isinstance(request_, EmbedQuery) else MEMORY
    with pytest.raises(DeliveryError) as raised:
        runtime.ask(target, request_, timeout=30)
    assert refusal in str(raised.value)
    assert isinstance(runtime.ask(MEMORY, GetEpisodes()), Episodes)
    after = runtime.tree()
    assert [(n.path, n.restarts) for n in after.walk()] == [(n.path, n.restarts) for n in before.walk()]


class Killer(threading.Thread):
    """Kills one pid with SIGKILL a short random moment after it is told to, so the kill lands mid-request."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.rng = rng
        self.targets: list[int] = []
        self.go = threading.Event()
        self.done = threading.Event()

    def kill_soon(self, pid: int) -> None:
        self.done.clear()
        self.targets.append(pid)
        self.go.set()

    def run(self) -> None:
        while True:
            self.go.wait()
            self.go.clear()
            time.sleep(self.rng.uniform(0.0, 0.02))
            os.kill(self.targets[-1], signal.SIGKILL)
            self.done.set()


def pid_of(runtime: Runtime, path: str) -> int:
    node = runtime.tree().find(path)
    assert node is not None and node.pid
    return node.pid


@pytest.mark.tcp
@pytest.mark.slow
def test_no_acknowledged_observation_is_lost_when_any_brain_process_is_killed(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = start_runtime(brain_tree(tmp_path), "tcp")
    catalogue = synthetic_catalogue(60, seed=5)
    runtime.ask(MEMORY, AddItems(tuple(catalogue[:30])), timeout=120)
    killer = Killer(random.Random(11))
    killer.start()
    acked: dict[int, tuple[str, float]] = {}
    items_added = 30
    sent = 0
    supervisor = f"app/tv-{TV}"
    memory_pids = [pid_of(runtime, f"{supervisor}/memory")]
    for victim in (f"{supervisor}/memory", f"{supervisor}/embedder", supervisor, f"{supervisor}/memory"):
        killer.kill_soon(pid_of(runtime, victim))
        # Keep observing through the kill and the restart, until ten more are acknowledged.
        target = len(acked) + 10
        deadline = time.monotonic() + 120
        while len(acked) < target or not killer.done.is_set():
            assert time.monotonic() < deadline, f"the brain did not come back after {victim} was killed"
            sent += 1
            item = catalogue[sent % 30]
            fraction = round(sent / 10_000, 4)  # unique: marks this observation in the store
            try:
                reply = runtime.ask(MEMORY, Observe(Observation(item.media_id, fraction, "evening")), timeout=3)
            except (AskTimeout, DeliveryError):
                continue
            acked[reply.episode] = (item.media_id, fraction)
        # New items while the index file is stale: the next instance must rebuild it.
        added = wait_until(lambda: _add(runtime, catalogue[30 + items_added % 30]), timeout=120, what="an item added")
        items_added += added.count
        memory_pids.append(pid_of(runtime, f"{supervisor}/memory"))
    stored = wait_until(lambda: _episodes(runtime), what="the memory to answer")
    kept = {episode.id: (episode.media_id, episode.watch_fraction) for episode in stored.items}
    missing = {episode: value for episode, value in acked.items() if kept.get(episode) != value}
    assert not missing, f"{len(missing)} acknowledged observations were lost or changed: {sorted(missing)[:5]}"
    assert len(acked) >= 40
    # Every kill (the memory, the embedder under rest_for_one, their supervisor) replaced the memory process.
    assert len(set(memory_pids)) == 5
    # The instance before the last added an item, then was killed before it saved its index:
    # the last one found the index file stale and rebuilt it from SQLite, with every item.
    assert runtime.ask(MEMORY, GetStats(), timeout=120) == BrainStats(items_added, len(stored.items), True)
    found = runtime.ask(MEMORY, Recommend(RecommendContext("evening", query="a thriller", n=3)), timeout=120)
    assert len(found.items) == 3


def _add(runtime: Runtime, item: MediaItem) -> ItemsAdded | None:
    """Add one item, as a client does after a crash: a request in flight to an instance that its supervisor
    then ends (rest_for_one, after the embedder died) gets no answer, so ask again (adding is idempotent)."""
    try:
        return runtime.ask(MEMORY, AddItems((item,)), timeout=10)
    except (AskTimeout, DeliveryError):
        return None


def _episodes(runtime: Runtime) -> Episodes | None:
    try:
        return runtime.ask(MEMORY, GetEpisodes(10_000), timeout=5)
    except (AskTimeout, DeliveryError):
        return None
