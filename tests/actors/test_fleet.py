"""The simulated fleet on the actor runtime: steps survive crashes and kill -9, and nothing acknowledged is lost."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from omega_actors.brain import synthetic_catalogue
from omega_actors.errors import ConfigError
from omega_actors.evaluation.fleet import ViewIn
from omega_actors.sim.driver import FleetOptions, FleetRun

CATALOGUE = synthetic_catalogue(30, seed=5)
TVS = tuple(f"tv-{n}" for n in range(6))


def day(step: int, positions: dict[str, int], expected: dict[str, list[str]]) -> list[ViewIn]:
    rng = random.Random(step)
    views = []
    for tv in TVS:
        for _ in range(3):
            media = f"m{rng.randrange(len(CATALOGUE))}"
            views.append(ViewIn(tv, positions[tv], media, rng.random(), "evening"))
            positions[tv] += 1
            expected[tv].append(media)
    return views


def options(tmp_path: Path, base: str) -> FleetOptions:
    return FleetOptions(TVS, tmp_path / "fleet", workers=2, base=base, k=2, shards=2,
                        sync={"interval_min": 1.0, "interval_max": 2.0}, sync_timeout=5.0, retry=2.0)


def play(fleet: FleetRun, steps: range, positions: dict[str, int], expected: dict[str, list[str]], **kwargs) -> None:
    for step in steps:
        fleet.step(day(step, positions, expected), 3600.0 * (step + 1), **kwargs)
        fleet.publish()


def test_a_worker_that_raises_mid_batch_is_restarted_and_its_views_are_applied_once(tmp_path: Path) -> None:
    positions, expected = dict.fromkeys(TVS, 0), {tv: [] for tv in TVS}
    with FleetRun(options(tmp_path, "simple"), CATALOGUE) as fleet:
        play(fleet, range(1), positions, expected)
        play(fleet, range(1, 2), positions, expected, faults={0: 4})  # worker 0 raises after 4 of its 9 views
        play(fleet, range(2, 3), positions, expected)
        assert fleet.restarts() >= 1
        assert fleet.ledger.retries >= 1
    assert fleet.ledger.played == {tv: 9 for tv in TVS}
    assert fleet.ledger.acked, "some pushes were acknowledged"
    assert fleet.losses(expected) == {"acked_observations_lost": 0, "acked_deltas_lost": 0}
    assert fleet.ledger.frames["raw_events"] == 0


@pytest.mark.tcp
@pytest.mark.slow
def test_kill_9_of_a_worker_and_the_ingest_loses_nothing_acknowledged(tmp_path: Path) -> None:
    positions, expected = dict.fromkeys(TVS, 0), {tv: [] for tv in TVS}
    with FleetRun(options(tmp_path, "tcp"), CATALOGUE) as fleet:
        play(fleet, range(2), positions, expected)
        for step, victim in enumerate(("worker-0", "ingest", "shard-1"), start=2):
            assert fleet.kill(victim), f"{victim} has a running process"
            play(fleet, range(step, step + 1), positions, expected)
        play(fleet, range(5, 7), positions, expected)
        assert fleet.restarts() >= 3
    assert sum(fleet.ledger.played.values()) == sum(len(v) for v in expected.values())
    assert fleet.losses(expected) == {"acked_observations_lost": 0, "acked_deltas_lost": 0}
    assert fleet.ledger.syncs_ok > 0


def test_a_lost_view_or_delta_is_counted(tmp_path: Path) -> None:
    positions, expected = dict.fromkeys(TVS, 0), {tv: [] for tv in TVS}
    with FleetRun(options(tmp_path, "simple"), CATALOGUE) as fleet:
        play(fleet, range(2), positions, expected)
    assert fleet.losses(expected) == {"acked_observations_lost": 0, "acked_deltas_lost": 0}
    # The check reads the stores: a stored view that disappears, or one that differs, is a loss.
    tv0 = tmp_path / "fleet" / f"worker-{fleet.owner['tv-0']}" / "tv-0" / "memory.sqlite3"
    with sqlite3.connect(tv0) as db:
        db.execute("DELETE FROM episodes WHERE id = (SELECT max(id) FROM episodes)")
    db.close()
    expected["tv-2"][0] = "not-what-was-played"
    fleet.ledger.acked[("tv-1", 12345)] = 99  # an ack for a value no shard holds
    assert fleet.losses(expected) == {"acked_observations_lost": 2, "acked_deltas_lost": 1}


def test_a_run_refuses_to_empty_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "thesis.txt").write_text("mine")
    with pytest.raises(ConfigError, match="no fleet run made it"):
        FleetRun(options(tmp_path, "simple"), CATALOGUE)
    assert (tmp_path / "fleet" / "thesis.txt").read_text() == "mine"
