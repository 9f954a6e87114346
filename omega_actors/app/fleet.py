"""The simulated fleet's tree: the constellation, worker processes of many TVs each, and a conductor.

::

    fleet (rest_for_one)
      constellation            the constellation's own tree (shards, ingest, publisher)
      workers (one_for_one)    FleetWorkerActor x W: each runs a FleetWorker of many TVs (one process each on tcp)
      conductor                Conductor: one step = every worker plays its views, then syncs

How a step runs is in :mod:`omega_actors.actors.fleet`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..actors.fleet import CONDUCTOR, Conductor, FleetWorkerActor, worker_name
from ..runtime import ChildSpec, Strategy, Supervisor, SupervisorSpec


def fleet_spec(directory: str, tvs: Sequence[str], workers: int, constellation: ChildSpec, *,
               brain: Mapping[str, Any] | None = None, sync: Mapping[str, Any] | None = None,
               sync_timeout: float = 20.0, retry: float = 30.0, intensity: int = 50, period: float = 60.0) -> SupervisorSpec:
    """The whole simulated system: the constellation, then the workers (TVs dealt round-robin), then the conductor."""
    shares = [list(tvs[w::workers]) for w in range(workers)]
    pool = Supervisor.child_spec("workers", SupervisorSpec(
        strategy=Strategy.ONE_FOR_ONE, intensity=intensity, period=period,
        children=tuple(FleetWorkerActor.child_spec(f"worker-{w}", index=w, tvs=shares[w], directory=directory,
                                                   brain=dict(brain or {}), sync=dict(sync or {}),
                                                   sync_timeout=sync_timeout, name=worker_name(w))
                       for w in range(workers)),
    ))
    conductor = Conductor.child_spec("conductor", workers=workers, retry=retry, name=CONDUCTOR)
    return SupervisorSpec(strategy=Strategy.REST_FOR_ONE, intensity=intensity, period=period,
                          children=(constellation, pool, conductor))


def worker_of(tvs: Sequence[str], workers: int) -> dict[str, int]:
    """Which worker holds each TV (the dealing of :func:`fleet_spec`)."""
    return {tv: i % workers for i, tv in enumerate(tvs)}
