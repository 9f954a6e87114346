"""The actor base: typed handlers, lifecycle hooks, and let it crash."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from omega_actors.errors import DeliveryError, SpecError, SupervisorError
from omega_actors.runtime import (
    Actor,
    ChildSpec,
    Start,
    SupervisorSpec,
    handler,
)
from omega_actors.runtime.messages import (
    ChildExited,
    Routed,
    Stop,
)

from .conftest import wait_until
from .probes import Add, Boom, Ping, Pong, Probe, read_lines


@dataclass(frozen=True)
class Base:
    pass


@dataclass(frozen=True)
class Derived(Base):
    pass


@dataclass(frozen=True)
class Other:
    pass


class Dispatching(Actor):
    @handler
    def base(self, message: Base) -> str:
        return f"base got {type(message).__name__}"

    @handler
    def either(self, message: Other | int) -> str:
        return f"either got {type(message).__name__}"


class Forgetful(Actor):
    """Checkpoints but never says how to restore: a programming error."""

    @handler
    def add(self, message: Add) -> int:
        self.checkpoint(message.n)
        return message.n

    @handler
    def boom(self, message: Boom) -> None:
        raise ZeroDivisionError("boom")


def child(runtime, path, id):
    return next(info for info in runtime.which_children(path) if info.id == id)


def test_a_handler_takes_its_annotated_type_its_subclasses_and_union_members():
    table = Dispatching.handler_table()
    assert table[Base] == "base" and table[Other] == "either" and table[int] == "either"
    assert Derived not in table, "subclasses are resolved through the MRO at dispatch time"


class NoAnnotation(Actor):
    @handler
    def take(self, message):  # type: ignore[no-untyped-def]
        return message


def test_a_handler_without_an_annotation_is_refused_when_the_spec_is_built():
    with pytest.raises(SpecError, match="needs a type annotation on its message parameter"):
        Start.of(NoAnnotation)


def test_an_actor_class_defined_inside_a_function_is_refused_with_the_reason():
    class Local(Actor):
        pass

    with pytest.raises(SpecError, match="defined inside a function"):
        Start.of(Local)


def test_messages_reach_handlers_by_type_and_subclass(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(children=(Dispatching.child_spec("d", name="d"),)), base)
    assert runtime.ask("d", Derived()) == "base got Derived"
    assert runtime.ask("d", 7) == "either got int"
    assert runtime.ask("d", Other()) == "either got Other"


def test_a_crash_reaches_the_supervisor_as_a_structured_report(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log),)), base)
    pid = child(runtime, "app", "w").pid
    with pytest.raises(DeliveryError, match=r"ActorFailed\(actor=app/w, message_type=tests.runtime.probes.Boom"):
        runtime.ask(runtime.address_of("app/w"), Boom())
    report = wait_until(lambda: child(runtime, "app", "w").last_crash, runtime)
    assert (report.actor, report.exc_type, report.exc_text) == ("app/w", "builtins.ZeroDivisionError", "boom")
    assert report.message_type == "tests.runtime.probes.Boom" and report.phase == "message"
    assert 'raise ZeroDivisionError("boom")' in report.traceback and report.pid == pid


def test_a_crash_ends_the_instance_and_the_next_one_starts_fresh(start_runtime, base, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("w", probe_log),))
    runtime = start_runtime(tree, base)
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime, "app", "w").restarts == 1, runtime)
    # Thespian would have retried the message on the same instance; here it ran once.
    assert read_lines(probe_log) == ["start app/w", "stop app/w crash", "start app/w"]


def test_a_message_without_a_handler_is_rejected_and_counted_not_a_crash(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log, name="w"),)), base)
    with pytest.raises(DeliveryError, match="Rejected.*no handler for this message type"):
        runtime.ask("w", Other())
    assert isinstance(runtime.ask("w", Ping()), Pong)
    assert child(runtime, "app", "w").restarts == 0


def test_an_actor_that_checkpoints_without_restore_fails_its_restart_clearly(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(intensity=3, children=(Forgetful.child_spec("f", name="f"),)), base)
    runtime.ask("f", Add(1))
    runtime.tell(runtime.address_of("app/f"), Boom())
    reason = wait_until(runtime.terminated, runtime)
    assert reason == "shutdown: reached_max_restart_intensity"
    app = runtime.tree().find("app")
    assert app.last_exit and "reached_max_restart_intensity" in app.last_exit


def test_an_actor_crashing_at_start_is_a_start_failure_for_start_child(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(), base)
    bad = ChildSpec("bad", Start.of(Probe, probe_log, fail_start=True))
    with pytest.raises(SupervisorError, match="failed to start: .*RuntimeError: refusing to start"):
        runtime.start_child("app", bad)
    assert runtime.which_children("app") == ()


def test_no_one_can_speak_for_another_actor_through_a_named_message(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log, name="w"),)), base)
    app, worker = runtime.address_of("app"), runtime.address_of("app/w")
    # Straight to the target, claiming to come from its supervisor or from itself:
    with pytest.raises(DeliveryError, match="named messages are accepted from the registry only"):
        runtime.ask(app, Routed("x", ChildExited(worker), app))
    with pytest.raises(DeliveryError, match="named messages are accepted from the registry only"):
        runtime.ask(worker, Routed("w", Stop(), app))
    # Through the registry, which puts the true sender in reply_to:
    with pytest.raises(DeliveryError, match="only its supervisor may stop an actor"):
        runtime.ask(runtime.address_of("registry"), Routed("w", Stop(), app))
    info = child(runtime, "app", "w")
    assert (info.state, info.restarts, info.address == worker) == ("running", 0, True)
    assert read_lines(probe_log) == ["start app/w"]
