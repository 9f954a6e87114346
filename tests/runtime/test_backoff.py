"""Backoff: the documented delay formula, its bounds, streak resets and validation."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.errors import SpecError
from omega_actors.runtime.backoff import Backoff


def documented_delay(backoff: Backoff, attempt: int, u: float) -> float:
    """``min(maximum, initial * multiplier ** (n - 1)) * (1 + jitter * (2u - 1))``, never above maximum.

    Computed without overflow: a growth too big for a float is simply above
    the maximum.
    """
    try:
        grown = backoff.initial * backoff.multiplier ** (attempt - 1)
    except OverflowError:
        grown = math.inf
    base = min(backoff.maximum, grown)
    return min(backoff.maximum, base * (1 + backoff.jitter * (2 * u - 1)))


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    initial = draw(st.floats(min_value=1e-3, max_value=100.0))
    maximum = draw(st.floats(min_value=initial, max_value=1e4))
    return Backoff(
        initial=initial,
        maximum=maximum,
        multiplier=draw(st.one_of(st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.floats(min_value=1.0, max_value=10.0))),
        jitter=draw(st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=0.999))),
        reset_after=draw(st.floats(min_value=1e-3, max_value=1e4)),
    )


units = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
# Mostly short streaks, where the delay has not yet reached the maximum, and
# some very long ones.
attempts = st.one_of(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=10_000))


# --- defaults and examples ---------------------------------------------------


def test_the_defaults_are_the_documented_ones() -> None:
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum, backoff.multiplier, backoff.jitter, backoff.reset_after) == (
        0.1,
        30.0,
        2.0,
        0.2,
        60.0,
    )


def test_without_jitter_the_delay_doubles_until_the_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n, 0.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_middle_draw_gives_the_unjittered_delay() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, multiplier=3.0, jitter=0.5)
    assert backoff.delay(3, 0.5) == pytest.approx(4.5)


def test_jitter_spreads_the_delay_both_ways_but_never_above_the_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, multiplier=2.0, jitter=0.5)
    assert backoff.delay(2, 0.0) == pytest.approx(1.0)  # 2 * (1 - 0.5)
    assert backoff.delay(2, 0.75) == pytest.approx(2.5)  # 2 * (1 + 0.25)
    assert backoff.delay(10, 0.999) == 10.0  # would be 15 before the final cap
    assert backoff.delay(10, 0.0) == pytest.approx(5.0)


def test_a_multiplier_of_one_keeps_the_delay_constant() -> None:
    backoff = Backoff(initial=0.25, maximum=1.0, multiplier=1.0, jitter=0.0)
    assert {backoff.delay(n, 0.3) for n in (1, 2, 50, 5000)} == {0.25}


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_count_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match=str(attempt)):
        Backoff().delay(attempt, 0.5)


def test_a_long_streak_does_not_overflow_with_the_default_multiplier() -> None:
    # The source caps the exponent "so a long streak cannot overflow a float".
    backoff = Backoff(jitter=0.0)
    assert backoff.delay(1025, 0.5) == backoff.maximum
    assert backoff.delay(10_000, 0.5) == backoff.maximum


def test_a_long_streak_does_not_overflow_with_a_larger_multiplier() -> None:
    backoff = Backoff(initial=1.0, maximum=60.0, multiplier=10.0, jitter=0.0)
    assert backoff.delay(400, 0.5) == 60.0


def test_a_slow_multiplier_keeps_growing_past_a_thousand_attempts() -> None:
    # 1.001 ** 4999 is about 148, so the delay has reached the 30 s maximum;
    # capping the exponent at 1024 would leave it near 1.001 ** 1024, about 2.8.
    backoff = Backoff(initial=1.0, maximum=30.0, multiplier=1.001, jitter=0.0)
    assert backoff.delay(5000, 0.5) == 30.0


# --- properties ---------------------------------------------------------------


@given(backoff=backoffs(), attempt=attempts, u=units)
def test_the_delay_stays_between_zero_and_the_maximum(backoff: Backoff, attempt: int, u: float) -> None:
    assert 0.0 <= backoff.delay(attempt, u) <= backoff.maximum


@given(backoff=backoffs(), attempt=attempts, u=units)
def test_the_delay_equals_the_documented_formula(backoff: Backoff, attempt: int, u: float) -> None:
    assert backoff.delay(attempt, u) == pytest.approx(documented_delay(backoff, attempt, u), rel=1e-9)


@given(backoff=backoffs(), attempt=st.integers(min_value=1, max_value=64), u=units)
def test_jitter_keeps_the_delay_within_its_band_around_the_base(backoff: Backoff, attempt: int, u: float) -> None:
    base = min(backoff.maximum, backoff.initial * backoff.multiplier ** (attempt - 1))
    delay = backoff.delay(attempt, u)
    tolerance = 1e-9 * base
    assert base * (1 - backoff.jitter) - tolerance <= delay
    assert delay <= min(backoff.maximum, base * (1 + backoff.jitter)) + tolerance


@given(backoff=backoffs(), attempt=st.integers(min_value=1, max_value=64), u=units, v=units)
def test_a_larger_draw_never_gives_a_shorter_delay(backoff: Backoff, attempt: int, u: float, v: float) -> None:
    low, high = sorted((u, v))
    assert backoff.delay(attempt, low) <= backoff.delay(attempt, high)


@given(backoff=backoffs(), attempt=st.integers(min_value=1, max_value=64))
def test_without_jitter_a_later_attempt_never_waits_less(backoff: Backoff, attempt: int) -> None:
    steady = dataclasses.replace(backoff, jitter=0.0)
    assert steady.delay(attempt, 0.5) <= steady.delay(attempt + 1, 0.5)


# --- streaks -----------------------------------------------------------------


def test_a_child_that_ran_long_enough_starts_a_new_streak() -> None:
    backoff = Backoff(reset_after=60.0)
    assert backoff.next_attempt(7, ran_for=60.0) == 1
    assert backoff.next_attempt(7, ran_for=3600.0) == 1


def test_a_child_that_crashed_quickly_continues_its_streak() -> None:
    backoff = Backoff(reset_after=60.0)
    assert backoff.next_attempt(7, ran_for=59.999) == 8
    assert backoff.next_attempt(0, ran_for=0.0) == 1


@given(
    reset_after=st.floats(min_value=1e-3, max_value=1e4),
    streak=st.integers(min_value=0, max_value=10_000),
    ran_for=st.floats(min_value=0.0, max_value=2e4),
)
def test_the_next_attempt_resets_exactly_when_the_child_ran_for_reset_after(
    reset_after: float, streak: int, ran_for: float
) -> None:
    expected = 1 if ran_for >= reset_after else streak + 1
    assert Backoff(reset_after=reset_after).next_attempt(streak, ran_for) == expected


# --- validation --------------------------------------------------------------


def test_a_backoff_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Backoff().initial = 1.0  # type: ignore[misc]


def test_maximum_may_equal_initial() -> None:
    assert Backoff(initial=2.0, maximum=2.0).delay(9, 0.5) == 2.0


@pytest.mark.parametrize("field", ["initial", "maximum", "reset_after"])
@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, "1", None, True])
def test_seconds_must_be_positive_finite_numbers(field: str, value: object) -> None:
    with pytest.raises(SpecError) as caught:
        Backoff(**{field: value})  # type: ignore[arg-type]
    assert caught.value.key == f"backoff.{field}"
    assert f"backoff.{field}" in str(caught.value)
    assert repr(value) in str(caught.value)
    assert "positive number of seconds" in str(caught.value)


@pytest.mark.parametrize("value", [0.999, 0, -2.0, math.nan, "2", None])
def test_the_multiplier_must_be_a_number_of_at_least_one(value: object) -> None:
    with pytest.raises(SpecError) as caught:
        Backoff(multiplier=value)  # type: ignore[arg-type]
    assert caught.value.key == "backoff.multiplier"
    assert repr(value) in str(caught.value)
    assert ">= 1" in str(caught.value)


@pytest.mark.parametrize("value", [1, 1.0, -0.01, math.nan, "0.2", None])
def test_the_jitter_must_be_a_fraction_below_one(value: object) -> None:
    with pytest.raises(SpecError) as caught:
        Backoff(jitter=value)  # type: ignore[arg-type]
    assert caught.value.key == "backoff.jitter"
    assert repr(value) in str(caught.value)
    assert "[0, 1)" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial", True), ("maximum", True), ("reset_after", True), ("multiplier", True), ("jitter", False)],
)
def test_a_boolean_is_not_accepted_as_any_backoff_number(field: str, value: bool) -> None:
    # The seconds fields (and intensity, period, shutdown elsewhere) refuse
    # booleans explicitly; a config's `multiplier = true` should not pass as 1.
    with pytest.raises(SpecError) as caught:
        Backoff(**{field: value})  # type: ignore[arg-type]
    assert caught.value.key == f"backoff.{field}"


def test_a_maximum_below_the_initial_delay_is_refused_naming_both() -> None:
    with pytest.raises(SpecError) as caught:
        Backoff(initial=5.0, maximum=1.0)
    assert caught.value.key == "backoff.maximum"
    assert "1.0" in str(caught.value) and "5.0" in str(caught.value)


@pytest.mark.parametrize("jitter", [0, 0.0, 0.999])
def test_jitter_from_zero_up_to_just_below_one_is_accepted(jitter: float) -> None:
    assert Backoff(jitter=jitter).jitter == jitter


def test_integer_seconds_and_multiplier_are_accepted() -> None:
    backoff = Backoff(initial=1, maximum=8, multiplier=2, jitter=0, reset_after=10)
    assert [backoff.delay(n, 0.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
