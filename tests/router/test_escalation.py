"""The plan: the usable layers from the starting layer upwards, so escalation never skips one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.router.escalation import Plan, plan_route, usable_layers
from omega_actors.router.features import Estimate
from omega_actors.router.layers import Layer
from omega_actors.router.policy import Allowance, EnergyState, energy_policy
from omega_actors.router.settings import EnergyThresholds
from tests.router.shipped import energy_states, layer_sets

KINDS = ("command", "critical", "code", "tv", "reasoning", "question")
LOCAL = frozenset({Layer.RULES, Layer.TINY, Layer.SMALL, Layer.MEDIUM})
EVERY = frozenset(Layer)
OPEN = Allowance(EVERY, Layer.SMALL, "prefer_local", "prefer local")

estimates = st.builds(Estimate, st.sampled_from(tuple(Layer)), st.sampled_from(KINDS), st.booleans(), st.just("estimated"))


def estimate(layer: Layer = Layer.SMALL, kind: str = "question", private: bool = False) -> Estimate:
    return Estimate(layer, kind, private, "estimated")


def expected_start(est: Estimate, allowance: Allowance, usable: list[Layer], first: Layer | None, probe: bool) -> Layer:
    """The starting layer, in the module docstring's order of precedence."""
    if est.kind == "critical":
        return Layer.CONSENSUS
    if first is not None:
        lower = [layer for layer in usable if layer < first]
        return max(lower) if probe and lower else first
    return min(est.layer, allowance.start_cap)


@settings(max_examples=500, deadline=None)
@given(estimates, energy_states, layer_sets, layer_sets, st.none() | st.sampled_from(tuple(Layer)), st.booleans())
def test_a_plan_is_the_usable_layers_from_the_start_in_the_docstrings_order_of_precedence(
    est: Estimate, energy: EnergyState, available: frozenset[Layer], local: frozenset[Layer], first: Layer | None, probe: bool
) -> None:
    allowance = energy_policy(energy, EnergyThresholds())
    usable = sorted(allowance.allowed & available & (local if est.private else EVERY))

    plan = plan_route(est, allowance, available, local, first, probe)

    assert usable_layers(est, allowance, available, local) == usable
    if not usable:
        assert plan.layers == () and not plan.probing
        return
    start = expected_start(est, allowance, usable, first, probe)
    from_start = tuple(layer for layer in usable if layer >= start)
    assert plan.layers == (from_start or (usable[-1],))
    assert plan.probing == (bool(from_start) and est.kind != "critical" and first is not None and probe and start < first)
    assert plan.reason


@settings(max_examples=300, deadline=None)
@given(estimates, energy_states, layer_sets, st.none() | st.sampled_from(tuple(Layer)), st.booleans())
def test_the_plan_walks_upwards_through_every_usable_layer_without_a_gap(
    est: Estimate, energy: EnergyState, available: frozenset[Layer], first: Layer | None, probe: bool
) -> None:
    allowance = energy_policy(energy, EnergyThresholds())
    usable = usable_layers(est, allowance, available, LOCAL)

    plan = plan_route(est, allowance, available, LOCAL, first, probe)

    assert list(plan.layers) == sorted(set(plan.layers))
    if plan.layers:
        assert list(plan.layers) == usable[usable.index(plan.layers[0]) :]


def test_a_critical_task_starts_at_consensus_whatever_was_learned() -> None:
    plan = plan_route(estimate(Layer.CONSENSUS, "critical"), OPEN, EVERY, LOCAL, first_choice=Layer.SMALL, probe=True)

    assert plan.layers == (Layer.CONSENSUS,)
    assert not plan.probing


def test_a_private_critical_task_is_capped_at_the_highest_local_layer_and_says_so() -> None:
    plan = plan_route(estimate(Layer.CONSENSUS, "critical", private=True), OPEN, EVERY, LOCAL)

    assert plan.layers == (Layer.MEDIUM,)
    assert "capped at L5 medium" in plan.reason


def test_the_estimate_above_the_start_cap_starts_at_the_cap_and_may_escalate_past_it() -> None:
    plan = plan_route(estimate(Layer.LARGE, "code"), OPEN, EVERY, LOCAL)

    assert plan.layers == (Layer.SMALL, Layer.MEDIUM, Layer.LARGE, Layer.CONSENSUS)
    assert "prefer local" in plan.reason


def test_a_learned_first_choice_above_the_start_cap_is_where_the_task_starts() -> None:
    plan = plan_route(estimate(Layer.SMALL), OPEN, EVERY, LOCAL, first_choice=Layer.LARGE)

    assert plan.layers == (Layer.LARGE, Layer.CONSENSUS)
    assert "learned" in plan.reason


def test_a_due_probe_starts_one_usable_layer_below_the_first_choice() -> None:
    available = EVERY - {Layer.MEDIUM}

    plan = plan_route(estimate(Layer.SMALL), OPEN, available, LOCAL, first_choice=Layer.LARGE, probe=True)

    assert plan.layers == (Layer.SMALL, Layer.LARGE, Layer.CONSENSUS)
    assert plan.probing
    assert "probing L4 small" in plan.reason


def test_a_probe_with_no_usable_layer_below_the_first_choice_is_not_a_probe() -> None:
    plan = plan_route(estimate(Layer.TINY), OPEN, frozenset({Layer.MEDIUM, Layer.LARGE}), LOCAL, first_choice=Layer.MEDIUM, probe=True)

    assert plan.layers == (Layer.MEDIUM, Layer.LARGE)
    assert not plan.probing


def test_with_nothing_usable_the_plan_is_empty_and_says_why() -> None:
    plan = plan_route(estimate(Layer.LARGE, private=True), OPEN, frozenset({Layer.LARGE, Layer.CONSENSUS}), LOCAL)

    assert plan.layers == ()
    assert "no local layer" in plan.reason


def test_after_walks_the_plan_and_ends_with_none() -> None:
    plan = Plan((Layer.TINY, Layer.SMALL, Layer.LARGE), "test")

    assert [plan.after(layer) for layer in plan.layers] == [Layer.SMALL, Layer.LARGE, None]


def test_after_a_layer_that_is_not_in_the_plan_is_an_error() -> None:
    with pytest.raises(ValueError):
        Plan((Layer.TINY, Layer.SMALL), "test").after(Layer.MEDIUM)


@settings(max_examples=200, deadline=None)
@given(estimates, energy_states, layer_sets, st.none() | st.sampled_from(tuple(Layer)), st.booleans())
def test_following_after_from_the_first_layer_visits_exactly_the_plan(
    est: Estimate, energy: EnergyState, available: frozenset[Layer], first: Layer | None, probe: bool
) -> None:
    plan = plan_route(est, energy_policy(energy, EnergyThresholds()), available, LOCAL, first, probe)
    visited = []
    layer = plan.layers[0] if plan.layers else None

    while layer is not None:
        visited.append(layer)
        layer = plan.after(layer)

    assert tuple(visited) == plan.layers
