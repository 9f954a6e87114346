"""RestartWindow: OTP's sliding restart-intensity window."""

from __future__ import annotations

from itertools import accumulate

from hypothesis import given
from hypothesis import strategies as st

from omega_actors.runtime.intensity import RestartWindow


def naive_allowed(history: list[float], intensity: int, period: float) -> tuple[bool, int]:
    """Model: restarts with t >= now - period, the new one included, allowed iff count <= intensity."""
    now = history[-1]
    count = sum(1 for t in history if t >= now - period)
    return count <= intensity, count


def test_the_default_window_tolerates_one_restart_in_five_seconds() -> None:
    window = RestartWindow(intensity=1, period=5.0)
    assert window.add(100.0) is True
    assert window.add(106.0) is True
    assert window.add(110.0) is False


def test_intensity_zero_gives_up_on_the_first_restart() -> None:
    window = RestartWindow(intensity=0, period=5.0)
    assert window.add(0.0) is False
    assert window.recent() == 1


def test_a_restart_exactly_one_period_old_still_counts() -> None:
    window = RestartWindow(intensity=1, period=5.0)
    assert window.add(10.0) is True
    assert window.add(15.0) is False
    assert window.recent() == 2


def test_a_restart_just_over_one_period_old_is_forgotten() -> None:
    window = RestartWindow(intensity=1, period=5.0)
    assert window.add(10.0) is True
    assert window.add(15.25) is True
    assert window.recent() == 1


def test_restarts_at_the_same_instant_all_count() -> None:
    window = RestartWindow(intensity=3, period=1.0)
    assert [window.add(7.0) for _ in range(5)] == [True, True, True, False, False]
    assert window.recent() == 5


def test_a_refused_restart_is_still_recorded() -> None:
    window = RestartWindow(intensity=1, period=10.0)
    window.add(0.0)
    assert window.add(1.0) is False
    # 0.0 falls out of the window at 10.5, but the refused restart at 1.0 does not.
    assert window.add(10.5) is False
    assert window.recent() == 2


def test_a_new_window_holds_no_restarts() -> None:
    assert RestartWindow(intensity=1, period=5.0).recent() == 0


# Step sizes around the period (zero, exactly the period, fractions of it)
# hit the boundaries far more often than uniform floats would.
steps = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 10.0]),
    st.floats(min_value=0.0, max_value=20.0, allow_nan=False, allow_infinity=False),
)


@given(
    intensity=st.integers(min_value=0, max_value=6),
    period=st.one_of(st.sampled_from([1.0, 2.5, 5.0]), st.floats(min_value=0.01, max_value=50.0)),
    start=st.floats(min_value=-1e6, max_value=1e6),
    deltas=st.lists(steps, min_size=1, max_size=40),
)
def test_add_agrees_with_a_naive_count_over_the_whole_history(
    intensity: int, period: float, start: float, deltas: list[float]
) -> None:
    window = RestartWindow(intensity, period)
    history: list[float] = []
    for now in accumulate(deltas, initial=start):
        history.append(now)
        allowed, count = naive_allowed(history, intensity, period)
        assert window.add(now) is allowed, (history, intensity, period)
        assert window.recent() == count


@given(
    intensity=st.integers(min_value=0, max_value=6),
    period=st.integers(min_value=1, max_value=10),
    deltas=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=40),
)
def test_add_agrees_with_the_naive_count_in_whole_seconds_as_otp_counts(
    intensity: int, period: int, deltas: list[int]
) -> None:
    window = RestartWindow(intensity, period)
    history: list[float] = []
    for now in accumulate(deltas, initial=0):
        history.append(now)
        allowed, count = naive_allowed(history, intensity, period)
        assert window.add(now) is allowed
        assert window.recent() == count
