"""The event bus between actors: wildcards, one event per subscriber, and lifecycle events."""

from __future__ import annotations

from dataclasses import dataclass

from omega_actors.runtime import Actor, Event, SupervisorSpec, handler
from omega_actors.runtime.messages import CountSubscriptions, Done

from .conftest import wait_until
from .probes import Boom, Probe


@dataclass(frozen=True)
class Seen:
    pass


@dataclass(frozen=True)
class Ready:
    pass


class Collector(Actor):
    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.events: list[tuple[str, object]] = []
        self.acks = 0

    def started(self) -> None:
        for pattern in self.patterns:
            self.subscribe(pattern, ack=True)

    @handler
    def acked(self, message: Done) -> None:
        self.acks += 1

    @handler
    def ready(self, message: Ready) -> bool:
        return self.acks == len(self.patterns)

    @handler
    def event(self, message: Event) -> None:
        self.events.append((message.subject, message.payload))

    @handler
    def seen(self, message: Seen) -> list[tuple[str, object]]:
        return self.events

    @handler
    def boom(self, message: Boom) -> None:
        raise RuntimeError("boom")


def collector(*patterns: str):
    return Collector.child_spec("collector", patterns, name="collector")


def seen(runtime):
    return runtime.ask("collector", Seen())


def subscribed(runtime):
    """Wait until the collector's subscriptions are in place (the bus acknowledged them)."""
    wait_until(lambda: runtime.ask("collector", Ready()), runtime, what="the subscriptions")


def test_a_subscriber_gets_what_its_patterns_match_once_per_publish(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(children=(collector("a.*.c", "a.>", "x.y"),)), base)
    subscribed(runtime)
    for subject in ("a.b.c", "a.b", "a", "x.y", "x.y.z", "b.b.c"):
        runtime.publish(subject, subject)
    wait_until(lambda: len(seen(runtime)) == 3, runtime)
    assert [subject for subject, _ in seen(runtime)] == ["a.b.c", "a.b", "x.y"]


def test_subscriptions_end_with_their_instance(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(intensity=5, children=(collector("t.*"),)), base)
    runtime.tell(runtime.address_of("app/collector"), Boom())
    wait_until(lambda: runtime.which_children("app")[0].restarts == 1, runtime)
    subscribed(runtime)
    bus = runtime.address_of("event_bus")
    # The supervisor tells the bus of the exit; the new instance subscribed again.
    wait_until(lambda: runtime.ask(bus, CountSubscriptions()) == (1, 1), runtime, what="one subscriber")
    runtime.publish("t.1", 1)
    wait_until(lambda: seen(runtime), runtime)
    assert seen(runtime) == [("t.1", 1)]


def test_supervisors_publish_exits_with_their_reason(start_runtime, base, probe_log):
    tree = SupervisorSpec(children=(collector("omega.child.exited.>"), Probe.child_spec("w", probe_log)))
    runtime = start_runtime(tree, base)
    subscribed(runtime)
    runtime.tell(runtime.address_of("app/w"), Boom())
    events = wait_until(lambda: seen(runtime), runtime)
    subject, payload = events[0]
    assert subject == "omega.child.exited.app.w"
    assert payload["path"] == "app/w" and payload["reason"].startswith("crash: ZeroDivisionError: boom")


def test_a_bad_subject_is_refused_and_the_bus_carries_on(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(children=(collector("ok"),)), base)
    subscribed(runtime)
    runtime.publish("bad..subject", None)
    runtime.publish("*", None)
    runtime.publish("ok", "still here")
    wait_until(lambda: seen(runtime), runtime)
    assert seen(runtime) == [("ok", "still here")]
