"""Child specs: Start targets and arguments, defaults, and validation messages."""

from __future__ import annotations

import dataclasses
import math
import pickle
import string
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.errors import ConfigError, SpecError
from omega_actors.runtime.child_spec import (
    BRUTAL_KILL,
    DEFAULT_WORKER_SHUTDOWN,
    INFINITY,
    ChildSpec,
    ChildType,
    Restart,
    Start,
    check_id,
    check_name,
    import_path,
)
from omega_actors.runtime.supervisor import Supervisor
from omega_actors.runtime.supervisor_spec import SupervisorSpec

from .sample_actors import Counter, Echo, Greeter, NotAnActor, Outer, TransientWorker

MODULE = "tests.runtime.sample_actors"


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


# --- Start -------------------------------------------------------------------


def test_start_of_names_the_class_by_module_and_qualified_name() -> None:
    start = Start.of(Counter, 3)
    assert start.target == f"{MODULE}:Counter"
    assert start.args == (3,)
    assert start.kwargs == {}
    assert start.actor_class() is Counter


def test_start_of_keeps_keyword_arguments() -> None:
    start = Start.of(Greeter, "hello", punctuation="?")
    assert start.args == ("hello",)
    assert start.kwargs == {"punctuation": "?"}


def test_start_of_accepts_the_target_as_a_string() -> None:
    assert Start.of(f"{MODULE}:Counter", start=1) == Start.of(Counter, start=1)


def test_a_nested_actor_class_resolves_through_its_dotted_qualified_name() -> None:
    start = Start.of(Outer.Inner)
    assert start.target == f"{MODULE}:Outer.Inner"
    assert start.actor_class() is Outer.Inner


def test_import_path_is_module_colon_qualname() -> None:
    assert import_path(Outer.Inner) == f"{MODULE}:Outer.Inner"


def test_start_stores_args_as_a_tuple_and_kwargs_as_a_plain_dict() -> None:
    start = Start(f"{MODULE}:Greeter", ["hi"], {"punctuation": "."})  # type: ignore[arg-type]
    assert start.args == ("hi",)
    assert type(start.kwargs) is dict


def test_equal_starts_hash_equal_whatever_the_keyword_order() -> None:
    one = Start(f"{MODULE}:Greeter", ("hi",), {"punctuation": "."})
    two = Start(f"{MODULE}:Greeter", ("hi",), dict([("punctuation", ".")]))
    assert one == two and hash(one) == hash(two)
    assert Start.of(Counter, 1) != Start.of(Counter, 2)


def test_a_start_survives_pickling() -> None:
    start = Start.of(Greeter, "hello", punctuation="?")
    assert pickle.loads(pickle.dumps(start)) == start


def test_a_class_without_init_takes_no_arguments() -> None:
    assert Start.of(Echo).args == ()
    with spec_error("args", f"{MODULE}:Echo"):
        Start.of(Echo, 1)


@pytest.mark.parametrize("target", ["tests.runtime.sample_actors.Counter", "a:b:c", "", 42, None, Counter])
def test_a_target_not_shaped_module_colon_class_is_refused(target: object) -> None:
    with spec_error("start", "package.module:ClassName", repr(target)):
        Start(target)  # type: ignore[arg-type]


def test_a_target_in_a_missing_module_is_refused() -> None:
    with spec_error("start", "cannot import", "'tests.runtime.no_such_module:Counter'", "no_such_module"):
        Start("tests.runtime.no_such_module:Counter")


def test_a_target_naming_a_missing_class_is_refused() -> None:
    with spec_error("start", "cannot import", f"'{MODULE}:Missing'", "Missing"):
        Start(f"{MODULE}:Missing")


@pytest.mark.parametrize("name", ["NotAnActor", "not_a_class", "Add"])
def test_a_target_that_is_not_an_actor_class_is_refused(name: str) -> None:
    with spec_error("start", f"'{MODULE}:{name}'", "not a subclass of omega_actors.runtime.Actor"):
        Start(f"{MODULE}:{name}")


def test_start_of_a_plain_class_is_refused() -> None:
    with spec_error("start", "NotAnActor"):
        Start.of(NotAnActor)


def test_too_many_positional_arguments_are_refused_naming_the_target() -> None:
    with spec_error("args", f"arguments do not fit {MODULE}:Counter", "positional"):
        Start.of(Counter, 1, 2)


def test_an_unknown_keyword_argument_is_refused_naming_it() -> None:
    with spec_error("args", f"{MODULE}:Counter", "'stop'"):
        Start.of(Counter, stop=3)


def test_a_missing_required_argument_is_refused_naming_it() -> None:
    with spec_error("args", f"{MODULE}:Greeter", "'greeting'"):
        Start.of(Greeter)


