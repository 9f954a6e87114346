"""The router's tree as app.router builds it from a [router] table, and one task routed on a tree started for it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omega_actors.actors.router import Route
from omega_actors.app.router import route_once, router_spec, router_table, state_dir
from omega_actors.errors import ConfigError, DeliveryError
from omega_actors.runtime import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path):
    """The shipped config/router on the simple base, with its data directory under tmp_path."""
    directory = tmp_path / "router"
    shutil.copytree(ROOT / "config" / "router", directory)
    (directory / "system.toml").write_text(f'[system]\nbase = "simple"\ndata_dir = "{tmp_path / "data"}"\n')
    return load_config(directory)


def test_the_providers_come_before_the_router_one_per_running_layer_each_registered_as_router_layer(config) -> None:
    tree = router_spec(router_table(config)).start.args[0]
    providers, router = tree.children
    assert (providers.id, router.id, router.name) == ("providers", "router", "router")
    names = [child.name for child in providers.start.args[0].children]
    assert names[:2] == ["router.rules", "router.tiny"] and all(name.startswith("router.") for name in names)


def test_a_bad_router_table_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "router.toml").write_text("[router]\nmax_input_chars = -1\n")
    with pytest.raises(ConfigError) as refused:
        router_table(load_config(tmp_path))
    assert refused.value.key == "router.max_input_chars" and refused.value.file == str(tmp_path / "router.toml")


def test_the_router_learns_into_the_configs_own_state_repository_unless_told_otherwise(config, tmp_path: Path) -> None:
    assert state_dir(config, {}) == (tmp_path / "data" / "state").resolve()
    assert state_dir(config, {"state_dir": str(tmp_path / "elsewhere")}) == (tmp_path / "elsewhere").resolve()


def test_one_task_is_routed_to_the_cheapest_layer_that_can_do_it(config) -> None:
    result = route_once(config, Route("what should I watch now?"))
    assert (result.layer, result.answer) == ("L3 tiny", "intent: recommend")


def test_a_task_the_router_refuses_is_an_error_that_says_why(config) -> None:
    with pytest.raises(DeliveryError, match="a task must not be empty"):
        route_once(config, Route(""))
