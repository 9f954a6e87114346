"""The learner against a small independent model of the rules in learning.py's docstring.

The model keeps, per kind, what the docstring talks about and nothing else:
the first choice, the current run of escalated successes at one layer, the
run of failures at the first choice, the first-choice successes since the
last probe, and the current probe's run of successes. Whenever the first
choice changes, everything counted about the old one (its failures, its
successes, its probe) is forgotten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from omega_actors.router.escalation import Plan, plan_route
from omega_actors.router.features import Estimate
from omega_actors.router.layers import Layer
from omega_actors.router.learning import Learner
from omega_actors.router.policy import Allowance
from omega_actors.router.settings import LearningSettings

EVERY = frozenset(Layer)
OPEN = Allowance(EVERY, Layer.CONSENSUS, "open", "every layer, any start")
CHAT = (Layer.TINY, Layer.SMALL, Layer.MEDIUM, Layer.LARGE)
ESTIMATES = {"tv": Layer.TINY, "question": Layer.SMALL}
# Which layers are up: (layer, the kind's learned first choice) -> up?
OUTAGES: dict[str, Callable[[Layer, Layer | None], bool]] = {
    "nothing": lambda layer, first: True,
    "everything below the first choice": lambda layer, first: first is None or layer >= first,
    "L3": lambda layer, first: layer != Layer.TINY,
    "L4": lambda layer, first: layer != Layer.SMALL,
    "L3 and L4": lambda layer, first: layer > Layer.SMALL,
}


@dataclass
class KindModel:
    first: Layer | None = None
    streak_layer: Layer | None = None   # escalated successes in a row at one layer
    streak: int = 0
    fails: int = 0                      # failures in a row at the first choice
    wins: int = 0                       # first-choice successes since the first choice was set or last probed
    trial: int | None = None            # None: no probe due; else the due probe's successes in a row
    outcomes: dict[int, list[int]] = field(default_factory=dict)

    def choose(self, layer: Layer | None) -> None:
        self.first, self.fails, self.wins, self.trial = layer, 0, 0, None


class LearningModel:
    def __init__(self, limits: LearningSettings) -> None:
        self.limits = limits
        self.kinds: dict[str, KindModel] = {}

    def first_choice(self, kind: str) -> Layer | None:
        return self.kinds[kind].first if kind in self.kinds else None

    def probe_due(self, kind: str) -> bool:
        return kind in self.kinds and self.kinds[kind].trial is not None

    def record(self, kind: str, plan: Plan, attempts: list[tuple[Layer, bool]]) -> None:
        if not attempts:
            return
        state = self.kinds.setdefault(kind, KindModel())
        for layer, ok in attempts:
            state.outcomes.setdefault(int(layer), [0, 0])[0 if ok else 1] += 1
        (start, start_ok), (end, end_ok) = attempts[0], attempts[-1]
        if plan.probing:
            self.probed(state, start, start_ok)
            return
        if start == state.first:
            self.at_first_choice(state, start_ok)
        if end_ok and end > start:
            state.streak = state.streak + 1 if state.streak_layer == end else 1
            state.streak_layer = end
            if state.streak >= self.limits.promote_after and state.first != end:
                state.choose(end)
                state.streak = 0
        elif start_ok:
            state.streak_layer, state.streak = None, 0

    def probed(self, state: KindModel, layer: Layer, ok: bool) -> None:
        assert state.trial is not None, "a probing plan only when a probe is due"
        if not ok:
            state.wins, state.trial = 0, None  # a failed probe ends it; counting starts again
            return
        state.trial += 1
        if state.trial >= self.limits.promote_after:
            state.choose(layer)

    def at_first_choice(self, state: KindModel, ok: bool) -> None:
        if not ok:
            state.fails += 1
            if state.fails >= self.limits.demote_after:
                state.choose(None)
            return
        state.fails = 0
        state.wins += 1
        if state.wins >= self.limits.probe_every and state.trial is None:
            state.trial = 0


class LearnerMatchesTheModel(RuleBasedStateMachine):
    """Tasks of two kinds are planned by plan_route from what the learner says, then fail or succeed at random layers."""

    @initialize(promote=st.integers(1, 3), demote=st.integers(1, 2), probe=st.integers(1, 2))
    def start(self, promote: int, demote: int, probe: int) -> None:
        limits = LearningSettings(promote_after=promote, demote_after=demote, probe_every=probe)
        self.learner = Learner(limits)
        self.model = LearningModel(limits)
        self.restored = Learner(limits)  # saved to JSON and loaded back after every task

    @rule(
        kind=st.sampled_from(("question", "question", "question", "tv")),
        down=st.sampled_from(tuple(OUTAGES)),
        succeeds_at=st.none() | st.integers(0, 1),
    )
    def route(self, kind: str, down: str, succeeds_at: int | None) -> None:
        """One task of ``kind`` during the outage ``down``; the ``succeeds_at``-th attempt succeeds (None: every one fails)."""
        est = Estimate(ESTIMATES[kind], kind, False, "test")
        first = self.learner.first_choice(kind)
        available = frozenset(layer for layer in CHAT if OUTAGES[down](layer, first))
        plan = plan_route(est, OPEN, available, EVERY, first, self.learner.probe_due(kind))
        tried = plan.layers if succeeds_at is None else plan.layers[: succeeds_at + 1]
        attempts = [(layer, index == succeeds_at) for index, layer in enumerate(tried)]
        before = self.learner.first_choice(kind)

        said = self.learner.record(kind, plan, attempts)
        self.restored.record(kind, plan, attempts)
        self.model.record(kind, plan, attempts)

        assert (said is not None) == (self.learner.first_choice(kind) != before), said
        self.restored = Learner.from_dict(self.learner.settings, json.loads(json.dumps(self.restored.to_dict())))

    @invariant()
    def the_learner_agrees_with_the_model(self) -> None:
        for kind in ("tv", "question"):
            assert self.learner.first_choice(kind) == self.model.first_choice(kind), kind
            assert self.learner.probe_due(kind) == self.model.probe_due(kind), kind
        assert {kind: s.outcomes for kind, s in self.learner.kinds.items()} == {kind: s.outcomes for kind, s in self.model.kinds.items()}

    @invariant()
    def what_is_counted_about_the_current_first_choice_and_probe_agrees(self) -> None:
        for kind, state in self.learner.kinds.items():
            model = self.model.kinds[kind]
            if state.first is not None:
                assert state.fails == model.fails, f"{kind}: failures in a row at {state.first.label}"
            if state.probe:
                assert state.trial_run == model.trial, f"{kind}: successes in a row of the probe below {state.first}"

    @invariant()
    def a_learner_restored_from_its_saved_state_behaves_the_same(self) -> None:
        assert self.restored.to_dict() == self.learner.to_dict()


LearnerMatchesTheModel.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
test_the_learner_follows_its_documented_rules = LearnerMatchesTheModel.TestCase


def plan(*layers: Layer, probing: bool = False) -> Plan:
    return Plan(layers, "test", probing)


def escalate(learner: Learner, kind: str, times: int, low: Layer = Layer.SMALL, high: Layer = Layer.MEDIUM) -> list[str | None]:
    return [learner.record(kind, plan(low, high), [(low, False), (high, True)]) for _ in range(times)]


def test_promote_after_escalated_successes_in_a_row_at_one_layer() -> None:
    learner = Learner(LearningSettings(promote_after=3))

    said = escalate(learner, "question", 3)

    assert said[:2] == [None, None] and said[2] is not None and "now the first choice" in said[2]
    assert learner.first_choice("question") == Layer.MEDIUM
    assert learner.first_choice("tv") is None


def test_a_task_that_succeeds_where_it_started_breaks_the_run() -> None:
    learner = Learner(LearningSettings(promote_after=3))

    escalate(learner, "question", 2)
    learner.record("question", plan(Layer.SMALL, Layer.MEDIUM), [(Layer.SMALL, True)])
    escalate(learner, "question", 2)

    assert learner.first_choice("question") is None


def test_an_escalation_that_succeeds_at_another_layer_restarts_the_run() -> None:
    learner = Learner(LearningSettings(promote_after=3))

    escalate(learner, "question", 2)
    escalate(learner, "question", 1, high=Layer.LARGE)
    escalate(learner, "question", 2)

    assert learner.first_choice("question") is None
    escalate(learner, "question", 1)
    assert learner.first_choice("question") == Layer.MEDIUM


def test_demote_after_failures_in_a_row_at_the_first_choice() -> None:
    learner = Learner(LearningSettings(promote_after=1, demote_after=2))
    escalate(learner, "question", 1)

    first = learner.record("question", plan(Layer.MEDIUM, Layer.LARGE), [(Layer.MEDIUM, False), (Layer.LARGE, False)])
    second = learner.record("question", plan(Layer.MEDIUM, Layer.LARGE), [(Layer.MEDIUM, False), (Layer.LARGE, False)])

    assert first is None
    assert second is not None and "failed 2 times in a row" in second
    assert learner.first_choice("question") is None


def test_a_probe_is_due_after_probe_every_first_choice_successes_and_promotes_after_promote_after() -> None:
    learner = Learner(LearningSettings(promote_after=2, probe_every=3))
    escalate(learner, "question", 2)
    for _ in range(3):
        assert not learner.probe_due("question")
        learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    assert learner.probe_due("question")

    learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, True)])
    assert learner.first_choice("question") == Layer.MEDIUM
    said = learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, True)])

    assert said is not None and "one layer lower" in said
    assert learner.first_choice("question") == Layer.SMALL and not learner.probe_due("question")


def test_a_failed_probe_ends_it_and_the_count_starts_again() -> None:
    learner = Learner(LearningSettings(promote_after=2, probe_every=2))
    escalate(learner, "question", 2)
    for _ in range(2):
        learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])

    learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, False), (Layer.MEDIUM, True)])

    assert learner.first_choice("question") == Layer.MEDIUM and not learner.probe_due("question")
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    assert not learner.probe_due("question")
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    assert learner.probe_due("question")


def test_a_new_first_choice_starts_its_probe_count_from_zero() -> None:
    # L4 probe succeeds once, then L3 drops out, L5 fails and is forgotten, and is learned again:
    # the next probe must succeed promote_after times, not once.
    learner = Learner(LearningSettings(promote_after=2, demote_after=1, probe_every=1))
    escalate(learner, "question", 2)
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, True)])
    learner.record("question", plan(Layer.MEDIUM, Layer.LARGE), [(Layer.MEDIUM, False), (Layer.LARGE, False)])
    assert learner.first_choice("question") is None
    escalate(learner, "question", 2)
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])

    learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, True)])

    assert learner.first_choice("question") == Layer.MEDIUM


def test_a_layer_promoted_by_a_probe_is_demoted_only_after_its_own_failures() -> None:
    # L5's failure while the probe was due (L4 unavailable) must not count against L4 once L4 is promoted.
    learner = Learner(LearningSettings(promote_after=2, demote_after=2, probe_every=1))
    escalate(learner, "question", 2)
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    learner.record("question", plan(Layer.MEDIUM, Layer.LARGE), [(Layer.MEDIUM, False), (Layer.LARGE, False)])
    for _ in range(2):
        learner.record("question", plan(Layer.SMALL, Layer.MEDIUM, probing=True), [(Layer.SMALL, True)])
    assert learner.first_choice("question") == Layer.SMALL

    said = learner.record("question", plan(Layer.SMALL, Layer.MEDIUM), [(Layer.SMALL, False), (Layer.MEDIUM, True)])

    assert learner.first_choice("question") == Layer.SMALL, said


def test_no_attempts_teach_nothing() -> None:
    learner = Learner(LearningSettings())

    assert learner.record("question", plan(), []) is None
    assert learner.to_dict() == {}


def test_outcomes_are_counted_per_kind_and_layer() -> None:
    learner = Learner(LearningSettings())

    escalate(learner, "question", 2)
    learner.record("tv", plan(Layer.TINY), [(Layer.TINY, True)])

    assert learner.kinds["question"].outcomes == {4: [0, 2], 5: [2, 0]}
    assert learner.kinds["tv"].outcomes == {3: [1, 0]}


@pytest.mark.parametrize("promote", [1, 2])
def test_the_saved_state_is_plain_json_and_round_trips(promote: int) -> None:
    learner = Learner(LearningSettings(promote_after=promote, probe_every=1))
    escalate(learner, "question", 2)
    learner.record("question", plan(Layer.MEDIUM), [(Layer.MEDIUM, True)])
    learner.record("tv", plan(Layer.TINY, Layer.SMALL), [(Layer.TINY, False), (Layer.SMALL, False)])

    saved = json.loads(json.dumps(learner.to_dict()))
    restored = Learner.from_dict(learner.settings, saved)

    assert restored.to_dict() == learner.to_dict()
    assert restored.first_choice("question") == learner.first_choice("question") == Layer.MEDIUM
    assert restored.probe_due("question") == learner.probe_due("question")
    assert saved["question"]["first"] == 5 and saved["question"]["outcomes"] == {"4": [0, 2], "5": [3, 0]}
