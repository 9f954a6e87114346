"""omega_actors.runtime: Erlang/OTP supervision on Thespian.

Write actors as plain classes with typed handlers, declare supervision trees
as frozen specs (or in ``config/*.toml``), and run them on one process or one
process per actor::

    from dataclasses import dataclass
    from omega_actors.runtime import Actor, Runtime, SupervisorSpec, SystemConfig, handler

    @dataclass(frozen=True)
    class Ping:
        pass

    class Echo(Actor):
        @handler
        def ping(self, message: Ping) -> str:
            return "pong"

    tree = SupervisorSpec(children=(Echo.child_spec("echo", name="echo"),))
    with Runtime.start(tree, SystemConfig(base="simple")) as runtime:
        assert runtime.ask("echo", Ping()) == "pong"

On ``base="tcp"`` (one process per actor) the classes must live in a module,
not in ``__main__``.

Modules, one concept each: :mod:`.actor` (the base class), :mod:`.child_spec`
and :mod:`.supervisor_spec` (specs), :mod:`.exits` (exit reasons),
:mod:`.supervisor` (OTP semantics), :mod:`.registry` (names),
:mod:`.event_bus` and :mod:`.subjects` (pub/sub), :mod:`.introspection`,
:mod:`.config` (TOML), :mod:`.system` (the runtime), and ``_thespian``, the
only module that imports Thespian.
"""

from ._thespian import is_address
from .actor import Actor, Context, handler
from .backoff import Backoff
from .child_spec import BRUTAL_KILL, INFINITY, ChildSpec, ChildType, Restart, Start
from .clock import Clock, FileClock, ManualClock, MonotonicClock
from .config import Config, load_config
from .exits import Crash, CrashReport, ExitReason, Killed, Normal, Shutdown
from .introspection import ChildCounts, ChildInfo, TreeNode, render_text, to_json
from .messages import (
    ActorFailed,
    Event,
    HealthCheck,
    HealthReport,
    Refused,
    Rejected,
    Undeliverable,
)
from .settings import check_keys, settings_from_table
from .supervisor import Supervisor
from .supervisor_spec import AutoShutdown, Strategy, SupervisorSpec
from .system import Runtime, SystemConfig

__all__ = [
    "is_address",
    "BRUTAL_KILL",
    "INFINITY",
    "Actor",
    "ActorFailed",
    "AutoShutdown",
    "Backoff",
    "ChildCounts",
    "ChildInfo",
    "ChildSpec",
    "ChildType",
    "Clock",
    "Config",
    "Context",
    "Crash",
    "CrashReport",
    "Event",
    "ExitReason",
    "FileClock",
    "HealthCheck",
    "HealthReport",
    "Killed",
    "ManualClock",
    "MonotonicClock",
    "Normal",
    "Refused",
    "Rejected",
    "Restart",
    "Runtime",
    "Shutdown",
    "Start",
    "Strategy",
    "Supervisor",
    "SupervisorSpec",
    "SystemConfig",
    "TreeNode",
    "Undeliverable",
    "handler",
    "check_keys",
    "load_config",
    "settings_from_table",
    "render_text",
    "to_json",
]
