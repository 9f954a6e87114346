"""One TV's tree as app.tv builds it: the children, their order and names, and settings refused before any start."""

from __future__ import annotations

from pathlib import Path

import pytest

from omega_actors.actors.improver import Improver
from omega_actors.actors.sync_agent import SyncAgent
from omega_actors.actors.tv_brain import EmbedderActor, MemoryActor
from omega_actors.app.tv import tv_brain_spec
from omega_actors.errors import ConfigError
from omega_actors.runtime import Strategy, load_config


def test_the_config_declares_the_tree_the_builder_makes() -> None:
    declared = load_config(Path(__file__).parents[2] / "config" / "brain").require_tree()
    assert declared.children == (tv_brain_spec("living-room"),)


def test_a_full_tv_is_a_rest_for_one_tree_of_embedder_memory_sync_and_improver_each_registered_under_its_tv() -> None:
    spec = tv_brain_spec("den", sync={"link": "off"}, improver={"state_dir": "/tmp/state"})
    tree = spec.start.args[0]
    assert spec.id == "tv-den" and tree.strategy is Strategy.REST_FOR_ONE
    assert [(child.id, child.name, child.start.actor_class()) for child in tree.children] == [
        ("embedder", "tv.den.embedder", EmbedderActor),
        ("memory", "tv.den.memory", MemoryActor),
        ("sync", "tv.den.sync", SyncAgent),
        ("improver", "tv.den.improver", Improver),
    ]


def test_without_sync_or_improver_a_tv_has_its_embedder_and_memory_only() -> None:
    tree = tv_brain_spec("den").start.args[0]
    assert [child.id for child in tree.children] == ["embedder", "memory"]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"settings": {"capacity": -1}}, "brain.capacity"),
        ({"sync": {"link": "carrier-pigeon"}}, "sync.link"),
        ({"sync": {"interval_min": "soon"}}, "sync.interval_min"),
    ],
)
def test_bad_brain_or_sync_settings_are_refused_when_the_tree_is_built_naming_the_key(options: dict, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        tv_brain_spec("den", **options)
    assert refused.value.key == key
