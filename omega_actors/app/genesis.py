"""Genesis' tree, and one experiment run to its verdict on a tree started for it.

::

    genesis (rest_for_one)
      service       GenesisService, named genesis.service
      experiments   dynamic Supervisor, named genesis.experiments: one temporary ExperimentActor per request
      aggregator    ImprovementAggregator, named genesis.aggregator (type 2; optional)

The service comes first: a new service starts with no experiment running
under it (it fails what its predecessor left unfinished). The TV's side of
self-improvement (the improver) is in each TV's tree: :mod:`.tv`. How
Genesis' actors work and what they publish is in
:mod:`omega_actors.actors.genesis`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..actors.genesis import (
    AGGREGATOR,
    EXPERIMENTS,
    SERVICE,
    Admitted,
    GenesisService,
    GetExperiment,
    ImprovementAggregator,
    RequestExperiment,
)
from ..runtime import (
    ChildSpec,
    Runtime,
    Strategy,
    Supervisor,
    SupervisorSpec,
    SystemConfig,
)
from .running import attach_reloader

POLL_SECONDS = 0.2


def genesis_spec(data_dir: str, sandboxes: str, *, database_url: str = "", max_experiments: int = 4,
                 aggregator: Mapping[str, Any] | None = None, intensity: int = 5, period: float = 30.0) -> ChildSpec:
    """Genesis' tree; ``aggregator`` (``state_repository``, ``dataset``, ``fleet``, ``threshold``, ``users``) adds type 2.

    ``rest_for_one``, the service first: a new service starts with no experiment
    running under it (it fails what its predecessor left unfinished), and the
    aggregator, last, keeps its counts in a checkpoint across restarts.
    """
    children = [
        GenesisService.child_spec("service", name=SERVICE, data_dir=data_dir, sandboxes=sandboxes, database_url=database_url),
        Supervisor.child_spec("experiments", SupervisorSpec(Strategy.ONE_FOR_ONE, intensity=max(10, max_experiments * 2),
                                                            period=period, dynamic=True, max_children=max_experiments),
                              name=EXPERIMENTS),
    ]  # fmt: skip
    if aggregator is not None:
        children.append(ImprovementAggregator.child_spec("aggregator", name=AGGREGATOR, **dict(aggregator)))
    return Supervisor.child_spec("genesis", SupervisorSpec(Strategy.REST_FOR_ONE, intensity, period, children=tuple(children)))


def run_experiment(request: Mapping[str, Any], data_dir: Path, sandboxes: Path, database_url: str = "", base: str = "tcp",
                   on_step: Callable[[str, str], None] | None = None, system: SystemConfig | None = None) -> dict[str, Any]:
    """Run one request on a Genesis tree started for it; its record, or ``{"status": "rejected", "reason": ...}``."""
    tree = SupervisorSpec(children=(genesis_spec(str(data_dir.resolve()), str(sandboxes.resolve()), database_url=database_url),))
    with Runtime.start(tree, system or SystemConfig(base=base)) as runtime:
        answer = runtime.ask(SERVICE, RequestExperiment(request), timeout=120)
        if not isinstance(answer, Admitted):
            return {"status": "rejected", "reason": getattr(answer, "reason", repr(answer))}
        step = ""
        while True:
            record = runtime.ask(SERVICE, GetExperiment(answer.experiment_id), timeout=60)
            if record.get("finished_at") is not None:
                return dict(record)
            if on_step and record.get("step") != step:
                step = record.get("step", "")
                on_step(answer.experiment_id, step)
            time.sleep(POLL_SECONDS)  # the CLI polls the records; tests wait on events


def apply_merged(record: Mapping[str, Any], config: Path) -> dict[str, Any]:
    """Apply a merged config change to the system started from ``config``, through the config apply path; its outcome."""
    change = record.get("request", {}).get("change", {})
    if change.get("kind") != "config":
        return {"status": "rejected", "reason": "--apply-to applies config changes; a patch waits on its branch"}
    with attach_reloader(config, who="genesis") as reloader:
        if Path(change["repository"]).resolve() != reloader.repo.path.resolve():
            return {"status": "rejected", "reason": f"the experiment changed {change['repository']}; the system started "
                                                    f"from {config} keeps its state in {reloader.repo.path}"}  # fmt: skip
        files = {**reloader.repo.files(), **{name: text.encode() for name, text in change["files"].items()}}
        origins = {name: f"genesis {record['id']}: change.files.{name}" for name in files}
        return reloader.apply(files, f"genesis {record['id']}: {record['request'].get('description', '')}", origins).to_dict()