def test_a_keyword_only_parameter_passed_by_position_is_refused() -> None:
    with spec_error("args", f"{MODULE}:Greeter"):
        Start.of(Greeter, "hello", "?")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((lambda: 0,), {}),
        ((), {"start": lambda: 0}),
        (([1, lambda: 0],), {}),
    ],
    ids=["positional", "keyword", "nested"],
)
def test_arguments_that_do_not_pickle_are_refused(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with spec_error("args", "must pickle", "lambda"):
        Start.of(Counter, *args, **kwargs)


def test_an_argument_holding_an_open_file_handle_is_refused() -> None:
    with open(__file__, "rb") as handle:
        with spec_error("args", "must pickle"):
            Start.of(Counter, handle)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(5, {}), (None, {}), ((), None), ((), [1])],
    ids=["args-int", "args-none", "kwargs-none", "kwargs-list"],
)
def test_args_and_kwargs_of_the_wrong_shape_are_refused_with_a_spec_error(args: object, kwargs: object) -> None:
    # Every bad value raises SpecError (errors.py); not a bare TypeError/ValueError from tuple()/dict().
    with pytest.raises(SpecError) as caught:
        Start(f"{MODULE}:Counter", args, kwargs)  # type: ignore[arg-type]
    assert caught.value.key in ("args", "kwargs")


# --- ChildSpec: defaults -------------------------------------------------------


def test_a_worker_child_spec_has_the_otp_defaults() -> None:
    spec = ChildSpec(id="counter", start=Start.of(Counter))
    assert spec.restart is Restart.PERMANENT
    assert spec.shutdown == DEFAULT_WORKER_SHUTDOWN == 5.0
    assert spec.type is ChildType.WORKER
    assert spec.significant is False
    assert spec.name is None
    assert spec.is_supervisor is False


def test_a_supervisor_child_spec_waits_forever_by_default() -> None:
    spec = ChildSpec(id="tree", start=Start.of(Supervisor, SupervisorSpec()))
    assert spec.type is ChildType.SUPERVISOR
    assert spec.shutdown == INFINITY == "infinity"
    assert spec.is_supervisor is True


def test_supervisor_child_spec_builds_a_supervisor_spec_with_defaults() -> None:
    spec = Supervisor.child_spec("tree")
    assert spec.type is ChildType.SUPERVISOR
    assert spec.shutdown == INFINITY
    assert spec.restart is Restart.PERMANENT
    assert spec.start.args == (SupervisorSpec(),)


def test_actor_child_spec_takes_the_class_defaults() -> None:
    spec = TransientWorker.child_spec("w")
    assert spec.restart is Restart.TRANSIENT
    assert spec.shutdown == BRUTAL_KILL


def test_actor_child_spec_overrides_the_class_defaults_and_passes_init_arguments() -> None:
    spec = Counter.child_spec("c", start=10, restart="temporary", shutdown=1, name="counter")
    assert spec.start == Start.of(Counter, start=10)
    assert spec.restart is Restart.TEMPORARY
    assert spec.shutdown == 1.0
    assert spec.name == "counter"


def test_actor_child_spec_checks_the_init_arguments() -> None:
    with spec_error("args", f"{MODULE}:Counter", "'limit'"):
        Counter.child_spec("c", limit=3)


def test_a_child_spec_is_frozen() -> None:
    spec = ChildSpec(id="c", start=Start.of(Counter))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.id = "d"  # type: ignore[misc]


def test_a_child_spec_survives_pickling() -> None:
    spec = ChildSpec(
        id="g", start=Start.of(Greeter, "hi", punctuation="."), restart="transient", shutdown=2, name="greeter"
    )
    copy = pickle.loads(pickle.dumps(spec))
    assert copy == spec
    assert copy.restart is Restart.TRANSIENT


def test_a_spec_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ChildSpec(id="", start=Start.of(Counter))


# --- ChildSpec: restart, shutdown, type, significant ---------------------------


@pytest.mark.parametrize("restart", list(Restart) + [r.value for r in Restart])
def test_restart_takes_a_member_or_its_string(restart: Restart | str) -> None:
    assert ChildSpec(id="c", start=Start.of(Counter), restart=restart).restart is Restart(
        getattr(restart, "value", restart)
    )


@pytest.mark.parametrize("restart", ["always", "PERMANENT", "", None, 1])
def test_a_bad_restart_is_refused_listing_the_choices(restart: object) -> None:
    with spec_error("restart", repr(restart), "'permanent'", "'transient'", "'temporary'"):
        ChildSpec(id="c", start=Start.of(Counter), restart=restart)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shutdown", "expected"),
    [(0, 0.0), (3, 3.0), (0.5, 0.5), (BRUTAL_KILL, BRUTAL_KILL), (INFINITY, INFINITY)],
)
def test_shutdown_takes_seconds_brutal_kill_or_infinity(shutdown: object, expected: object) -> None:
    spec = ChildSpec(id="c", start=Start.of(Counter), shutdown=shutdown)  # type: ignore[arg-type]
    assert spec.shutdown == expected
    assert type(spec.shutdown) is type(expected)


@pytest.mark.parametrize("shutdown", [-1, -0.5, math.nan, math.inf, True, "forever", "5", "Infinity", [5]])
def test_a_bad_shutdown_is_refused_listing_what_is_accepted(shutdown: object) -> None:
    with spec_error("shutdown", repr(shutdown), ">= 0", "'brutal_kill'", "'infinity'"):
        ChildSpec(id="c", start=Start.of(Counter), shutdown=shutdown)  # type: ignore[arg-type]


