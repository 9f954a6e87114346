"""Runs a simulated fleet on the actor runtime: start it, play steps, publish, rank, inject faults, check for loss.

``FleetRun`` is what ``run.py demo`` and ``run.py eval`` share. It writes the
catalogue's vectors once (one model session, in this process), starts the
tree of :func:`omega_actors.app.fleet.fleet_spec`, and keeps the ledger
an outside observer needs to say whether anything acknowledged was lost:

- every view a worker reported as committed (its TV's memory holds it);
- every push the constellation acknowledged, with the pattern ids it carried.

:meth:`FleetRun.losses` reads the TVs' memories and the constellation's store
after shutdown and counts what the ledger has that they do not.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omega_actors.actors.constellation import Published, PublishRound
from omega_actors.actors.fleet import (
    CATALOGUE_FILE,
    CONDUCTOR,
    Rank,
    Ranked,
    Step,
    Stepped,
    worker_name,
)
from omega_actors.actors.sync_messages import PUBLISHER
from omega_actors.app.constellation import constellation_spec
from omega_actors.app.fleet import fleet_spec, worker_of
from omega_actors.brain.catalogue import MediaItem
from omega_actors.brain.embedder import shared_embedder
from omega_actors.brain.memory import MemoryStore
from omega_actors.errors import ConfigError
from omega_actors.evaluation.fleet import ViewIn, save_catalogue
from omega_actors.federation.constellation import ShardWriter
from omega_actors.runtime import Runtime, SystemConfig
from omega_actors.storage.constellation import SQLiteConstellationStore

STEP_TIMEOUT = 1800.0  # a step of thousands of TVs on two cores; the conductor resends long before this


@dataclass(frozen=True)
class FleetOptions:
    tvs: tuple[str, ...]
    directory: Path
    workers: int = 2
    base: str = "tcp"
    k: int = 5  # k-anonymity for every released pattern
    shards: int = 2
    brain: Mapping[str, Any] = field(default_factory=dict)
    sync: Mapping[str, Any] = field(default_factory=dict)
    sync_timeout: float = 20.0
    retry: float = 30.0


@dataclass
class Ledger:
    played: dict[str, int] = field(default_factory=dict)  # tv -> views acknowledged as committed
    acked: dict[tuple[str, int], int] = field(default_factory=dict)  # (tv, pattern id) -> seq that carried it
    latencies_ms: list[float] = field(default_factory=list)
    push_bytes: list[int] = field(default_factory=list)
    pull_bytes: list[int] = field(default_factory=list)
    frames: Counter[str] = field(default_factory=Counter)
    syncs_ok: int = 0
    syncs_failed: int = 0
    hits: int = 0
    recommended: int = 0
    retries: int = 0


@dataclass(frozen=True)
class StepResult:
    hits: int
    recommended: int
    caught_up: bool
    pushes: int


class FleetRun:
    def __init__(self, options: FleetOptions, catalogue: Sequence[MediaItem]) -> None:
        self.options = options
        self.catalogue = list(catalogue)
        self.ledger = Ledger()
        self.owner = worker_of(options.tvs, options.workers)
        self.step_number = 0
        self.faults: list[tuple[str, str]] = []  # (kind, what)
        directory = options.directory
        fresh_directory(directory)
        (directory / "constellation").mkdir(parents=True)
        write_catalogue(directory / CATALOGUE_FILE, self.catalogue)
        constellation = constellation_spec(
            store_dir=str(directory / "constellation"), settings={"shards": options.shards, "k": options.k},
            publish_interval=0, shard_timeout=5.0)
        tree = fleet_spec(str(directory), options.tvs, options.workers, constellation, brain=options.brain,
                          sync=options.sync, sync_timeout=options.sync_timeout, retry=options.retry)
        config = SystemConfig(base=options.base, data_dir=str(directory / "system"), ask_timeout=STEP_TIMEOUT)
        self.runtime = Runtime.start(tree, config, "fleet")

    def close(self) -> None:
        self.runtime.shutdown()

    def __enter__(self) -> FleetRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Steps.

    def step(self, views: Iterable[ViewIn], now: float, *, recommend: bool = True, sync: bool = True,
             sync_all: bool = False, faults: Mapping[int, int] | None = None,
             offline: Iterable[str] = ()) -> StepResult:
        by_worker: dict[int, list[ViewIn]] = defaultdict(list)
        for view in views:
            by_worker[self.owner[view.tv]].append(view)
        self.step_number += 1
        message = Step(self.step_number, {w: tuple(v) for w, v in by_worker.items()}, now, recommend, sync_all, sync,
                       dict(faults or {}), frozenset(offline))
        reply = self.runtime.ask(CONDUCTOR, message, STEP_TIMEOUT)
        assert isinstance(reply, Stepped)
        return self._record(reply)

    def _record(self, stepped: Stepped) -> StepResult:
        ledger = self.ledger
        ledger.retries += stepped.retries
        hits = recommended = pushes = 0
        caught_up = True
        for report in stepped.reports:
            for tv, count in report.played.items():
                ledger.played[tv] = max(ledger.played.get(tv, 0), count)
            for tv, seq, ids in report.acked:
                for pattern in ids:
                    ledger.acked[(tv, pattern)] = max(ledger.acked.get((tv, pattern), 0), seq)
            ledger.latencies_ms.extend(report.latencies_ms)
            ledger.push_bytes.extend(report.push_bytes)
            ledger.pull_bytes.extend(report.pull_bytes)
            ledger.frames.update(report.frames)
            pushes += report.frames.get("pushes", 0)
            ledger.syncs_ok += report.syncs_ok
            ledger.syncs_failed += report.syncs_failed
            hits, recommended = hits + report.hits, recommended + report.recommended
            caught_up = caught_up and report.caught_up
        ledger.hits += hits
        ledger.recommended += recommended
        return StepResult(hits, recommended, caught_up, pushes)

    def publish(self) -> Published:
        reply = self.runtime.ask(PUBLISHER, PublishRound(), STEP_TIMEOUT)
        assert isinstance(reply, Published)
        return reply

    def rank(self, n: int = 10) -> dict[str, list[str]]:
        ranked: dict[str, list[str]] = {}
        for worker in range(self.options.workers):
            reply = self.runtime.ask(worker_name(worker), Rank(n), STEP_TIMEOUT)
            assert isinstance(reply, Ranked)
            ranked.update(reply.ranked)
        return ranked

    # Faults.

    def kill_random(self, rng: random.Random) -> str | None:
        """kill -9 one process: a brain worker, a shard, the ingest or the publisher (tcp base only)."""
        ids = [f"worker-{w}" for w in range(self.options.workers)]
        ids += [f"shard-{s}" for s in range(self.options.shards)] + ["ingest", "publisher"]
        victim = rng.choice(ids)
        return victim if self.kill(victim) else None

    def kill(self, id: str) -> bool:
        """kill -9 the process of the running child ``id`` (its supervisor restarts it)."""
        pid = self._pid_of(id)
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        self.faults.append(("kill -9", id))
        return True

    def _pid_of(self, id: str) -> int | None:
        tree = self.runtime.tree()
        for node in tree.walk():
            if node.id == id and node.state == "running" and node.pid:
                return int(node.pid)
        return None

    def restarts(self) -> int:
        return sum(node.restarts for node in self.runtime.tree().walk())

    # Loss, read from what the TVs and the constellation stored (call after close()).

    def losses(self, expected: Mapping[str, Sequence[str]] | None = None) -> dict[str, int]:
        """Acknowledged views missing from a TV's memory, and acknowledged pattern values missing from the store."""
        return {"acked_observations_lost": self._lost_views(expected), "acked_deltas_lost": self._lost_deltas()}

    def _lost_views(self, expected: Mapping[str, Sequence[str]] | None) -> int:
        lost = 0
        for tv, count in self.ledger.played.items():
            worker = self.options.directory / f"worker-{self.owner[tv]}" / tv
            store = MemoryStore(worker / "memory.sqlite3")
            try:
                stored = [row[0] for row in store.db.execute("SELECT media_id FROM episodes ORDER BY id")]
            finally:
                store.close()
            lost += max(count - len(stored), 0)
            if expected is not None:  # and the ones stored are the ones played, in order
                lost += sum(1 for a, b in zip(stored[:count], expected[tv][:count]) if a != b)
        return lost

    def _lost_deltas(self) -> int:
        store = SQLiteConstellationStore(self.options.directory / "constellation")
        try:
            devices = {name: index for name, index, _, _ in store.devices()}
            latest: dict[tuple[int, int], int] = {}
            for shard in range(self.options.shards):
                table = ShardWriter(store, shard, 1 << 62).state.compact()
                for device, pattern, seq in zip(table["device"].tolist(), table["pattern"].tolist(), table["seq"].tolist()):
                    latest[(device, pattern)] = seq
        finally:
            store.close()
        return sum(1 for (tv, pattern), seq in self.ledger.acked.items()
                   if latest.get((devices.get(tv, -1), pattern), 0) < seq)


MARKER = ".omega-fleet-run"


def fresh_directory(directory: Path) -> None:
    """Empty ``directory`` for a new run, but only one an earlier run made: never a user's own files."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise ConfigError(f"{directory} is not empty and no fleet run made it; give an empty or new directory",
                              key="--data")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by a fleet run of omega_actors: the next run empties it\n")


def write_catalogue(path: Path, catalogue: Sequence[MediaItem]) -> None:
    """The items and their vectors, embedded once here: every worker process loads this instead of a model."""
    save_catalogue(path, catalogue, shared_embedder().embed_many([item.text for item in catalogue]))
