"""Genesis' tree as app.genesis builds it."""

from __future__ import annotations

from pathlib import Path

from omega_actors.actors.genesis import (
    AGGREGATOR,
    EXPERIMENTS,
    SERVICE,
    GenesisService,
    ImprovementAggregator,
)
from omega_actors.app.genesis import genesis_spec
from omega_actors.runtime import Strategy, Supervisor, load_config


def test_the_config_declares_the_tree_the_builder_makes() -> None:
    declared = load_config(Path(__file__).parents[2] / "config" / "genesis").require_tree()
    assert declared.children == (genesis_spec(".omega/genesis", "sandboxes"),)


def test_the_service_comes_first_then_a_bounded_dynamic_supervisor_of_experiments_then_the_aggregator() -> None:
    spec = genesis_spec("/data", "/sandboxes", max_experiments=3, aggregator={"state_repository": "/state", "dataset": "/d"})
    tree = spec.start.args[0]
    assert tree.strategy is Strategy.REST_FOR_ONE
    service, experiments, aggregator = tree.children
    assert (service.name, service.start.actor_class()) == (SERVICE, GenesisService)
    assert (experiments.name, experiments.start.actor_class()) == (EXPERIMENTS, Supervisor)
    assert experiments.start.args[0].dynamic and experiments.start.args[0].max_children == 3
    assert (aggregator.name, aggregator.start.actor_class()) == (AGGREGATOR, ImprovementAggregator)
