"""Router.decide and Router.record: energy, availability, privacy and what was learned, end to end without actors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.errors import RouterInputError
from omega_actors.router.layers import Layer
from omega_actors.router.learning import KindState, Learner
from omega_actors.router.policy import EnergyState
from omega_actors.router.routing import Attempt, Decision, Router
from omega_actors.router.settings import CompileSettings, RouterSettings
from tests.router.shipped import energy_states, layer_sets, shipped_settings, tasks

KINDS = ("command", "critical", "code", "tv", "reasoning", "question")
EVERY = frozenset(Layer)

learned = st.dictionaries(
    st.sampled_from(KINDS),
    st.builds(KindState, first=st.none() | st.sampled_from(tuple(Layer)), probe=st.booleans()),
)


def router(kinds: dict[str, KindState] | None = None, settings: RouterSettings | None = None) -> Router:
    settings = settings or shipped_settings()
    return Router(settings, Learner(settings.learning, dict(kinds or {})))


def usable(decision: Decision, r: Router, available: frozenset[Layer]) -> list[Layer]:
    layers = decision.allowance.allowed & available
    return sorted(layers & r.local if decision.estimate.private else layers)


@settings(max_examples=300, deadline=None)
@given(tasks, energy_states, layer_sets, learned)
def test_every_decision_plans_exactly_the_usable_layers_from_its_first_one_upwards(
    text: str, energy: EnergyState, available: frozenset[Layer], kinds: dict[str, KindState]
) -> None:
    r = router(kinds)

    decision = r.decide(text, energy, available)

    layers = usable(decision, r, available)
    plan = decision.plan.layers
    assert decision.compiled is None
    if not layers:
        assert plan == ()
    else:
        assert plan and plan == tuple(layer for layer in layers if layer >= plan[0])  # escalation skips nothing usable


@settings(max_examples=300, deadline=None)
@given(tasks, st.floats(0.0, 20.0, exclude_max=True, allow_nan=False), st.booleans(), st.none() | st.floats(0, 1000), layer_sets, learned)
def test_on_battery_below_20_percent_nothing_routes_above_l3(
    text: str, pct: float, solar: bool, carbon: float | None, available: frozenset[Layer], kinds: dict[str, KindState]
) -> None:
    energy = EnergyState(on_battery=True, battery_pct=pct, solar_peak=solar, carbon_g_per_kwh=carbon)

    decision = router(kinds).decide(text, energy, available)

    assert all(layer <= Layer.TINY for layer in decision.plan.layers)


@settings(max_examples=300, deadline=None)
@given(tasks, energy_states, layer_sets, learned)
def test_a_private_task_never_plans_a_layer_that_is_not_local(
    text: str, energy: EnergyState, available: frozenset[Layer], kinds: dict[str, KindState]
) -> None:
    r = router(kinds)

    decision = r.decide(text, energy, available)

    if decision.estimate.private:
        assert set(decision.plan.layers) <= r.local
        assert Layer.LARGE not in decision.plan.layers and Layer.CONSENSUS not in decision.plan.layers
    if decision.estimate.kind == "tv":
        assert decision.estimate.private


@settings(max_examples=300, deadline=None)
@given(tasks, energy_states, layer_sets, learned)
def test_a_critical_task_starts_at_l7_whenever_l7_is_usable(
    text: str, energy: EnergyState, available: frozenset[Layer], kinds: dict[str, KindState]
) -> None:
    r = router(kinds)

    decision = r.decide(text, energy, available)

    if decision.estimate.kind == "critical" and Layer.CONSENSUS in usable(decision, r, available):
        assert decision.plan.layers == (Layer.CONSENSUS,)


@settings(max_examples=200, deadline=None)
@given(tasks, energy_states, layer_sets, learned)
def test_plan_after_walks_the_plan_to_its_end(
    text: str, energy: EnergyState, available: frozenset[Layer], kinds: dict[str, KindState]
) -> None:
    plan = router(kinds).decide(text, energy, available).plan

    assert [plan.after(layer) for layer in plan.layers] == [*plan.layers[1:], None][: len(plan.layers)]


def test_the_examples_of_the_design_route_where_it_says() -> None:
    r = router()
    plugged_in = EnergyState()

    assert r.decide("volume up", plugged_in, EVERY).plan.layers[0] == Layer.RULES
    watch = r.decide("What should I watch now?", plugged_in, EVERY)
    assert watch.plan.layers == (Layer.TINY, Layer.SMALL, Layer.MEDIUM)  # private: L6 and L7 are not local
    assert r.decide("who wrote hamlet", plugged_in, EVERY).plan.layers[0] == Layer.SMALL
    assert r.decide("Should I claim this on my taxes?", plugged_in, EVERY).plan.layers == (Layer.CONSENSUS,)


def test_on_battery_at_10_percent_a_code_task_is_capped_at_l3() -> None:
    decision = router().decide("write a python function that sorts a list", EnergyState(True, 10.0), EVERY)

    assert decision.plan.layers == (Layer.TINY,)
    assert decision.plan.reason.endswith("on battery at 10% (< 20%): L2-L3 only")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("", "must not be empty"), ("   \n\t", "must not be empty"), (b"volume up", "must be text"), (None, "must be text"), ("x" * 4001, "at most 4000 characters")],
)
def test_a_task_that_is_not_non_empty_text_within_the_limit_is_refused(text: object, accepted: str) -> None:
    with pytest.raises(RouterInputError, match=accepted):
        router().decide(text, EnergyState(), EVERY)  # type: ignore[arg-type]


def test_a_task_of_exactly_max_input_chars_is_accepted() -> None:
    router().decide("x" * 4000, EnergyState(), EVERY)


def compiled_router(audit_every: int = 3) -> Router:
    settings = RouterSettings(compile=CompileSettings(min_repeats=2, audit_every=audit_every))
    r = Router(settings)
    for text in ("Who wrote Hamlet?", "who wrote hamlet"):
        decision = r.decide(text, EnergyState(), EVERY)
        r.record(decision, [Attempt(Layer.SMALL, True, ((Layer.SMALL, 10),), 0.5, "Shakespeare")])
    assert r.compiler.lookup("who wrote hamlet") is not None
    return r


def test_a_compiled_task_is_answered_at_l2_without_a_provider_and_learns_nothing() -> None:
    r = compiled_router()
    learned = r.learner.to_dict()

    decision = r.decide("WHO wrote hamlet!!", EnergyState(on_battery=True, battery_pct=5.0), EVERY)
    outcome = r.record(decision, [Attempt(Layer.RULES, True, ((Layer.RULES, 0),), 1e-5, "Shakespeare")])

    assert decision.compiled is not None and decision.compiled.answer == "Shakespeare"
    assert decision.plan.layers == (Layer.RULES,)
    assert outcome.changes == ()
    assert r.learner.to_dict() == learned


def test_every_audit_every_th_hit_of_a_handler_is_routed_normally() -> None:
    r = compiled_router(audit_every=3)

    audits = [r.decide("who wrote hamlet", EnergyState(), EVERY).audit for _ in range(9)]

    assert audits == [False, False, True] * 3


def test_an_audit_that_gets_a_different_answer_drops_the_handler() -> None:
    r = compiled_router(audit_every=1)

    decision = r.decide("who wrote hamlet", EnergyState(), EVERY)
    outcome = r.record(decision, [Attempt(Layer.SMALL, True, ((Layer.SMALL, 10),), 0.5, "Marlowe")])

    assert decision.audit and decision.compiled is None and decision.plan.layers[0] == Layer.SMALL
    assert r.compiler.lookup("who wrote hamlet") is None
    assert any(change.startswith("dropped the handler") for change in outcome.changes)


def test_an_audit_that_gets_the_same_answer_keeps_the_handler() -> None:
    r = compiled_router(audit_every=1)

    decision = r.decide("who wrote hamlet", EnergyState(), EVERY)
    outcome = r.record(decision, [Attempt(Layer.SMALL, True, ((Layer.SMALL, 10),), 0.5, "Shakespeare")])

    assert r.compiler.lookup("who wrote hamlet") is not None
    assert outcome.changes == ()


def test_without_l2_available_a_compiled_task_is_routed_normally_and_checked() -> None:
    r = compiled_router()

    decision = r.decide("who wrote hamlet", EnergyState(), EVERY - {Layer.RULES})

    assert decision.compiled is None and decision.audit
    assert decision.plan.layers[0] == Layer.SMALL


def test_record_returns_the_sentence_when_escalations_promote_a_layer() -> None:
    promote_after = shipped_settings().learning.promote_after
    r = router()
    changes: list[str] = []
    for index in range(promote_after):
        decision = r.decide(f"who wrote hamlet part {index}", EnergyState(), EVERY)  # different tasks: none compiles
        assert decision.plan.layers[0] == Layer.SMALL
        attempts = [Attempt(Layer.SMALL, False, ((Layer.SMALL, 5),), 0.1), Attempt(Layer.MEDIUM, True, ((Layer.MEDIUM, 9),), 0.2, "Shakespeare")]
        changes += r.record(decision, attempts).changes

    assert r.routes == promote_after
    assert changes == ["'question': escalated tasks keep succeeding at L5 medium; it is now the first choice"]
    assert r.decide("who wrote macbeth", EnergyState(), EVERY).plan.layers[0] == Layer.MEDIUM


def test_record_compiles_a_task_after_min_repeats_identical_answers() -> None:
    r = router()
    changes: list[str] = []
    for text in ("who wrote hamlet", "Who wrote Hamlet?", "WHO WROTE HAMLET"):
        decision = r.decide(text, EnergyState(), EVERY)
        changes += r.record(decision, [Attempt(Layer.SMALL, True, ((Layer.SMALL, 5),), 0.1, "Shakespeare")]).changes

    assert changes == ["compiled 'who wrote hamlet' -> 'Shakespeare' after 3 identical answers from L4 small"]
    assert r.decide("who wrote hamlet", EnergyState(), EVERY).compiled is not None
