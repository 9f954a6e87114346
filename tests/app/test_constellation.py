"""The constellation's tree as app.constellation builds it, and its settings refused before any start."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.app.constellation import constellation_spec
from omega_actors.errors import ConfigError
from omega_actors.runtime import load_config

KEYS = ("shards", "push_cap", "cohort", "compact_rows", "k", "max_weight", "trim", "alpha", "min_rise", "rise_scale",
        "warmup", "epsilon", "max_epsilon", "pull_cap")  # fmt: skip


def test_the_config_declares_the_constellation_the_builder_makes() -> None:
    declared = load_config(Path(__file__).parents[2] / "config" / "constellation").require_tree()
    assert declared.children == (constellation_spec(),)


def test_bad_constellation_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"constellation\.shardz"):
        constellation_spec(settings={"shardz": 2})
    with pytest.raises(ConfigError, match=r"constellation\.trim"):
        constellation_spec(settings={"trim": 0.7})


@given(key=st.sampled_from(KEYS), value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)))
def test_any_value_of_any_setting_builds_the_tree_or_is_refused_naming_that_key(key: str, value: object) -> None:
    try:
        constellation_spec(settings={key: value})
    except ConfigError as exc:
        assert exc.key == f"constellation.{key}"
