"""Settings tables: one unknown-key check for every table, and frozen settings with located errors."""

from __future__ import annotations

import dataclasses

import pytest

from omega_actors.errors import ConfigError
from omega_actors.runtime import check_keys, settings_from_table
from omega_actors.settings import closest, unknown_name


@dataclasses.dataclass(frozen=True)
class Window:
    width: int = 80
    height: int = 24

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ConfigError(f"expected a width >= 1; got {self.width!r}", key="width")


def test_known_keys_pass_the_check() -> None:
    check_keys({"width": 1, "height": 2}, ("width", "height"))


def test_an_unknown_key_names_the_closest_accepted_key_and_lists_them_all() -> None:
    with pytest.raises(ConfigError) as caught:
        check_keys({"widht": 1}, ("width", "height"), prefix="window.")
    assert caught.value.key == "window.widht"
    assert caught.value.detail == "unknown key 'widht' (did you mean 'width'?); expected one of: width, height"


def test_an_unknown_key_like_none_accepted_gets_no_hint() -> None:
    assert unknown_name("zzz", ("width", "height")) == "unknown key 'zzz'; expected one of: width, height"


def test_the_closest_name_must_be_alike_enough() -> None:
    assert closest("systen", ("system", "tree")) == "system"
    assert closest("router", ("system", "cluster", "tree"), cutoff=0.8) is None


def test_a_table_becomes_its_frozen_settings() -> None:
    assert settings_from_table(Window, {"width": 100}, section="window") == Window(width=100)


def test_an_unknown_key_in_a_table_is_located_in_its_file_and_section() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_table(Window, {"hight": 3}, section="window", file="ui.toml")
    assert (caught.value.file, caught.value.key) == ("ui.toml", "window.hight")
    assert "did you mean 'height'?" in caught.value.detail


def test_a_bad_value_is_located_by_the_key_the_settings_name() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_table(Window, {"width": 0}, section="window", file="ui.toml")
    assert str(caught.value) == "ui.toml: window.width: expected a width >= 1; got 0"
