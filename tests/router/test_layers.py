"""The compute layers: names, numbers and labels as config and logs use them."""

from __future__ import annotations

import pytest

from omega_actors.errors import ConfigError
from omega_actors.router.layers import ALL_LAYERS, CHAT_LAYERS, Layer


def test_the_layers_are_numbered_as_in_the_design_cheapest_first() -> None:
    assert [int(layer) for layer in ALL_LAYERS] == [2, 3, 4, 5, 6, 7]
    assert CHAT_LAYERS == (Layer.SMALL, Layer.MEDIUM, Layer.LARGE)


def test_layer_labels_read_like_the_design() -> None:
    assert [layer.label for layer in Layer] == ["L2 rules", "L3 tiny", "L4 small", "L5 medium", "L6 large", "L7 consensus"]


@pytest.mark.parametrize("layer", list(Layer))
def test_a_layer_parses_from_its_key_its_l_number_and_its_number(layer: Layer) -> None:
    assert Layer.parse(layer.key) is Layer.parse(f"L{int(layer)}") is Layer.parse(int(layer)) is layer


@pytest.mark.parametrize("value", [True, False, "L1", "l4", "Small", 8, 4.5, None, ""])
def test_anything_else_is_a_config_error_listing_every_layer(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        Layer.parse(value)

    assert caught.value.detail.startswith(f"unknown layer {value!r}; expected one of 'rules'/'L2', ")
    assert caught.value.detail.endswith("'consensus'/'L7'")
