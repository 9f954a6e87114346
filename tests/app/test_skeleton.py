"""The extractor pool's tree as app.skeleton builds it, and one extraction run on a pool started for it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from omega_actors.actors.skeleton import (
    COORDINATOR,
    WORKERS,
    Coordinator,
    ExtractorWorker,
)
from omega_actors.app.skeleton import extract, skeleton_spec
from omega_actors.errors import SpecError
from omega_actors.runtime import SystemConfig
from omega_actors.skeleton.sources import directory
from tests.actors.test_skeleton import write_package


def test_the_workers_come_first_each_named_then_the_coordinator() -> None:
    workers, coordinator = skeleton_spec(3).start.args[0].children
    assert (workers.name, coordinator.name, coordinator.start.actor_class()) == (WORKERS, COORDINATOR, Coordinator)
    children = workers.start.args[0].children
    assert [(child.name, child.start.actor_class()) for child in children] == [
        (f"skeleton.worker-{n}", ExtractorWorker) for n in range(3)
    ]


@pytest.mark.parametrize("workers", [0, 257, 1.5, True, "2"])
def test_a_worker_count_outside_1_to_256_is_refused_when_the_tree_is_built(workers: object) -> None:
    with pytest.raises(SpecError, match="expected a whole number of workers from 1 to 256"):
        skeleton_spec(workers)  # type: ignore[arg-type]


def test_one_extraction_stores_every_file_and_reports_each_progress_until_the_last(tmp_path: Path) -> None:
    package = write_package(tmp_path / "src", modules=3)
    seen = []
    system = SystemConfig(base="simple", data_dir=str(tmp_path / "omega"))
    final = extract([directory(package)], tmp_path / "api.db", workers=1, system=system, on_progress=seen.append, poll=0.01)
    assert not final.running and final.failed == 0 and seen[-1] is final
    with sqlite3.connect(tmp_path / "api.db") as db:
        assert db.execute("SELECT count(*) FROM files WHERE status = 'ok'").fetchone()[0] == final.files == 5
