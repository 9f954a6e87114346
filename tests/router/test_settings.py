"""The ``[router]`` table: the shipped config loads, and every bad value names its file, its key and what is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omega_actors.errors import ConfigError
from omega_actors.router.layers import Layer
from omega_actors.router.settings import (
    LAYER_DEFAULTS,
    EnergyThresholds,
    LayerSettings,
    RouterSettings,
)
from omega_actors.runtime import load_config
from tests.router.shipped import CONFIG_DIR, shipped_settings

FILE = "config/router/router.toml"


def rejected(table: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        RouterSettings.from_table(table, file=FILE)
    return caught.value


def test_the_shipped_router_config_loads_with_the_values_it_documents() -> None:
    settings = shipped_settings()

    assert settings.energy == EnergyThresholds(20.0, 50.0, 100.0)
    assert (settings.learning.promote_after, settings.learning.demote_after, settings.learning.probe_every) == (5, 2, 25)
    assert (settings.compile.min_repeats, settings.compile.audit_every) == (3, 50)
    assert (settings.breaker.failures, settings.breaker.reset_after) == (3, 30.0)
    assert settings.layer(Layer.TINY).min_confidence == 0.55
    assert settings.layer(Layer.SMALL).configured and not settings.layer(Layer.MEDIUM).configured
    assert settings.layer(Layer.CONSENSUS).members == ("small", "medium", "large")
    assert [rule.name for rule in settings.rules] == ["volume", "mute", "channel", "playback", "subtitles", "sleep"]
    assert set(settings.intents) == {"recommend", "similar", "continue_watching", "search_title", "browse_genre", "whats_on"}


def test_the_shipped_config_keeps_the_cloud_layers_non_local_so_private_tasks_never_reach_them() -> None:
    settings = shipped_settings()

    assert [layer for layer in Layer if not settings.layer(layer).local] == [Layer.LARGE, Layer.CONSENSUS]


def test_a_bad_value_in_a_copy_of_the_shipped_file_is_reported_against_that_file(tmp_path: Path) -> None:
    shipped = (CONFIG_DIR / "router.toml").read_text()
    assert shipped.count("timeout = 20.0") == 1
    (tmp_path / "router.toml").write_text(shipped.replace("timeout = 20.0", "timeout = 0"))
    config = load_config(tmp_path)

    with pytest.raises(ConfigError) as caught:
        RouterSettings.from_table(config.tables["router"], file=config.sources["router"])

    assert caught.value.file == str(tmp_path / "router.toml")
    assert caught.value.key == "router.layers.small.timeout"


def test_an_empty_table_gives_the_declared_defaults_for_every_layer() -> None:
    settings = RouterSettings.from_table({}, file=FILE)

    assert settings == RouterSettings()
    for layer in Layer:
        assert settings.layer(layer) == LayerSettings(**LAYER_DEFAULTS[layer])


def test_a_layer_table_overrides_only_the_keys_it_names() -> None:
    settings = RouterSettings.from_table({"layers": {"large": {"timeout": 5.0}}})

    large = settings.layer(Layer.LARGE)
    assert large.timeout == 5.0
    assert large.local is False and large.money_per_1k_tokens == LAYER_DEFAULTS[Layer.LARGE]["money_per_1k_tokens"]


def test_a_layer_may_be_named_by_its_number() -> None:
    settings = RouterSettings.from_table({"layers": {"L4": {"timeout": 7.0}}})

    assert settings.layer(Layer.SMALL).timeout == 7.0


@pytest.mark.parametrize(
    ("table", "key", "accepted"),
    [
        ({"layers": {"small": {"timeout": 0}}}, "router.layers.small.timeout", "expected a number > 0"),
        ({"layers": {"small": {"timeout": "soon"}}}, "router.layers.small.timeout", "expected a number > 0"),
        ({"layers": {"L4": {"timeout": -1.0}}}, "router.layers.small.timeout", "expected a number > 0"),
        ({"layers": {"tiny": {"min_confidence": 1.5}}}, "router.layers.tiny.min_confidence", "<= 1.0"),
        ({"layers": {"small": {"enabled": "yes"}}}, "router.layers.small.enabled", "expected true or false"),
        ({"layers": {"small": {"max_tokens": 0}}}, "router.layers.small.max_tokens", "expected a whole number >= 1"),
        ({"layers": {"large": {"base_url": "ftp://example.com"}}}, "router.layers.large.base_url", "http:// or https://"),
        ({"layers": {"large": {"money_per_1k_tokens": -0.01}}}, "router.layers.large.money_per_1k_tokens", ">= 0"),
        ({"layers": {"consensus": {"members": ["small", "tiny"]}}}, "router.layers.consensus.members", "expected a chat layer"),
        ({"layers": {"consensus": {"mode": "vote"}}}, "router.layers.consensus.mode", '"majority" or "judge"'),
        ({"layers": {"consensus": {"judge": "rules"}}}, "router.layers.consensus.judge", "expected a chat layer"),
        ({"energy": {"tiny_only_below_pct": 101}}, "router.energy.tiny_only_below_pct", "<= 100"),
        ({"energy": {"tiny_only_below_pct": -5}}, "router.energy.tiny_only_below_pct", ">= 0"),
        ({"energy": {"tiny_only_below_pct": 60.0}}, "router.energy.tiny_only_below_pct", "must not exceed prefer_small_below_pct"),
        ({"energy": {"clean_grid_below_g": float("nan")}}, "router.energy.clean_grid_below_g", "expected a number"),
        ({"energy": 5}, "router.energy", "expected a table"),
        ({"learning": {"promote_after": 0}}, "router.learning.promote_after", "expected a whole number >= 1"),
        ({"learning": {"demote_after": 1.5}}, "router.learning.demote_after", "expected a whole number >= 1"),
        ({"compile": {"min_repeats": 1}}, "router.compile.min_repeats", "expected a whole number >= 2"),
        ({"breaker": {"reset_after": 0}}, "router.breaker.reset_after", "expected a number > 0"),
        ({"max_input_chars": True}, "router.max_input_chars", "expected a whole number >= 1"),
        ({"electricity_per_kwh": -1}, "router.electricity_per_kwh", ">= 0"),
        ({"state_dir": 3}, "router.state_dir", "expected a directory path"),
        ({"rules": [{"name": "r", "pattern": "(unclosed", "answer": "x"}]}, "router.rules[0].pattern", "not a regular expression"),
        ({"rules": [{"name": "r", "pattern": "^(a)$", "answer": "{2}"}]}, "router.rules[0].answer", "the pattern has 1 group(s)"),
        ({"rules": [{"name": "", "pattern": "a", "answer": "x"}]}, "router.rules[0].name", "expected a non-empty string"),
        ({"rules": [{"name": "ok", "pattern": "a", "answer": "x"}, "mute"]}, "router.rules[1]", "expected a table"),
        ({"rules": {"name": "r"}}, "router.rules", "[[router.rules]]"),
        ({"intents": {"recommend": []}}, "router.intents.recommend", "a non-empty array of example sentences"),
        ({"intents": {"recommend": ["fine", "   "]}}, "router.intents.recommend", "a non-empty array of example sentences"),
        ({"intents": {"recommend": "what should I watch"}}, "router.intents.recommend", "a non-empty array"),
        ({"intents": ["recommend"]}, "router.intents", "expected a table of intent"),
        ({"layers": 3}, "router.layers", "expected a table of layers"),
        ({"layers": {"small": "fast"}}, "router.layers.small", "expected a table"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_file_the_full_key_and_what_is_accepted(table: dict[str, Any], key: str, accepted: str) -> None:
    error = rejected(table)

    assert (error.file, error.key) == (FILE, key)
    assert accepted in error.detail
    assert str(error).startswith(f"{FILE}: {key}: ")


def test_an_unknown_top_level_key_is_an_error_listing_the_accepted_keys() -> None:
    error = rejected({"max_input_char": 10})

    assert error.key == "router.max_input_char"
    assert "unknown key 'max_input_char'" in error.detail
    for accepted in ("max_input_chars", "energy", "layers", "rules", "intents"):
        assert accepted in error.detail


def test_an_unknown_key_inside_a_layer_is_an_error_keyed_by_the_layers_name() -> None:
    error = rejected({"layers": {"L4": {"base": "http://x"}}})

    assert error.key == "router.layers.small.base"
    assert "unknown key 'base'" in error.detail and "base_url" in error.detail


def test_an_unknown_key_inside_a_subtable_lists_that_subtables_keys() -> None:
    error = rejected({"learning": {"promote": 3}})

    assert error.key == "router.learning.promote"
    assert "promote_after, demote_after, probe_every" in error.detail


def test_an_unknown_layer_name_is_an_error_listing_every_layer() -> None:
    error = rejected({"layers": {"huge": {"timeout": 1.0}}})

    assert error.key == "router.layers.huge"
    assert "unknown layer 'huge'" in error.detail
    for layer in Layer:
        assert f"{layer.key!r}/'L{int(layer)}'" in error.detail


@pytest.mark.parametrize("missing", ["name", "pattern", "answer"])
def test_a_rule_missing_a_key_is_a_config_error_naming_that_key(missing: str) -> None:
    rule = {"name": "volume", "pattern": "^volume (up|down)$", "answer": "action: volume {1}"}
    del rule[missing]

    error = rejected({"rules": [rule]})

    assert error.key == f"router.rules[0].{missing}"
    assert "expected a non-empty string" in error.detail


def test_a_misspelt_rule_key_is_reported_as_unknown_rather_than_missing() -> None:
    error = rejected({"rules": [{"name": "volume", "patern": "^volume$", "answer": "x"}]})

    assert error.key == "router.rules[0].patern"
    assert "unknown key 'patern' (did you mean 'pattern'?); expected one of: name, pattern, answer" in error.detail


@pytest.mark.parametrize("members", [5, "small", {"small": 1}])
def test_consensus_members_that_are_not_an_array_are_a_config_error_saying_so(members: object) -> None:
    error = rejected({"layers": {"consensus": {"members": members}}})

    assert error.key == "router.layers.consensus.members"
    assert error.detail == f"expected an array of chat layers; got {members!r}"
