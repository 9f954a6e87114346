"""The simulated fleet's tree as app.fleet builds it: the constellation, the workers with their TVs, the conductor."""

from __future__ import annotations

from omega_actors.actors.fleet import (
    CONDUCTOR,
    Conductor,
    FleetWorkerActor,
    worker_name,
)
from omega_actors.app.constellation import constellation_spec
from omega_actors.app.fleet import fleet_spec, worker_of
from omega_actors.runtime import Strategy

TVS = tuple(f"tv{n}" for n in range(7))


def test_the_constellation_comes_first_then_the_workers_then_the_conductor() -> None:
    constellation = constellation_spec()
    tree = fleet_spec("/fleet", TVS, 3, constellation)
    assert tree.strategy is Strategy.REST_FOR_ONE
    first, workers, conductor = tree.children
    assert first == constellation and (conductor.name, conductor.start.actor_class()) == (CONDUCTOR, Conductor)
    assert [(child.name, child.start.actor_class()) for child in workers.start.args[0].children] == [
        (worker_name(n), FleetWorkerActor) for n in range(3)
    ]


def test_every_tv_is_dealt_to_exactly_one_worker_as_worker_of_says() -> None:
    workers = fleet_spec("/fleet", TVS, 3, constellation_spec()).children[1].start.args[0].children
    dealt = {tv: index for index, child in enumerate(workers) for tv in child.start.kwargs["tvs"]}
    assert dealt == worker_of(TVS, 3) and sorted(dealt) == sorted(TVS)
