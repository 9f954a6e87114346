"""The constellation's supervision tree: shards, ingest and publisher.

::

    constellation (rest_for_one)
      shards      (one_for_one)  shard-0 .. shard-N-1   ShardActor: commit batch parts, fold, aggregate
      ingest      IngestActor    gathers pushes into batches, verifies, splits by pattern hash, acks after commit
      publisher   PublisherActor release rounds (trends, privacy, bundle), and answers pulls

``rest_for_one``: the ingest needs its shards, and the publisher reads what
they committed. How the parts work together is in
:mod:`omega_actors.actors.constellation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..actors.constellation import IngestActor, PublisherActor, ShardActor, shard_name
from ..actors.sync_messages import INGEST, PUBLISHER
from ..federation import ConstellationSettings
from ..runtime import ChildSpec, Strategy, Supervisor, SupervisorSpec


def constellation_spec(*, store_dir: str = "", database_url: str = "", settings: Mapping[str, Any] | None = None,
                       batch_max: int = 512, batch_wait: float = 0.02, shard_timeout: float = 5.0,
                       publish_interval: float = 60.0, intensity: int = 5, period: float = 30.0) -> ChildSpec:
    """The constellation's supervisor, as ``config/constellation/tree.toml`` declares it."""
    table = dict(settings or {})
    parsed = ConstellationSettings.from_table(table)  # refuse bad settings here, not in a child's start
    common: dict[str, Any] = {"store_dir": store_dir, "database_url": database_url, "settings": table}
    shards = Supervisor.child_spec(
        "shards",
        SupervisorSpec(
            strategy=Strategy.ONE_FOR_ONE, intensity=intensity, period=period,
            children=tuple(ShardActor.child_spec(f"shard-{n}", shard=n, name=shard_name(n), **common) for n in range(parsed.shards)),
        ),
    )
    return Supervisor.child_spec(
        "constellation",
        SupervisorSpec(
            strategy=Strategy.REST_FOR_ONE, intensity=intensity, period=period,
            children=(
                shards,
                IngestActor.child_spec("ingest", name=INGEST, batch_max=batch_max, batch_wait=batch_wait,
                                       shard_timeout=shard_timeout, **common),
                PublisherActor.child_spec("publisher", name=PUBLISHER, interval=publish_interval, **common),
            ),
        ),
    )
