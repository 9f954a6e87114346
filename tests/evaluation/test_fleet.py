"""Many TVs in one process, synced through an in-process constellation: exactly-once views, paging, counting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omega_actors.brain import BrainSettings, synthetic_catalogue
from omega_actors.brain.cowatch import item_ids
from omega_actors.evaluation.fleet import FleetWorker, ViewIn
from omega_actors.federation.constellation import Constellation, ConstellationSettings
from omega_actors.federation.device import SyncSettings
from omega_actors.federation.publisher import PublishSettings
from omega_actors.federation.shard import Weighting
from omega_actors.storage.constellation import SQLiteConstellationStore

TVS = [f"tv-{n}" for n in range(6)]
CATALOGUE = synthetic_catalogue(40, seed=3)


def vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((len(CATALOGUE), 384)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def fleet(tmp_path: Path):
    store = SQLiteConstellationStore(tmp_path / "constellation")
    settings = ConstellationSettings(shards=2, weighting=Weighting(k=3), publish=PublishSettings(pull_cap=600))
    constellation = Constellation(store, settings)
    worker = FleetWorker(tmp_path / "worker", TVS, CATALOGUE, vectors(), BrainSettings(),
                         SyncSettings(interval_min=1, interval_max=2, pull_cap=600))
    for tv in TVS:
        worker.enrolled(tv, constellation.enroll(tv), 0)
    yield worker, constellation
    worker.close()
    store.close()


def sync(worker: FleetWorker, constellation: Constellation, now: float) -> int:
    out = worker.sync_frames(now, TVS)
    replies = iter(constellation.submit([push for _, push, _ in out if push is not None]))
    for tv, push, pull in out:
        ok = push is None or worker.push_replied(tv, next(replies)) is not None
        ok = worker.pull_replied(tv, constellation.pull(pull)) and ok
        worker.finish_sync(tv, now, ok)
    return sum(push is not None for _, push, _ in out)


def views(tv: str, media: list[str], start: int = 0) -> list[ViewIn]:
    return [ViewIn(tv, start + n, m, 1.0, "evening") for n, m in enumerate(media)]


def test_a_batch_played_twice_is_applied_once(fleet) -> None:
    worker, _ = fleet
    batch = views("tv-0", ["m1", "m2", "m3"])
    worker.play(batch[:2], recommend=False)
    report = worker.play(batch, recommend=False)  # resent after a crash: the first two are already held
    assert report.played["tv-0"] == 3
    assert [e.media_id for e in worker.brains["tv-0"].reflexion.recent(10)] == ["m1", "m2", "m3"]


def test_a_view_ahead_of_its_stream_is_refused(fleet) -> None:
    worker, _ = fleet
    with pytest.raises(ValueError, match="before view 0"):
        worker.play(views("tv-1", ["m1"], start=1), recommend=False)


def test_co_watched_items_reach_every_tv_within_the_pull_cap_and_rank_first(fleet) -> None:
    worker, constellation = fleet
    for tv in TVS[:4]:  # four viewers watch m1 then m2: above k = 3
        worker.play(views(tv, ["m1", "m2"]), recommend=False)
    sync(worker, constellation, 10.0)
    constellation.publish()
    for round_ in range(1, 40):
        sync(worker, constellation, 10.0 + round_)
        if worker.caught_up():
            break
    assert worker.caught_up()
    assert max(worker.link.pull_bytes) <= 600 and max(worker.link.push_bytes) <= 1024
    assert worker.sessions["tv-5"].pages > 1  # the release did not fit one page of 600 bytes
    late = worker.brains["tv-5"]  # watched nothing yet: it learns the pair from the fleet
    assert late.fleet.lookup(item_ids(["m1", "m2"])).tolist() == [4.0, 4.0]
    worker.play(views("tv-5", ["m1"]), recommend=False)
    top = worker.rank(["tv-5"], n=3)["tv-5"]
    assert top[0] == "m2"


def test_the_link_counts_frames_by_their_own_kind(fleet) -> None:
    worker, constellation = fleet
    worker.play(views("tv-2", ["m4"]), recommend=False)
    sync(worker, constellation, 5.0)
    assert worker.link.counts["pushes"] == 1 and worker.link.counts["pulls"] == len(TVS)
    assert worker.link.counts["raw_events"] == 0
    worker.link.sent(b'{"media_id": "m4", "watched": 1.0}')  # what leaking an event would look like
    assert worker.link.counts["raw_events"] == 1


def test_sequence_numbers_outlive_the_worker(fleet, tmp_path: Path) -> None:
    worker, constellation = fleet
    worker.play(views("tv-3", ["m5"]), recommend=False)
    sync(worker, constellation, 5.0)
    seq = worker.sessions["tv-3"].builder.seq
    worker.close()
    again = FleetWorker(tmp_path / "worker", TVS, CATALOGUE, vectors())
    try:
        assert again.sessions["tv-3"].builder.seq == seq
        assert again.played["tv-3"] == 1
    finally:
        again.close()
