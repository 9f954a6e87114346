"""Supervisor specs: OTP defaults, child checks, dynamic supervisors and messages."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from omega_actors.errors import SpecError
from omega_actors.runtime.backoff import Backoff
from omega_actors.runtime.child_spec import ChildSpec, Restart, Start
from omega_actors.runtime.clock import FileClock, ManualClock, MonotonicClock
from omega_actors.runtime.supervisor import Supervisor
from omega_actors.runtime.supervisor_spec import (
    DEFAULT_INTENSITY,
    DEFAULT_PERIOD,
    AutoShutdown,
    Strategy,
    SupervisorSpec,
)

from .sample_actors import Counter, Echo, Greeter


@contextmanager
def spec_error(key: str, *fragments: str) -> Iterator[None]:
    """Expect a SpecError for ``key`` whose message holds every fragment."""
    with pytest.raises(SpecError) as caught:
        yield
    assert caught.value.key == key
    message = str(caught.value)
    assert message.startswith(f"{key}: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def worker(child_id: str, **overrides: object) -> ChildSpec:
    return ChildSpec(id=child_id, start=Start.of(Counter), **overrides)  # type: ignore[arg-type]


def significant(child_id: str) -> ChildSpec:
    return worker(child_id, restart=Restart.TRANSIENT, significant=True)


# --- defaults ------------------------------------------------------------------


def test_the_defaults_are_otps() -> None:
    spec = SupervisorSpec()
    assert spec.strategy is Strategy.ONE_FOR_ONE
    assert spec.intensity == DEFAULT_INTENSITY == 1
    assert spec.period == DEFAULT_PERIOD == 5
    assert spec.auto_shutdown is AutoShutdown.NEVER
    assert spec.children == ()
    assert spec.backoff is None
    assert spec.clock == MonotonicClock()
    assert spec.dynamic is False
    assert spec.max_children is None


def test_a_supervisor_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SupervisorSpec().intensity = 3  # type: ignore[misc]


def test_a_supervisor_spec_with_children_survives_pickling() -> None:
    spec = SupervisorSpec(
        strategy="rest_for_one",  # type: ignore[arg-type]
        intensity=3,
        period=10,
        children=[worker("a"), ChildSpec(id="g", start=Start.of(Greeter, "hi"))],
        backoff=Backoff(initial=0.5),
    )
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_a_file_clock_travels_with_a_pickled_spec(tmp_path: Path) -> None:
    clock = FileClock.create(tmp_path / "clock", start=3.0)
    try:
        copy = pickle.loads(pickle.dumps(SupervisorSpec(clock=clock)))
        clock.advance(1.0)
        assert copy.clock == clock
        assert copy.clock.now() == 4.0
        copy.clock.close()  # type: ignore[attr-defined]
    finally:
        clock.close()


# --- enums -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(Strategy) + [s.value for s in Strategy])
def test_strategy_takes_a_member_or_its_string(strategy: Strategy | str) -> None:
    assert SupervisorSpec(strategy=strategy).strategy is Strategy(getattr(strategy, "value", strategy))  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["simple_one_for_one", "ONE_FOR_ONE", None])
def test_a_bad_strategy_is_refused_listing_the_choices(strategy: object) -> None:
    with spec_error("strategy", repr(strategy), "'one_for_one'", "'one_for_all'", "'rest_for_one'"):
        SupervisorSpec(strategy=strategy)  # type: ignore[arg-type]


@pytest.mark.parametrize("auto_shutdown", list(AutoShutdown) + [a.value for a in AutoShutdown])
def test_auto_shutdown_takes_a_member_or_its_string(auto_shutdown: AutoShutdown | str) -> None:
    expected = AutoShutdown(getattr(auto_shutdown, "value", auto_shutdown))
    assert SupervisorSpec(auto_shutdown=auto_shutdown).auto_shutdown is expected  # type: ignore[arg-type]


def test_a_bad_auto_shutdown_is_refused_listing_the_choices() -> None:
    with spec_error("auto_shutdown", "'always'", "'never'", "'any_significant'", "'all_significant'"):
        SupervisorSpec(auto_shutdown="always")  # type: ignore[arg-type]


# --- intensity and period ---------------------------------------------------------


@pytest.mark.parametrize("intensity", [0, 1, 1000])
def test_intensity_is_a_whole_number_from_zero(intensity: int) -> None:
    assert SupervisorSpec(intensity=intensity).intensity == intensity


@pytest.mark.parametrize("intensity", [-1, 1.0, 1.5, True, "1", None])
def test_a_bad_intensity_is_refused_naming_the_value(intensity: object) -> None:
    with spec_error("intensity", repr(intensity), "whole number >= 0"):
        SupervisorSpec(intensity=intensity)  # type: ignore[arg-type]


@pytest.mark.parametrize("period", [0.001, 1, 5.0, 3600])
def test_period_is_a_positive_number_of_seconds(period: float) -> None:
    assert SupervisorSpec(period=period).period == period


@pytest.mark.parametrize("period", [0, -5.0, math.nan, math.inf, True, "5", None])
def test_a_bad_period_is_refused_naming_the_value(period: object) -> None:
    with spec_error("period", repr(period), "positive number of seconds"):
        SupervisorSpec(period=period)  # type: ignore[arg-type]


# --- backoff and clock -----------------------------------------------------------


def test_a_backoff_and_a_manual_clock_are_accepted() -> None:
    clock = ManualClock()
    spec = SupervisorSpec(backoff=Backoff(), clock=clock)
    assert spec.backoff == Backoff()
    assert spec.clock is clock


@pytest.mark.parametrize("backoff", [{"initial": 1.0}, 0.1, "exponential"])
def test_a_backoff_that_is_not_a_backoff_is_refused(backoff: object) -> None:
    with spec_error("backoff", repr(backoff), "Backoff or None"):
        SupervisorSpec(backoff=backoff)  # type: ignore[arg-type]


@pytest.mark.parametrize("clock", [None, 1.0, "monotonic"])
def test_a_clock_without_now_is_refused(clock: object) -> None:
    with spec_error("clock", repr(clock), "now()"):
        SupervisorSpec(clock=clock)  # type: ignore[arg-type]


# --- children -------------------------------------------------------------------


def test_children_keep_their_start_order_as_a_tuple() -> None:
    children = [worker("b"), worker("a"), ChildSpec(id="e", start=Start.of(Echo))]
    spec = SupervisorSpec(children=children)  # type: ignore[arg-type]
    assert spec.children == tuple(children)
    assert [child.id for child in spec.children] == ["b", "a", "e"]


def test_a_supervisor_may_supervise_a_supervisor() -> None:
    inner = Supervisor.child_spec("inner", SupervisorSpec(children=(worker("leaf"),)))
    outer = SupervisorSpec(strategy="one_for_all", children=(inner, worker("sibling")))  # type: ignore[arg-type]
    assert outer.children[0].is_supervisor
    assert outer.children[0].start.args[0].children[0].id == "leaf"


def test_duplicate_child_ids_are_refused_naming_the_id_and_its_position() -> None:
    with spec_error("children[2].id", "duplicate child id 'a'"):
        SupervisorSpec(children=(worker("a"), worker("b"), worker("a")))


def test_the_same_id_may_be_used_under_different_supervisors() -> None:
    inner = Supervisor.child_spec("a", SupervisorSpec(children=(worker("a"),)))
    assert SupervisorSpec(children=(inner,)).children[0].id == "a"


@pytest.mark.parametrize("child", ["counter", None, {"id": "a"}])
def test_a_child_that_is_not_a_child_spec_is_refused_naming_its_type_and_position(child: object) -> None:
    with spec_error("children[1]", "expected a ChildSpec", type(child).__name__):
        SupervisorSpec(children=(worker("a"), child))  # type: ignore[arg-type]


@pytest.mark.parametrize("children", [None, 42])
def test_children_that_are_not_a_sequence_are_refused_with_a_spec_error(children: object) -> None:
    # Every bad value raises SpecError (errors.py); not a bare TypeError from tuple().
    with spec_error("children", repr(children)):
        SupervisorSpec(children=children)  # type: ignore[arg-type]


def test_a_single_child_spec_instead_of_a_sequence_is_refused_with_a_spec_error() -> None:
    with pytest.raises(SpecError) as caught:
        SupervisorSpec(children=worker("a"))  # type: ignore[arg-type]
    assert caught.value.key == "children"


# --- significant children and auto_shutdown --------------------------------------


@pytest.mark.parametrize("auto_shutdown", [AutoShutdown.ANY_SIGNIFICANT, AutoShutdown.ALL_SIGNIFICANT])
def test_significant_children_are_accepted_when_auto_shutdown_uses_them(auto_shutdown: AutoShutdown) -> None:
    spec = SupervisorSpec(auto_shutdown=auto_shutdown, children=(worker("a"), significant("b")))
    assert [child.significant for child in spec.children] == [False, True]


def test_a_significant_child_with_auto_shutdown_never_is_a_bad_combination() -> None:
    with spec_error(
        "children[1].significant", "bad combination", "auto_shutdown = 'never'", "significant = true", "'any_significant'"
    ):
        SupervisorSpec(children=(worker("a"), significant("b")))


def test_check_child_applies_the_same_rules_to_a_child_started_later() -> None:
    spec = SupervisorSpec(dynamic=True)
    assert spec.check_child(worker("a")) == worker("a")
    with spec_error("child.significant", "auto_shutdown = 'never'"):
        spec.check_child(significant("b"))
    with spec_error("child", "expected a ChildSpec", "str"):
        spec.check_child("a")


def test_check_child_uses_the_key_it_is_given() -> None:
    with spec_error("start_child.significant", "bad combination"):
        SupervisorSpec().check_child(significant("b"), key="start_child")


# --- dynamic supervisors -----------------------------------------------------------


def test_a_dynamic_supervisor_starts_empty_and_may_cap_its_children() -> None:
    spec = SupervisorSpec(dynamic=True, max_children=3)
    assert spec.dynamic is True
    assert spec.max_children == 3
    assert spec.children == ()
    assert SupervisorSpec(dynamic=True).max_children is None


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_a_dynamic_supervisor_is_always_one_for_one(strategy: Strategy) -> None:
    with spec_error("strategy", "always 'one_for_one'", repr(strategy.value)):
        SupervisorSpec(dynamic=True, strategy=strategy)


def test_a_dynamic_supervisor_refuses_children_in_its_spec() -> None:
    with spec_error("children", "starts empty", "start_child"):
        SupervisorSpec(dynamic=True, children=(worker("a"),))


def test_max_children_without_dynamic_is_refused() -> None:
    with spec_error("max_children", "only to a dynamic supervisor"):
        SupervisorSpec(max_children=3)


@pytest.mark.parametrize("max_children", [0, -1, 1.5, True, "3"])
def test_a_bad_max_children_is_refused_naming_the_value(max_children: object) -> None:
    with spec_error("max_children", repr(max_children), "whole number >= 1"):
        SupervisorSpec(dynamic=True, max_children=max_children)  # type: ignore[arg-type]


@pytest.mark.parametrize("dynamic", [1, "yes", None])
def test_dynamic_must_be_a_boolean(dynamic: object) -> None:
    with spec_error("dynamic", repr(dynamic), "true or false"):
        SupervisorSpec(dynamic=dynamic)  # type: ignore[arg-type]