def test_a_supervisor_may_be_given_a_shutdown_in_seconds() -> None:
    assert Supervisor.child_spec("tree", shutdown=10).shutdown == 10.0


@pytest.mark.parametrize("declared", [ChildType.WORKER, "worker"])
def test_a_declared_type_matching_the_class_is_accepted(declared: object) -> None:
    spec = ChildSpec(id="c", start=Start.of(Counter), type=declared)  # type: ignore[arg-type]
    assert spec.type is ChildType.WORKER


def test_a_worker_declared_as_a_supervisor_is_refused_naming_both() -> None:
    with spec_error("type", f"{MODULE}:Counter is a worker", "'supervisor'"):
        ChildSpec(id="c", start=Start.of(Counter), type="supervisor")  # type: ignore[arg-type]


def test_a_supervisor_declared_as_a_worker_is_refused_naming_both() -> None:
    with spec_error("type", "Supervisor is a supervisor", "'worker'"):
        ChildSpec(id="s", start=Start.of(Supervisor, SupervisorSpec()), type=ChildType.WORKER)


def test_an_unknown_type_is_refused_listing_the_choices() -> None:
    with spec_error("type", "'process'", "'worker'", "'supervisor'"):
        ChildSpec(id="c", start=Start.of(Counter), type="process")  # type: ignore[arg-type]


@pytest.mark.parametrize("restart", [Restart.TRANSIENT, Restart.TEMPORARY])
def test_a_significant_child_may_be_transient_or_temporary(restart: Restart) -> None:
    assert ChildSpec(id="c", start=Start.of(Counter), restart=restart, significant=True).significant is True


def test_a_significant_permanent_child_is_a_bad_combination() -> None:
    with spec_error("significant", "bad combination", "'permanent'", "significant = true", "transient or temporary"):
        ChildSpec(id="c", start=Start.of(Counter), significant=True)


@pytest.mark.parametrize("significant", [1, 0, "yes", None])
def test_significant_must_be_a_boolean(significant: object) -> None:
    with spec_error("significant", repr(significant), "true or false"):
        ChildSpec(id="c", start=Start.of(Counter), restart="transient", significant=significant)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", [f"{MODULE}:Counter", Counter, None])
def test_start_must_be_a_start_object(start: object) -> None:
    with spec_error("start", "expected a Start", type(start).__name__):
        ChildSpec(id="c", start=start)  # type: ignore[arg-type]


# --- ids and names -------------------------------------------------------------

ID_CHARS = string.ascii_letters + string.digits + "_-"
NAME_CHARS = string.ascii_letters + string.digits + "_.:-"


def documented_id(value: str) -> bool:
    return 1 <= len(value) <= 64 and value[0] != "-" and all(c in ID_CHARS for c in value)


def documented_name(value: str) -> bool:
    return 1 <= len(value) <= 128 and value[0] not in ".:-" and all(c in NAME_CHARS for c in value)


@pytest.mark.parametrize("child_id", ["c", "0", "_", "counter-1", "Counter_2", "a" * 64, "a-"])
def test_good_ids_are_accepted(child_id: str) -> None:
    assert ChildSpec(id=child_id, start=Start.of(Counter)).id == child_id


@pytest.mark.parametrize(
    "child_id", ["", "-c", "a" * 65, "a.b", "a b", "a/b", "a:b", "café", "abc\n", "*", ">", None, 3]
)
def test_bad_ids_are_refused_naming_the_value(child_id: object) -> None:
    with spec_error("id", repr(child_id), "1-64 characters", "not starting with '-'"):
        ChildSpec(id=child_id, start=Start.of(Counter))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["counter", "omega.counter", "node:1", "a-b_c", "x" * 128])
def test_good_names_are_accepted(name: str) -> None:
    assert ChildSpec(id="c", start=Start.of(Counter), name=name).name == name


@pytest.mark.parametrize("name", ["", ".counter", ":x", "-x", "x" * 129, "a b", "a/b", "a*", "ñ", 7])
def test_bad_names_are_refused_naming_the_value(name: object) -> None:
    with spec_error("name", repr(name), "1-128 characters"):
        ChildSpec(id="c", start=Start.of(Counter), name=name)  # type: ignore[arg-type]


small_texts = st.text(alphabet=st.sampled_from(ID_CHARS + ".: /*>\n\té"), min_size=0, max_size=140)


@given(small_texts)
def test_check_id_accepts_exactly_the_documented_ids(value: str) -> None:
    if documented_id(value):
        assert check_id(value) == value
    else:
        with spec_error("id", repr(value)):
            check_id(value)


@given(small_texts)
def test_check_name_accepts_exactly_the_documented_names(value: str) -> None:
    if documented_name(value):
        assert check_name(value) == value
    else:
        with spec_error("name", repr(value)):
            check_name(value)


def test_check_id_reports_the_key_it_is_given() -> None:
    with spec_error("children[2].id", "'no good'"):
        check_id("no good", key="children[2].id")
