"""The circuit breaker, on a clock the tests step by hand."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.router.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from omega_actors.router.settings import BreakerSettings


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def breaker(failures: int = 3, reset_after: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(BreakerSettings(failures=failures, reset_after=reset_after), clock), clock


def opened(failures: int = 3, reset_after: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    circuit, clock = breaker(failures, reset_after)
    for _ in range(failures):
        assert circuit.allow()
        circuit.failed()
    assert circuit.state == OPEN
    return circuit, clock


def test_a_closed_circuit_lets_every_call_through() -> None:
    circuit, _ = breaker()

    assert all(circuit.allow() for _ in range(10))
    assert circuit.state == CLOSED and circuit.retry_in() == 0.0


def test_failures_in_a_row_open_the_circuit_and_not_one_fewer() -> None:
    circuit, _ = breaker(failures=3)

    circuit.failed()
    circuit.failed()
    assert circuit.state == CLOSED and circuit.allow()
    circuit.failed()

    assert circuit.state == OPEN and not circuit.allow()


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    circuit, _ = breaker(failures=3)

    circuit.failed()
    circuit.failed()
    circuit.succeeded()
    circuit.failed()
    circuit.failed()

    assert circuit.state == CLOSED


def test_an_open_circuit_refuses_until_reset_after_has_passed() -> None:
    circuit, clock = opened(reset_after=30.0)

    clock.step(29.75)
    assert not circuit.allow()
    assert circuit.state == OPEN
    assert circuit.retry_in() == 0.25

    clock.step(0.25)
    assert circuit.allow()
    assert circuit.state == HALF_OPEN


def test_retry_in_counts_down_with_the_clock_and_never_goes_below_zero() -> None:
    circuit, clock = opened(reset_after=30.0)

    assert circuit.retry_in() == 30.0
    clock.step(12.5)
    assert circuit.retry_in() == 17.5
    clock.step(100.0)
    assert circuit.retry_in() == 0.0


def test_half_open_lets_exactly_one_trial_through() -> None:
    circuit, clock = opened()
    clock.step(30.0)

    allowed = [circuit.allow() for _ in range(5)]

    assert allowed == [True, False, False, False, False]
    assert circuit.state == HALF_OPEN
    assert circuit.retry_in() == 0.0


def test_a_successful_trial_closes_the_circuit() -> None:
    circuit, clock = opened()
    clock.step(30.0)
    assert circuit.allow()

    circuit.succeeded()

    assert circuit.state == CLOSED and circuit.failures == 0
    assert all(circuit.allow() for _ in range(3))


def test_a_failed_trial_reopens_the_circuit_for_another_reset_after() -> None:
    circuit, clock = opened(reset_after=30.0)
    clock.step(45.0)
    assert circuit.allow()

    circuit.failed()

    assert circuit.state == OPEN and not circuit.allow()
    assert circuit.retry_in() == 30.0
    clock.step(29.0)
    assert not circuit.allow()
    clock.step(1.0)
    assert circuit.allow()


def test_one_failure_after_closing_again_does_not_reopen_it() -> None:
    circuit, clock = opened(failures=2)
    clock.step(30.0)
    circuit.allow()
    circuit.succeeded()

    circuit.failed()

    assert circuit.state == CLOSED


def test_an_open_circuit_stays_open_across_a_restore() -> None:
    circuit, clock = opened(reset_after=30.0)
    clock.step(10.0)
    saved = json.loads(json.dumps(circuit.to_dict()))

    restored = CircuitBreaker(circuit.settings, clock)
    restored.restore(saved)

    assert restored.state == OPEN and not restored.allow()
    assert restored.retry_in() == 20.0
    clock.step(20.0)
    assert restored.allow() and restored.state == HALF_OPEN


def test_a_half_open_circuit_comes_back_open_with_a_fresh_trial_to_give() -> None:
    circuit, clock = opened()
    clock.step(30.0)
    circuit.allow()
    saved = circuit.to_dict()
    assert saved["state"] == HALF_OPEN

    restored = CircuitBreaker(circuit.settings, clock)
    restored.restore(saved)

    assert restored.state == OPEN
    assert [restored.allow(), restored.allow()] == [True, False]  # the trial that died is replaced by exactly one


def test_a_closed_circuit_restores_its_failures_in_a_row() -> None:
    circuit, clock = breaker(failures=3)
    circuit.failed()
    circuit.failed()

    restored = CircuitBreaker(circuit.settings, clock)
    restored.restore(circuit.to_dict())
    restored.failed()

    assert restored.state == OPEN


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.sampled_from(("ok", "fail", "wait")), st.floats(0.0, 20.0)), max_size=40))
def test_the_breaker_follows_its_three_states(failures: int, events: list[tuple[str, float]]) -> None:
    circuit, clock = breaker(failures=failures, reset_after=10.0)
    state, in_a_row, opened_at = CLOSED, 0, 0.0

    for event, seconds in events:
        if event == "wait":
            clock.step(seconds)
            continue
        expect = state == CLOSED or (state == OPEN and clock.now - opened_at >= 10.0)
        assert circuit.allow() == expect
        if not expect:
            continue
        state = CLOSED if state == CLOSED else HALF_OPEN
        if event == "ok":
            circuit.succeeded()
            state, in_a_row = CLOSED, 0
        else:
            circuit.failed()
            in_a_row += 1
            if state == HALF_OPEN or in_a_row >= failures:
                state, opened_at = OPEN, clock.now
        assert circuit.state == state
        assert circuit.retry_in() == (max(0.0, 10.0 - (clock.now - opened_at)) if state == OPEN else 0.0)
