"""Contexts: an application actor can do what an application should, and nothing of the runtime's own."""

from __future__ import annotations

import typing
from dataclasses import dataclass

import pytest

from omega_actors.runtime import Actor, Context, SupervisorSpec, handler
from omega_actors.runtime._context import (
    ActorContext,
    SystemActor,
    SystemContext,
    context_for,
)
from omega_actors.runtime.messages import WhichChildren

from .conftest import BASES


@dataclass(frozen=True)
class WhatCanIDo:
    pass


class Curious(Actor):
    @handler
    def what(self, message: WhatCanIDo) -> list[str]:
        return sorted(name for name in dir(self.ctx) if not name.startswith("_"))


def members(protocol: type) -> set[str]:
    """A Protocol's attributes and methods, its bases' included."""
    found: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (typing.Protocol, typing.Generic, object):
            continue
        found |= set(getattr(klass, "__annotations__", {}))
        found |= {name for name, value in vars(klass).items() if callable(value) and not name.startswith("_")}
    return found


def test_an_application_actors_context_is_exactly_the_public_context():
    assert set(ActorContext.__slots__) == members(Context)


def test_the_runtimes_own_context_adds_what_only_the_runtime_may_do():
    extra = members(SystemContext) - members(Context)
    assert {"spawn", "kill", "end_system_now", "report_started", "services", "pid", "isolated"} <= extra


@pytest.mark.parametrize("base", BASES)
def test_a_running_application_actor_cannot_reach_the_runtimes_operations(start_runtime, base):
    runtime = start_runtime(SupervisorSpec(children=(Curious.child_spec("c", name="curious"),)), base)
    reachable = set(runtime.ask("curious", WhatCanIDo()))
    assert reachable == members(Context)
    assert not reachable & {"spawn", "kill", "end_system_now", "services", "createActor", "wakeupAfter"}


def test_supervisors_and_the_other_system_actors_get_the_host_itself():
    host = object()
    assert context_for(SystemActor, host) is host  # type: ignore[arg-type]


def test_a_supervisor_still_answers_what_needs_the_wider_context(start_runtime):
    runtime = start_runtime(SupervisorSpec(children=(Curious.child_spec("c"),)))
    assert [child.id for child in runtime.ask(runtime.address_of("app"), WhichChildren()).children] == ["c"]


def test_increment_is_an_actor_method_so_application_code_needs_no_context():
    counted: list[str] = []

    class Recorder:
        def count(self, counter: str) -> None:
            counted.append(counter)

    actor = Curious()
    actor.ctx = Recorder()  # type: ignore[assignment]
    actor.increment("refused")
    assert counted == ["refused"]
