"""The energy policy: which layers an energy state allows, and the highest a task may start at."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.errors import ConfigError
from omega_actors.router.layers import Layer
from omega_actors.router.policy import EnergyState, energy_policy
from omega_actors.router.settings import EnergyThresholds
from tests.router.shipped import energy_states

EVERY = frozenset(Layer)
DEFAULTS = EnergyThresholds()


@st.composite
def thresholds(draw: st.DrawFn) -> EnergyThresholds:
    tiny, small = sorted(draw(st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=2, max_size=2)))
    return EnergyThresholds(tiny, small, draw(st.floats(0.0, 1000.0, allow_nan=False)))


@settings(max_examples=300, deadline=None)
@given(energy_states, thresholds())
def test_the_policy_follows_the_regimes_of_the_design_in_order(state: EnergyState, limits: EnergyThresholds) -> None:
    allowance = energy_policy(state, limits)

    pct, carbon = state.battery_pct, state.carbon_g_per_kwh
    if state.on_battery and pct < limits.tiny_only_below_pct:
        assert allowance.regime == "tiny_only"
        assert allowance.allowed <= {Layer.RULES, Layer.TINY}
        assert allowance.start_cap <= Layer.TINY
    elif state.on_battery and pct < limits.prefer_small_below_pct:
        assert allowance.regime == "prefer_small"
        assert Layer.MEDIUM not in allowance.allowed
        assert allowance.allowed == EVERY - {Layer.MEDIUM}  # a failure may still escalate to the radio-only L6-L7
        assert allowance.start_cap == Layer.SMALL
    elif carbon is not None and carbon < limits.clean_grid_below_g:
        assert (allowance.regime, allowance.allowed, allowance.start_cap) == ("allow_large", EVERY, Layer.LARGE)
    elif state.solar_peak:
        assert (allowance.regime, allowance.allowed, allowance.start_cap) == ("allow_medium", EVERY, Layer.MEDIUM)
    else:
        assert (allowance.regime, allowance.allowed, allowance.start_cap) == ("prefer_local", EVERY, Layer.SMALL)


@settings(max_examples=200, deadline=None)
@given(energy_states, thresholds())
def test_the_cheap_layers_are_always_allowed_and_the_start_cap_is_an_allowed_layer(state: EnergyState, limits: EnergyThresholds) -> None:
    allowance = energy_policy(state, limits)

    assert {Layer.RULES, Layer.TINY} <= allowance.allowed
    assert allowance.start_cap in allowance.allowed
    assert allowance.reason


@settings(max_examples=200, deadline=None)
@given(energy_states)
def test_mains_power_allows_every_layer(state: EnergyState) -> None:
    plugged_in = EnergyState(False, state.battery_pct, state.solar_peak, state.carbon_g_per_kwh)

    assert energy_policy(plugged_in, DEFAULTS).allowed == EVERY


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 100.0, allow_nan=False), st.floats(0.0, 100.0, allow_nan=False), st.booleans(), st.none() | st.floats(0.0, 1000.0))
def test_more_battery_never_allows_fewer_layers(low: float, high: float, solar: bool, carbon: float | None) -> None:
    low, high = sorted((low, high))

    poorer = energy_policy(EnergyState(True, low, solar, carbon), DEFAULTS)
    richer = energy_policy(EnergyState(True, high, solar, carbon), DEFAULTS)

    assert poorer.allowed <= richer.allowed
    assert poorer.start_cap <= richer.start_cap


@pytest.mark.parametrize(
    ("state", "regime"),
    [
        (EnergyState(on_battery=True, battery_pct=19.9), "tiny_only"),
        (EnergyState(on_battery=True, battery_pct=20.0), "prefer_small"),
        (EnergyState(on_battery=True, battery_pct=49.9, carbon_g_per_kwh=10.0), "prefer_small"),
        (EnergyState(on_battery=True, battery_pct=50.0), "prefer_local"),
        (EnergyState(on_battery=False, battery_pct=5.0), "prefer_local"),
        (EnergyState(carbon_g_per_kwh=99.9, solar_peak=True), "allow_large"),
        (EnergyState(carbon_g_per_kwh=100.0, solar_peak=True), "allow_medium"),
        (EnergyState(carbon_g_per_kwh=None), "prefer_local"),
        (EnergyState(carbon_g_per_kwh=0.0), "allow_large"),
    ],
)
def test_each_threshold_is_exclusive(state: EnergyState, regime: str) -> None:
    assert energy_policy(state, DEFAULTS).regime == regime


def test_the_reason_names_the_battery_level_and_the_threshold() -> None:
    allowance = energy_policy(EnergyState(on_battery=True, battery_pct=12.5), DEFAULTS)

    assert "12.5%" in allowance.reason and "20%" in allowance.reason


@pytest.mark.parametrize("pct", [-0.1, 100.1, math.nan, math.inf, "50", True, None])
def test_a_battery_level_outside_0_to_100_is_a_config_error(pct: object) -> None:
    with pytest.raises(ConfigError, match="expected a battery level from 0 to 100") as caught:
        EnergyState(on_battery=True, battery_pct=pct)  # type: ignore[arg-type]

    assert caught.value.key == "battery"


@pytest.mark.parametrize("carbon", [-1.0, math.inf, math.nan, "low", True])
def test_a_carbon_intensity_that_is_not_a_finite_non_negative_number_is_a_config_error(carbon: object) -> None:
    with pytest.raises(ConfigError, match="expected a carbon intensity >= 0") as caught:
        EnergyState(carbon_g_per_kwh=carbon)  # type: ignore[arg-type]

    assert caught.value.key == "carbon"


@pytest.mark.parametrize(("pct", "carbon"), [(0, 0), (100, 0.0), (0.0, None), (100.0, 999999.0)])
def test_the_edges_of_the_accepted_ranges_are_accepted(pct: float, carbon: float | None) -> None:
    EnergyState(on_battery=True, battery_pct=pct, carbon_g_per_kwh=carbon)


@pytest.mark.parametrize("flag", ["on_battery", "solar_peak"])
@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_a_flag_that_is_not_true_or_false_is_a_config_error(flag: str, value: object) -> None:
    with pytest.raises(ConfigError, match="expected true or false") as caught:
        EnergyState(**{flag: value})  # type: ignore[arg-type]

    assert caught.value.key == flag
