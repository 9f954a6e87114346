"""Registered names: messages find the current instance, wait out restarts, or fail loudly."""

from __future__ import annotations

import time

import pytest

from omega_actors.errors import DeliveryError, SpecError, SupervisorError
from omega_actors.runtime import Backoff, Supervisor, SupervisorSpec
from omega_actors.runtime.messages import Routed
from omega_actors.runtime.registry import Located, Whereis

from .conftest import wait_until
from .probes import Add, Boom, Ping, Pong, Probe, Quit


def named_probe(log, backoff=None, **overrides):
    return SupervisorSpec(intensity=10, backoff=backoff, children=(Probe.child_spec("w", log, name="w", **overrides),))


def child(runtime):
    return runtime.which_children("app")[0]


def registry(runtime):
    return runtime.address_of("registry")


def test_a_name_follows_its_child_across_restarts(start_runtime, base, probe_log):
    runtime = start_runtime(named_probe(probe_log), base)
    first = runtime.ask("w", Ping())
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime).restarts == 1, runtime)
    second = runtime.ask("w", Ping())
    assert isinstance(second, Pong) and second.path == first.path == "app/w"
    located = runtime.ask(registry(runtime), Whereis("w"))
    assert isinstance(located, Located) and located.address == runtime.address_of("app/w")


def test_a_message_sent_while_its_child_restarts_waits_and_is_delivered(start_runtime, base, probe_log):
    backoff = Backoff(initial=0.5, maximum=1.0, jitter=0.0)
    runtime = start_runtime(named_probe(probe_log, backoff), base)
    runtime.ask("w", Add(3))
    crashed = time.monotonic()
    runtime.tell(runtime.address_of("app/w"), Boom())
    # The ask takes another route than the crash; send it once the restart is pending.
    wait_until(lambda: child(runtime).state == "restarting", runtime)
    assert runtime.ask("w", Add(1), timeout=30) == 4, "held through the backoff, then delivered to the new instance"
    assert time.monotonic() - crashed >= 0.5
    assert child(runtime).restarts == 1


def test_messages_beyond_the_buffer_bound_are_refused_with_the_reason(start_runtime, base, probe_log):
    backoff = Backoff(initial=3.0, maximum=3.0, jitter=0.0)
    runtime = start_runtime(named_probe(probe_log, backoff), base, registry_buffer=2)
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime).state == "restarting", runtime)
    runtime.tell("w", Add(1))
    runtime.tell("w", Add(1))
    # An ask comes from another sender than the tells, so it could overtake them.
    wait_until(lambda: runtime.ask(registry(runtime), Whereis("w")).waiting == 2, runtime)
    with pytest.raises(DeliveryError, match="'w' is restarting and 2 messages already wait for it"):
        runtime.ask("w", Add(1))
    wait_until(lambda: child(runtime).restarts == 1, runtime)
    assert runtime.ask("w", Add(0)) == 2, "the two held messages were delivered in order"


def test_a_restart_that_does_not_come_in_time_fails_the_waiting_messages(start_runtime, base, probe_log):
    backoff = Backoff(initial=5.0, maximum=5.0, jitter=0.0)
    runtime = start_runtime(named_probe(probe_log, backoff), base, registry_buffer_seconds=0.3)
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime).state == "restarting", runtime)
    with pytest.raises(DeliveryError, match="'w' is not running \\(it did not restart within 0.3 s\\)"):
        runtime.ask("w", Ping(), timeout=30)


def test_an_unknown_name_is_refused(start_runtime, base, probe_log):
    runtime = start_runtime(named_probe(probe_log), base)
    with pytest.raises(DeliveryError, match="no actor is registered as 'nobody'"):
        runtime.ask("nobody", Ping())


def test_the_name_of_a_child_that_ended_for_good_is_refused(start_runtime, base, probe_log):
    runtime = start_runtime(named_probe(probe_log, restart="transient"), base)
    runtime.tell(runtime.address_of("app/w"), Quit())
    wait_until(lambda: child(runtime).state == "undefined", runtime)
    with pytest.raises(DeliveryError, match="'w' is not running \\(normal\\)"):
        runtime.ask("w", Ping())
    runtime.restart_child("app", "w")
    assert isinstance(runtime.ask("w", Ping()), Pong)


def test_a_malformed_message_does_not_break_the_registry(start_runtime, base, probe_log):
    runtime = start_runtime(named_probe(probe_log), base)
    registry_address = registry(runtime)
    for bad in (Routed(["w"], Ping(), None), Whereis({"w": 1}), Routed(None, None, None)):  # type: ignore[arg-type]
        runtime.tell(registry_address, bad)
    assert isinstance(runtime.ask("w", Ping()), Pong)
    assert runtime.which_children("")[0].restarts == 0, "the registry itself did not restart"


def test_two_specs_may_not_register_the_same_name():
    tree = SupervisorSpec(
        children=(
            Probe.child_spec("a", "log", name="same"),
            Supervisor.child_spec("inner", SupervisorSpec(children=(Probe.child_spec("b", "log", name="same"),))),
        )
    )
    from omega_actors.runtime import Runtime, SystemConfig

    with pytest.raises(SpecError, match="app/inner/b.name: name 'same' is registered by app/a already"):
        Runtime.start(tree, SystemConfig(base="simple"))


@pytest.mark.tcp
def test_a_name_held_by_a_live_actor_cannot_be_taken_by_start_child(start_runtime, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("a", probe_log, name="same"), Supervisor.child_spec("pool")))
    runtime = start_runtime(tree, "tcp")
    with pytest.raises(SupervisorError, match="failed to start: killed: name 'same' is held by another live actor"):
        runtime.start_child("app/pool", Probe.child_spec("b", probe_log, name="same"))
    assert isinstance(runtime.ask("same", Ping()), Pong) and runtime.ask("same", Ping()).path == "app/a"
