"""omega_actors.runtime: Erlang/OTP supervision on Thespian.

Everything an application needs is imported from here, and from here only::

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
not in ``__main__``. README.md ("Writing your own application") builds a
small application with names, replies, events, refusals and its own config
section.

What is exported, by what it is for:

- **Actors**: :class:`Actor` and ``@handler``; ``self.ctx`` is a
  :class:`Context`, but the actor's own methods (``send``, ``reply``,
  ``send_named``, ``publish``, ``subscribe``, ``send_after`` with its
  :class:`TimerRef`, ``checkpoint``, ``stop``, ``increment``) are all a handler
  needs. Addresses are opaque (:data:`Address`, :func:`is_address`).
- **Replies and failures**: :class:`Done`, :class:`Refused` (a request was
  refused, with OTP's word for why), and what a sender gets when its message
  could not be handled: :class:`Rejected` (no handler), :class:`ActorFailed`
  (the handler crashed), :class:`Undeliverable` (nobody took it). Events
  from the bus arrive as :class:`Event`; names resolve with
  :class:`Whereis` / :class:`Located` (:class:`NameStatus`); any actor
  answers :class:`HealthCheck` with a :class:`HealthReport`.
- **Specs**: :class:`ChildSpec` (``Start``, ``Restart``, ``ChildType``,
  ``BRUTAL_KILL``, ``INFINITY``), :class:`SupervisorSpec` (``Strategy``,
  ``AutoShutdown``, ``Backoff``), and the :class:`Supervisor` actor.
- **Supervisor requests** an actor sends to a supervisor: ``StartChild``
  [``ChildStarted``], ``TerminateChild``, ``RestartChild``, ``KillChild``,
  ``DeleteChild`` [``Done``], ``WhichChildren`` [``Children`` of
  ``ChildInfo``], ``CountChildren`` [``ChildCounts``]; any may be answered
  ``Refused``. Child states are :class:`ChildState`.
- **Exits**: :class:`Normal`, :class:`Shutdown`, :class:`Crash` (with its
  :class:`CrashReport`), :class:`Killed`.
- **Running**: :class:`Runtime` with :class:`SystemConfig` and
  :class:`ClusterConfig`; clocks for restart windows (:class:`Clock`,
  :class:`MonotonicClock`, :class:`ManualClock`, :class:`FileClock`); the
  live tree (:class:`TreeNode`, :func:`render_text`, :func:`to_json`).
- **Config**: :func:`load_config` reads ``config/*.toml`` into a
  :class:`Config`; the application's own sections read as frozen dataclasses
  with ``Config.section`` or :func:`settings_from_table`, and
  :func:`check_keys` is the one unknown-key check.
- **Logs**: :func:`emit` writes a structured event (``event``, ``actor``,
  fields), as the runtime's own are.
- **Errors**: :class:`OmegaError` and the ones an application catches or
  raises: :class:`ConfigError`, :class:`SpecError`, :class:`AskTimeout`,
  :class:`DeliveryError`, :class:`SupervisorError`, :class:`RuntimeStartError`.

Operators' and tools' names stay in their modules: ``logs.logging_config``,
``processes`` (pids and process groups), ``reconfigure.diff_trees``,
``supervisor_spec.walk``, ``cluster_config.parse_capability``,
``messages.Members``, ``system.free_port``.

Layout. One module per concept: :mod:`.actor`, :mod:`.child_spec` and
:mod:`.supervisor_spec` (specs), :mod:`.exits`, :mod:`.supervisor` (OTP's
rules; its mechanisms in ``supervisor_instances``, ``supervisor_remote``,
``supervisor_requests`` and ``supervisor_upgrade``), :mod:`.registry`,
:mod:`.event_bus` and :mod:`.subjects`, :mod:`.cluster`, :mod:`.introspection`,
:mod:`.config` (with :mod:`omega_actors.settings`, re-exported here), :mod:`.system` (the runtime). Two are
private: ``_context`` (what the runtime's own actors may do that
application actors may not) and ``_thespian``, the adapter, the only package
that imports Thespian.

The runtime imports nothing above it: of omega_actors, only the two leaves
``omega_actors.errors`` and ``omega_actors.settings``. Everything else builds on it.
"""

from ..errors import (
    AskTimeout,
    ConfigError,
    DeliveryError,
    OmegaError,
    RuntimeStartError,
    SpecError,
    SupervisorError,
)
from ..settings import check_keys, settings_from_table
from ._thespian import is_address
from .actor import Actor, Context, TimerRef, handler
from .backoff import Backoff
from .child_spec import BRUTAL_KILL, INFINITY, ChildSpec, ChildType, Restart, Start
from .clock import Clock, FileClock, ManualClock, MonotonicClock
from .cluster_config import ClusterConfig
from .config import Config, load_config
from .exits import Crash, CrashReport, ExitReason, Killed, Normal, Shutdown
from .introspection import (
    ChildCounts,
    ChildInfo,
    Children,
    ChildState,
    TreeNode,
    render_text,
    to_json,
)
from .logs import emit
from .messages import (
    ActorFailed,
    Address,
    ChildStarted,
    CountChildren,
    DeleteChild,
    Done,
    Event,
    HealthCheck,
    HealthReport,
    KillChild,
    Refused,
    Rejected,
    RestartChild,
    StartChild,
    TerminateChild,
    Undeliverable,
    WhichChildren,
)
from .registry import Located, NameStatus, Whereis
from .supervisor import Supervisor
from .supervisor_spec import AutoShutdown, Strategy, SupervisorSpec
from .system import Runtime, SystemConfig

__all__ = [
    # actors
    "Actor",
    "Address",
    "Context",
    "TimerRef",
    "handler",
    "is_address",
    # replies, failures, events, names, health
    "ActorFailed",
    "Done",
    "Event",
    "HealthCheck",
    "HealthReport",
    "Located",
    "NameStatus",
    "Refused",
    "Rejected",
    "Undeliverable",
    "Whereis",
    # specs
    "AutoShutdown",
    "BRUTAL_KILL",
    "Backoff",
    "ChildSpec",
    "ChildType",
    "INFINITY",
    "Restart",
    "Start",
    "Strategy",
    "Supervisor",
    "SupervisorSpec",
    # supervisor requests and their answers
    "ChildCounts",
    "ChildInfo",
    "ChildStarted",
    "ChildState",
    "Children",
    "CountChildren",
    "DeleteChild",
    "KillChild",
    "RestartChild",
    "StartChild",
    "TerminateChild",
    "WhichChildren",
    # exits
    "Crash",
    "CrashReport",
    "ExitReason",
    "Killed",
    "Normal",
    "Shutdown",
    # running
    "ClusterConfig",
    "Clock",
    "FileClock",
    "ManualClock",
    "MonotonicClock",
    "Runtime",
    "SystemConfig",
    "TreeNode",
    "render_text",
    "to_json",
    # config
    "Config",
    "check_keys",
    "load_config",
    "settings_from_table",
    # logs
    "emit",
    # errors
    "AskTimeout",
    "ConfigError",
    "DeliveryError",
    "OmegaError",
    "RuntimeStartError",
    "SpecError",
    "SupervisorError",
]
