"""Sync under supervision: TV brains push and pull through the constellation's actors; shards killed mid-batch."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omega_actors.actors.constellation import (
    GetConstellationStats,
    Published,
    PublishRound,
    ShardCommitted,
)
from omega_actors.actors.sync_agent import SyncNow, SyncReport
from omega_actors.actors.sync_messages import (
    INGEST,
    PUBLISHER,
    Enroll,
    Enrolled,
    PushFrame,
    PushReply,
)
from omega_actors.actors.tv_brain import AddItems, BrainStats, GetStats, Observe, names
from omega_actors.app.constellation import constellation_spec
from omega_actors.app.tv import tv_brain_spec
from omega_actors.brain import Observation, synthetic_catalogue
from omega_actors.errors import AskTimeout, DeliveryError
from omega_actors.federation.constellation import Constellation, ConstellationSettings
from omega_actors.federation.encoder import LocalPattern, PushBuilder
from omega_actors.federation.nats_transport import NatsIngestServer, delete_stream
from omega_actors.federation.shard import Weighting
from omega_actors.federation.wire import Ack, decode_reply
from omega_actors.runtime import Runtime, SupervisorSpec
from omega_actors.storage.constellation import SQLiteConstellationStore
from tests.actors.test_tv_brain import Killer, pid_of
from tests.conftest import require_service
from tests.runtime.conftest import wait_until

TVS = ("a", "b", "c")
# Agents that never sync on their own during a test (their first sync is a random point of the interval):
# the tests say when, with SyncNow, so counts do not depend on timing.
QUIET = {"tick": 0.2, "interval_min": 1e9, "interval_max": 1e9}


def fleet_tree(tmp_path: Path) -> SupervisorSpec:
    constellation = constellation_spec(store_dir=str(tmp_path / "constellation"), settings={"k": 2, "shards": 2},
                                       publish_interval=0)
    brains = tuple(tv_brain_spec(tv, data_dir=str(tmp_path / "brains"), sync=QUIET | {"link": "actors"}) for tv in TVS)
    return SupervisorSpec(intensity=10, period=60, children=(constellation, *brains))


def test_brains_push_their_patterns_and_apply_the_fleets_bundle(start_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = start_runtime(fleet_tree(tmp_path), "simple")
    catalogue = tuple(synthetic_catalogue(30, seed=3))
    genre = catalogue[0].genres[0]
    watched = [item for item in catalogue if genre in item.genres]
    assert len(watched) >= 2
    for tv in TVS:
        memory = names(tv)["memory"]
        runtime.ask(memory, AddItems(catalogue), timeout=120)
        for item in watched[:4]:
            runtime.ask(memory, Observe(Observation(item.media_id, 0.95, "evening", "happy")))
    for tv in TVS:
        report = runtime.ask(names(tv)["sync"], SyncNow(), timeout=60)
        assert isinstance(report, SyncReport) and report.ok, report
        assert report.counts["pushes"] == 1 and report.counts["push_bytes"] <= 1024
    published = runtime.ask(PUBLISHER, PublishRound(), timeout=60)
    assert isinstance(published, Published) and published.version == 1 and published.patterns > 0
    for tv in TVS:
        report = runtime.ask(names(tv)["sync"], SyncNow(), timeout=60)
        assert report.ok and report.bundle_version == 1
        # The genre every TV watched is released (k = 2) and reaches each brain by its own key.
        stats = wait_until(lambda tv=tv: _fleet_patterns(runtime, tv), what=f"{tv} to apply the bundle")
        assert stats.fleet_patterns >= 1
    counts = runtime.ask(INGEST, GetConstellationStats()).counts
    assert counts["accepted"] == 3 and counts["devices"] == 3


def test_a_brain_syncs_over_nats_jetstream(start_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    require_service("NATS", "127.0.0.1", 4222)
    url, prefix = "nats://127.0.0.1:4222", f"omega_t{uuid.uuid4().hex[:10]}"
    store = SQLiteConstellationStore(tmp_path / "constellation")
    constellation = Constellation(store, ConstellationSettings(shards=2, weighting=Weighting(k=1)))
    key_file = tmp_path / "brains" / "n1" / "sync.key"  # provisioned: NATS devices do not enroll themselves
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(constellation.enroll("n1"))
    server = NatsIngestServer(constellation, url, prefix)
    server.start()
    try:
        sync = QUIET | {"link": "nats", "nats_url": url, "nats_prefix": prefix}
        runtime = start_runtime(SupervisorSpec(children=(tv_brain_spec("n1", data_dir=str(tmp_path / "brains"), sync=sync),)))
        catalogue = tuple(synthetic_catalogue(20, seed=4))
        runtime.ask(names("n1")["memory"], AddItems(catalogue), timeout=120)
        for item in catalogue[:3]:
            runtime.ask(names("n1")["memory"], Observe(Observation(item.media_id, 1.0, "morning", "calm")))
        first = runtime.ask(names("n1")["sync"], SyncNow(), timeout=60)
        assert first.ok and first.counts["pushes"] == 1 and first.counts["pull_refused_unavailable"] == 1
        assert server.call(constellation.publish) is not None
        second = runtime.ask(names("n1")["sync"], SyncNow(), timeout=60)
        assert second.ok and second.bundle_version == 1
        assert wait_until(lambda: _fleet_patterns(runtime, "n1"), what="the bundle to be applied")
        assert server.call(lambda: constellation.stats()["accepted"]) == 1
    finally:
        server.stop()
        store.close()
        delete_stream(url, prefix)


def _fleet_patterns(runtime: Runtime, tv: str) -> BrainStats | None:
    stats = runtime.ask(names(tv)["memory"], GetStats())
    return stats if stats.fleet_patterns else None


def test_hostile_push_messages_are_refused_and_counted_and_the_ingest_keeps_running(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    tree = SupervisorSpec(children=(constellation_spec(store_dir=str(tmp_path), settings={"k": 1}, publish_interval=0),))
    runtime = start_runtime(tree, "simple")
    before = runtime.tree()
    for payload in (b"", b"\xc1", b"\x94\x01\x01\xc4\x00\xc4\x00", b"\x00" * 5000, "text", None, 42):
        assert runtime.ask(INGEST, PushFrame(payload)) == PushReply(None)  # type: ignore[arg-type]
    enrolled = runtime.ask(INGEST, Enroll("tv-1"))
    assert isinstance(enrolled, Enrolled)
    frame = PushBuilder("tv-1", enrolled.key).build([LocalPattern("evening|*|Drama", 10, 9)])
    assert frame is not None
    reply = runtime.ask(INGEST, PushFrame(frame))
    assert decode_reply(reply.frame, enrolled.key) == Ack("tv-1", 1)
    counts = runtime.ask(INGEST, GetConstellationStats()).counts
    assert counts["malformed"] == 6 and counts["oversize"] == 1 and counts["accepted"] == 1
    assert [(n.path, n.restarts) for n in runtime.tree().walk()] == [(n.path, n.restarts) for n in before.walk()]


def test_a_commit_answer_without_the_requests_nonce_acknowledges_nothing(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    tree = SupervisorSpec(children=(constellation_spec(store_dir=str(tmp_path), settings={"k": 1, "shards": 2},
                                                       shard_timeout=0.5, publish_interval=0),))
    runtime = start_runtime(tree, "simple")
    enrolled = runtime.ask(INGEST, Enroll("tv-1"))
    runtime.terminate_child("app/constellation/shards", "shard-1")  # its part of the next batch waits
    patterns = [LocalPattern(f"evening|*|g{n}", 10, 10) for n in range(8)]  # enough to reach both shards
    frame = PushBuilder("tv-1", enrolled.key).build(patterns)
    with pytest.raises(AskTimeout):
        runtime.ask(INGEST, PushFrame(frame), timeout=1)
    (batch,) = runtime.ask(INGEST, GetConstellationStats()).pending
    runtime.tell(INGEST, ShardCommitted(batch, 1, b"\0" * 16))
    stats = runtime.ask(INGEST, GetConstellationStats())
    assert stats.pending == (batch,) and stats.counts.get("accepted") == 1
    runtime.restart_child("app/constellation/shards", "shard-1")  # the ingest sends the part again
    wait_until(lambda: not runtime.ask(INGEST, GetConstellationStats()).pending, runtime, what="the batch to commit")


@pytest.mark.tcp
@pytest.mark.slow
def test_no_acknowledged_delta_is_lost_or_counted_twice_when_shards_and_the_ingest_are_killed(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    store_dir = tmp_path / "constellation"
    tree = SupervisorSpec(intensity=20, period=60, children=(
        constellation_spec(store_dir=str(store_dir), settings={"k": 1, "shards": 2}, batch_wait=0.05,
                           shard_timeout=1.0, publish_interval=0),
    ))
    runtime = start_runtime(tree, "tcp")
    rng = random.Random(5)
    keys = [f"{d}|*|g{g}" for d in ("morning", "evening") for g in range(30)]
    devices = {}
    for number in range(12):
        enrolled = runtime.ask(INGEST, Enroll(f"tv-{number}"), timeout=30)
        devices[enrolled.device] = (PushBuilder(enrolled.device, enrolled.key), {k: [0, 0] for k in rng.sample(keys, 20)})
    killer = Killer(random.Random(9))
    killer.start()
    victims = ["app/constellation/shards/shard-0", "app/constellation/shards/shard-1",
               "app/constellation/ingest", "app/constellation/shards/shard-0"]
    acked = 0
    for victim in victims:
        killer.kill_soon(pid_of(runtime, victim))
        target = acked + 15
        while acked < target or not killer.done.is_set():
            acked += _push_round(runtime, devices, rng, 3)
    # Every device retries until its latest statistics are acknowledged, as a TV does.
    for name, (builder, stats) in devices.items():
        wait_until(lambda b=builder, s=stats: _push(runtime, b, s, timeout=10) or None, what=f"{name}'s final ack", timeout=120)
    restarts = {node.path: node.restarts for node in runtime.tree().walk()}
    assert restarts["app/constellation/shards/shard-0"] >= 2 and restarts["app/constellation/shards/shard-1"] >= 1
    assert restarts["app/constellation/ingest"] >= 1
    runtime.shutdown()
    model = _model(devices)
    stored = Constellation(SQLiteConstellationStore(store_dir), ConstellationSettings(shards=2, weighting=Weighting(k=1)))
    aggregates = stored.aggregates()
    stored.store.close()
    assert {int(p): (int(d), float(w)) for p, d, w in zip(aggregates["pattern"], aggregates["devices"], aggregates["weight"])} == \
        {p: (d, w) for p, (d, w, _) in model.items()}
    np.testing.assert_allclose(aggregates["rate"], [model[int(p)][2] for p in aggregates["pattern"]], rtol=1e-12)


def _push_round(runtime: Runtime, devices: dict, rng: random.Random, views: int) -> int:
    acked = 0
    for builder, stats in devices.values():
        for key in rng.sample(sorted(stats), views):
            stats[key][0] += 1
            stats[key][1] += rng.random() < 0.9
        acked += _push(runtime, builder, stats, timeout=3)
    return acked


def _push(runtime: Runtime, builder: PushBuilder, stats: dict, timeout: float) -> bool:
    frame = builder.build([LocalPattern(k, t, s) for k, (t, s) in stats.items() if t])
    if frame is None:
        return True  # nothing left that is not acknowledged
    try:
        reply = runtime.ask(INGEST, PushFrame(frame), timeout=timeout)
    except (AskTimeout, DeliveryError):
        return False
    if reply.frame is None:
        return False
    answer = decode_reply(reply.frame, builder.key)
    if not isinstance(answer, Ack):
        return False
    builder.acknowledged(answer)
    return True


def _model(devices: dict) -> dict[int, tuple[int, float, float]]:
    """The pure model: each device's acknowledged values, weighted by min(trials, 100)."""
    per_pattern: dict[int, list[tuple[float, float]]] = {}
    for builder, _ in devices.values():
        for pattern, (trials, rate_q) in builder.acked.items():
            per_pattern.setdefault(pattern, []).append((min(trials, 100.0), rate_q / 255))
    return {
        pattern: (len(entries), sum(w for w, _ in entries), sum(w * r for w, r in entries) / sum(w for w, _ in entries))
        for pattern, entries in per_pattern.items()
    }


def test_a_restarted_sync_agent_goes_on_from_its_last_sequence_number(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """A new instance that began at 1 again would be answered 'replay' and its values never applied."""
    runtime = start_runtime(fleet_tree(tmp_path), "simple")
    catalogue = tuple(synthetic_catalogue(20, seed=6))
    memory, sync = names("a")["memory"], names("a")["sync"]
    runtime.ask(memory, AddItems(catalogue), timeout=120)
    for round_ in range(3):
        runtime.ask(memory, Observe(Observation(catalogue[round_].media_id, 1.0, "evening", "calm")))
        assert runtime.ask(sync, SyncNow(), timeout=60).ok
        if round_ == 1:  # a new instance: nothing of the old one is left in memory
            runtime.terminate_child("app/tv-a", "sync")
            runtime.restart_child("app/tv-a", "sync")
    counts = runtime.ask(INGEST, GetConstellationStats()).counts
    assert counts["accepted"] == 3 and counts.get("replay", 0) == 0
