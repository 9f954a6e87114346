"""``run.py eval --movielens DIR``: the fixed protocol, on the fleet, against two central reference systems.

1. :func:`omega_actors.evaluation.movielens.split`: positives (>= 3.5) in time
   order per user, users under 5 dropped, the last 20% for test.
2. Each user is one TV. Every training positive is replayed as an
   observation, in global time order, cut into ``rounds`` equal steps;
   after each step every due TV syncs (push, then one pull page) and the
   constellation publishes a release.
3. The final sync: rounds in which every TV syncs (no views). First, with
   a release after each, until no TV has anything left to push (a push is
   capped at 1 KB, so a heavy viewer's last counts wait for later syncs);
   then, with no new release, until each TV holds every page of the last
   one (a release is several pages and a TV pulls one per sync).
4. Each brain ranks its whole catalogue minus what it played; Recall@10 and
   NDCG@10 over users. Popularity and item-kNN see all training data at once.

Watch fractions: a rating r is replayed as a view watched to r / 5 (a
positive is always watched past the brain's success fraction of 0.5).
Dayparts come from the rating's hour (UTC); the mood is "any".

With ``chaos``, the replay's steps get the faults of :mod:`.chaos` (kill -9,
handlers that raise, TVs offline), and the result says what was lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omega_actors.brain import daypart_of
from omega_actors.evaluation.fleet import ViewIn
from omega_actors.evaluation.movielens import (
    Rated,
    Split,
    evaluate,
    item_knn,
    load,
    popularity,
    split,
)
from omega_actors.sim.chaos import Chaos
from omega_actors.sim.driver import FleetOptions, FleetRun

FINAL_ROUNDS_MAX = 64


@dataclass(frozen=True)
class EvalOptions:
    dataset: Path
    directory: Path
    rounds: int = 24
    workers: int = 2
    base: str = "tcp"
    k: int = 5
    chaos: bool = False
    seed: int = 0
    brain: tuple[tuple[str, Any], ...] = ()


def tv_name(user: str) -> str:
    return f"u{user}"


def replay_steps(data: Split, rounds: int) -> Iterator[list[ViewIn]]:
    """The training positives in global time order, as ``rounds`` steps of (nearly) equal size."""
    replay = data.replay()
    positions: dict[str, int] = {}
    views = []
    for user, rated in replay:
        position = positions.get(user, 0)
        positions[user] = position + 1
        views.append(_view(user, position, rated))
    for chunk in np.array_split(np.arange(len(views)), max(rounds, 1)):
        yield [views[i] for i in chunk]


def _view(user: str, position: int, rated: Rated) -> ViewIn:
    return ViewIn(tv_name(user), position, rated.media_id, min(rated.rating / 5.0, 1.0), daypart_of(rated.timestamp))


def run_eval(options: EvalOptions, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    data = split(load(options.dataset))
    tvs = tuple(tv_name(user.user) for user in data.users)
    rng = random.Random(options.seed)
    fleet_options = FleetOptions(tvs, options.directory, options.workers, options.base, options.k,
                                 brain=dict(options.brain), sync={"interval_min": 60.0, "interval_max": 120.0})
    expected = {tv_name(u.user): [r.media_id for r in u.train] for u in data.users}
    result: dict[str, Any] = {}
    with FleetRun(fleet_options, data.items) as fleet:
        chaos = Chaos(fleet, rng, options.chaos)
        now = 0.0
        for number, views in enumerate(replay_steps(data, options.rounds)):
            now += 3600.0
            faults = chaos.before_step(number, now / 3600.0, len(views))
            fleet.step(views, now, recommend=False, faults=faults, offline=chaos.down(number))
            fleet.publish()
            if progress:
                progress("replay", number + 1, options.rounds)
        rounds = _final_sync(fleet, now, progress)
        ranked = fleet.rank(10)
        result["restarts"] = fleet.restarts()
    result.update(fleet.losses(expected))
    federated = evaluate({user.user: ranked[tv_name(user.user)] for user in data.users}, data)
    return _summary(data, fleet, federated, rounds, time.monotonic() - started, result)


def _final_sync(fleet: FleetRun, now: float, progress: Callable[[str, int, int], None] | None) -> int:
    draining = True
    for round_ in range(1, FINAL_ROUNDS_MAX + 1):
        now += 3600.0
        step = fleet.step((), now, recommend=False, sync_all=True)
        if progress:
            progress("final sync", round_, 0)
        if draining and step.pushes:
            fleet.publish()
        elif draining:
            draining = False
        elif step.caught_up:
            return round_
    return FINAL_ROUNDS_MAX


def _summary(data: Split, fleet: FleetRun, federated: dict[str, float], final_rounds: int, seconds: float,
             extra: dict[str, Any]) -> dict[str, Any]:
    pop = evaluate(popularity(data, 10), data)
    knn = evaluate(item_knn(data, 10), data)
    ledger = fleet.ledger
    return {
        "users": len(data.users), "items": len(data.items),
        "recall10_federated": federated["recall"], "ndcg10_federated": federated["ndcg"],
        "recall10_popularity": pop["recall"], "ndcg10_popularity": pop["ndcg"],
        "recall10_itemknn": knn["recall"], "ndcg10_itemknn": knn["ndcg"],
        "push_bytes_p99": _p99(ledger.push_bytes), "pull_bytes_p99": _p99(ledger.pull_bytes),
        "push_bytes_max": max(ledger.push_bytes, default=0), "pull_bytes_max": max(ledger.pull_bytes, default=0),
        "pushes": ledger.frames["pushes"], "pulls": ledger.frames["pulls"],
        "raw_events_sent": ledger.frames["raw_events"],
        "final_sync_rounds": final_rounds, "faults_injected": len(fleet.faults), "seconds": round(seconds, 1),
        "syncs_failed": ledger.syncs_failed,
        **extra,
    }


def _p99(values: Sequence[int]) -> int:
    return int(np.percentile(values, 99)) if values else 0
