"""Cost accounting: attempts priced from their layers' settings, and a ledger whose rows and totals add up."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.router.costs import (
    JOULES_PER_KWH,
    Cost,
    LayerRow,
    Ledger,
    attempt_cost,
    layer_cost,
)
from omega_actors.router.escalation import Plan
from omega_actors.router.features import Estimate
from omega_actors.router.layers import Layer
from omega_actors.router.policy import EnergyState, energy_policy
from omega_actors.router.routing import Attempt, Decision, Router
from omega_actors.router.settings import EnergyThresholds, LayerSettings, RouterSettings

CHAT = (Layer.SMALL, Layer.MEDIUM, Layer.LARGE)
MAX_LATENCY = 100.0  # the histogram's last bound: 10 µs to 100 s

prices = st.floats(0.0, 10.0, allow_nan=False)
layer_prices = st.builds(
    LayerSettings, money_per_call=prices, money_per_1k_tokens=prices, joules_per_call=prices, joules_per_1k_tokens=prices
)
price_tables = st.fixed_dictionaries({layer: layer_prices for layer in Layer})
latencies = st.floats(0.0, MAX_LATENCY, allow_nan=False)


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    layer = draw(st.sampled_from(tuple(Layer)))
    ok = draw(st.booleans())
    if layer == Layer.CONSENSUS:
        members = draw(st.lists(st.sampled_from(CHAT), unique=True, max_size=3))
        usage = tuple((member, draw(st.integers(0, 5000))) for member in members)
    else:
        usage = draw(st.sampled_from([(), ((layer, draw(st.integers(0, 5000))),)]))
    return Attempt(layer, ok, usage, draw(latencies), "answer" if ok else None)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def priced(layers: Mapping[Layer, LayerSettings], electricity: float, attempt: Attempt) -> Cost:
    return attempt_cost(attempt.layer, attempt.usage, layers, electricity)


@settings(max_examples=300, deadline=None)
@given(price_tables, st.floats(0.0, 1.0, allow_nan=False), st.lists(attempts(), max_size=30))
def test_costs_add_up_per_layer_and_in_total(layers: dict[Layer, LayerSettings], electricity: float, tried: list[Attempt]) -> None:
    ledger = Ledger()
    per_layer: dict[Layer, Cost] = {}
    everything = Cost()
    for attempt in tried:
        cost = priced(layers, electricity, attempt)
        ledger.add(attempt.layer, attempt.ok, cost, attempt.latency_s)
        per_layer[attempt.layer] = per_layer.get(attempt.layer, Cost()) + cost
        everything = everything + cost

    assert set(ledger.rows) == {attempt.layer for attempt in tried}
    for layer, row in ledger.rows.items():
        assert Cost(row.tokens, row.joules, row.money) == per_layer[layer]  # the same additions in the same order
        assert row.calls == row.succeeded + row.failed == sum(a.layer == layer for a in tried)
        assert row.succeeded == sum(a.layer == layer and a.ok for a in tried)
        assert close(row.latency_s, math.fsum(a.latency_s for a in tried if a.layer == layer))
        assert sum(row.histogram) == row.calls
    total = ledger.total()
    rows = list(ledger.rows.values())
    assert total.tokens == everything.tokens == sum(row.tokens for row in rows)
    assert close(total.joules, everything.joules) and close(total.joules, math.fsum(row.joules for row in rows))
    assert close(total.money, everything.money) and close(total.money, math.fsum(row.money for row in rows))


@settings(max_examples=200, deadline=None)
@given(layer_prices, st.integers(0, 100_000), st.floats(0.0, 1.0, allow_nan=False))
def test_a_layers_cost_is_its_energy_and_its_bill_and_that_energy_at_the_electricity_price(
    layer: LayerSettings, tokens: int, electricity: float
) -> None:
    cost = layer_cost(layer, tokens, electricity)

    joules = layer.joules_per_call + layer.joules_per_1k_tokens * tokens / 1000
    assert cost.tokens == tokens
    assert close(cost.joules, joules)
    assert close(cost.money, layer.money_per_call + layer.money_per_1k_tokens * tokens / 1000 + joules * electricity / JOULES_PER_KWH)
    assert cost.joules >= 0 and cost.money >= 0


def test_the_shipped_small_layer_prices_its_energy_at_the_electricity_price() -> None:
    settings = RouterSettings()

    cost = layer_cost(settings.layer(Layer.SMALL), 500, settings.electricity_per_kwh)

    assert cost == Cost(500, 2.0 + 60.0 * 0.5, 32.0 * 0.30 / 3_600_000)


def test_an_attempt_that_reports_its_own_usage_is_not_charged_the_call_twice() -> None:
    layers = {layer: LayerSettings(money_per_call=1.0, joules_per_call=2.0) for layer in Layer}

    assert attempt_cost(Layer.SMALL, [(Layer.SMALL, 100)], layers, 0.0) == Cost(100, 2.0, 1.0)
    assert attempt_cost(Layer.TINY, [], layers, 0.0) == Cost(0, 2.0, 1.0)


def test_a_consensus_attempt_costs_each_members_call_plus_its_own_price() -> None:
    layers = dict(RouterSettings().layers)
    usage = [(Layer.SMALL, 120), (Layer.MEDIUM, 80), (Layer.LARGE, 300)]

    cost = attempt_cost(Layer.CONSENSUS, usage, layers, 0.3)

    members = layer_cost(layers[Layer.SMALL], 120, 0.3) + layer_cost(layers[Layer.MEDIUM], 80, 0.3) + layer_cost(layers[Layer.LARGE], 300, 0.3)
    assert cost == members + layer_cost(layers[Layer.CONSENSUS], 0, 0.3)
    assert cost.tokens == 500
    assert cost.money >= 300 / 1000 * 0.01  # the cloud member's bill


def test_a_consensus_layers_own_per_call_price_is_added_to_its_members() -> None:
    layers = {layer: LayerSettings() for layer in Layer}
    layers[Layer.CONSENSUS] = LayerSettings(money_per_call=0.5)
    layers[Layer.LARGE] = LayerSettings(money_per_1k_tokens=2.0)

    assert attempt_cost(Layer.CONSENSUS, [(Layer.LARGE, 1000)], layers, 0.0) == Cost(1000, 0.0, 2.5)


@settings(max_examples=300, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=50), st.floats(0.0, 1.0))
def test_a_percentile_is_the_upper_bound_of_the_bucket_that_holds_that_quantile(values: list[float], q: float) -> None:
    ledger = Ledger()
    for latency in values:
        ledger.add(Layer.SMALL, True, Cost(), latency)

    bound = ledger.rows[Layer.SMALL].percentile(q)

    ordered = sorted(values)
    exact = ordered[max(math.ceil(q * len(ordered)) - 1, 0)]
    assert bound is not None
    assert exact <= bound
    assert bound <= max(exact, 1e-5) * 10**0.1 * (1 + 1e-9)  # ten buckets per decade, the first ends at 10 µs


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=50), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_percentiles_never_decrease_with_the_quantile(values: list[float], q1: float, q2: float) -> None:
    row = LayerRow()
    ledger = Ledger({Layer.SMALL: row})
    for latency in values:
        ledger.add(Layer.SMALL, True, Cost(), latency)
    low, high = sorted((q1, q2))

    assert row.percentile(low) <= row.percentile(high)  # type: ignore[operator]


def test_a_layer_with_no_calls_has_no_percentile() -> None:
    assert LayerRow().percentile(0.5) is None


def test_the_table_lists_layers_cheapest_first_with_their_p50_and_mean() -> None:
    ledger = Ledger()
    ledger.add(Layer.LARGE, True, Cost(10, 1.0, 0.1), 2.0)
    ledger.add(Layer.TINY, False, Cost(), 0.004)
    ledger.add(Layer.TINY, True, Cost(0, 0.2, 0.0), 0.006)

    table = ledger.table()

    assert [row["layer"] for row in table] == ["L3 tiny", "L6 large"]
    assert (table[0]["calls"], table[0]["succeeded"], table[0]["failed"], table[0]["latency_ms_mean"]) == (2, 1, 1, 5.0)
    assert 4.0 <= table[0]["latency_ms_p50"] < 4.0 * 10**0.1
    assert (table[1]["tokens"], table[1]["joules"], table[1]["money"]) == (10, 1.0, 0.1)


@settings(max_examples=100, deadline=None)
@given(price_tables, st.lists(attempts(), max_size=20))
def test_the_ledger_round_trips_through_json(layers: dict[Layer, LayerSettings], tried: list[Attempt]) -> None:
    ledger = Ledger()
    for attempt in tried:
        ledger.add(attempt.layer, attempt.ok, priced(layers, 0.3, attempt), attempt.latency_s)

    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())))

    assert restored.to_dict() == ledger.to_dict()
    assert restored.table() == ledger.table()
    total, again = ledger.total(), restored.total()
    assert total.tokens == again.tokens and close(total.joules, again.joules) and close(total.money, again.money)
    for layer, row in ledger.rows.items():
        assert restored.rows[layer].histogram == row.histogram


def decision(text: str = "who wrote hamlet") -> Decision:
    est = Estimate(Layer.SMALL, "question", False, "test")
    allowance = energy_policy(EnergyState(), EnergyThresholds())
    return Decision(text, text, est, allowance, Plan((Layer.SMALL, Layer.MEDIUM, Layer.LARGE), "test"), None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(attempts(), min_size=1, max_size=4), max_size=12))
def test_the_costs_record_returns_add_up_to_the_ledger_total(tasks: list[list[Attempt]]) -> None:
    router = Router(RouterSettings())
    returned = Cost()

    for index, tried in enumerate(tasks):
        returned = returned + router.record(decision(f"task {index}"), tried).cost

    total = router.ledger.total()
    assert total.tokens == returned.tokens
    assert close(total.joules, returned.joules) and close(total.money, returned.money)
    assert sum(row.calls for row in router.ledger.rows.values()) == sum(len(tried) for tried in tasks)


def test_a_failed_attempt_that_reports_no_usage_costs_nothing_but_is_counted() -> None:
    router = Router(RouterSettings())

    outcome = router.record(decision(), [Attempt(Layer.SMALL, False, (), 20.0, error="connection refused")])

    assert outcome.cost == Cost()
    row = router.ledger.rows[Layer.SMALL]
    assert (row.calls, row.failed, row.tokens, row.joules, row.money) == (1, 1, 0, 0.0, 0.0)


def test_a_failed_attempt_pays_for_the_tokens_it_reports() -> None:
    settings = RouterSettings()
    router = Router(settings)

    outcome = router.record(decision(), [Attempt(Layer.SMALL, False, ((Layer.SMALL, 50),), 1.0, error="malformed")])

    assert outcome.cost == layer_cost(settings.layer(Layer.SMALL), 50, settings.electricity_per_kwh)
    assert outcome.cost.joules > 0


def test_a_successful_attempt_with_no_usage_pays_its_layers_call_price() -> None:
    settings = RouterSettings()
    router = Router(settings)

    outcome = router.record(decision("volume up"), [Attempt(Layer.RULES, True, (), 1e-5, "action: volume up")])

    assert outcome.cost == Cost(0, 0.001, 0.001 * 0.30 / JOULES_PER_KWH)


def test_the_costs_of_an_energy_state_do_not_depend_on_it() -> None:
    # Prices come from the layers alone: the battery changes where a task goes, not what a layer costs.
    router = Router(RouterSettings())
    attempt = Attempt(Layer.SMALL, True, ((Layer.SMALL, 10),), 0.1, "x")
    first = router.record(router.decide("who wrote hamlet", EnergyState(True, 30.0), frozenset(Layer)), [attempt]).cost
    second = router.record(router.decide("who wrote macbeth", EnergyState(), frozenset(Layer)), [attempt]).cost

    assert first == second
