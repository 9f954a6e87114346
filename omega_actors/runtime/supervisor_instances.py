"""What a supervisor hears from its children's instances, and what it tells others about them.

The instance half of :class:`~.supervisor.Supervisor`: the protocol of
:mod:`.messages` seen from the supervisor's side. Each instance carries an
unguessable token, and a report counts only when the right token comes from
that instance's own address:

- ``Started``: the instance is up. A named child has started only once the
  registry has confirmed its name (``Registered``), or, on the tcp base,
  after ``REGISTER_TIMEOUT`` without an answer (the registry may be gone);
  a name held by another live actor kills the instance, which fails the start.
- ``Exiting`` / ``StartFailed``: the instance says why it is ending. The
  supervisor notes the reason and answers ``ExitNoted``; only then does the
  instance end, so the reason is known before its process is gone.
- ``ChildExited`` (from the runtime, never from a child): the process has
  ended. Only now is the exit handled, by the rules of :mod:`.supervisor`.
- ``SaveCheckpoint``: kept for the next instance.

Every start and exit is published on the bus (``omega.child.started.<path>``,
``omega.child.exited.<path>``, ``omega.supervisor.exited.<path>``) and, for a
named child, told to the registry, which holds the name's mail while the
child restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import logs
from ._context import SystemActor
from .actor import handler
from .child_record import ChildRecord
from .child_spec import Restart
from .exits import Crash, CrashReport, ExitReason, Killed, Normal, Shutdown
from .introspection import ChildState
from .messages import (
    ActorDown,
    Address,
    ChildExited,
    DeliveryFailed,
    Exiting,
    ExitNoted,
    Init,
    Publish,
    SaveCheckpoint,
    Started,
    StartFailed,
)
from .operations import OperationQueue
from .registry import Register, Registered, Unavailable
from .supervisor_spec import SupervisorSpec

REGISTER_TIMEOUT = 5.0  # seconds a start waits for the registry before going on without it


@dataclass(frozen=True, slots=True)
class _RegisterTimeout:
    token: int


class SupervisorInstances(SystemActor):
    """Handlers for what child instances report, of :class:`~.supervisor.Supervisor`."""

    spec: SupervisorSpec
    by_token: dict[int, ChildRecord]
    ops: OperationQueue

    if TYPE_CHECKING:  # provided by Supervisor and SupervisorRemote

        def _instance_ended(self, child: ChildRecord) -> None: ...
        def _path(self, child: ChildRecord) -> str: ...
        @staticmethod
        def _restarts(child: ChildRecord, reason: ExitReason) -> bool: ...
        def _beat_soon(self) -> None: ...

    @handler
    def _child_started(self, message: Started) -> None:
        child = self._from_child(message.token)
        if child is None:
            return
        # The sender is the real endpoint; what spawn returned may be a placeholder.
        child.pid, child.address, child.address_known = message.pid, self.sender, True
        if child.state is not ChildState.STARTING:
            return  # asked to stop before it finished starting
        child.state = ChildState.RUNNING
        child.started_at = self.spec.clock.now()
        child.starts += 1
        if child.node is not None:
            self._beat_soon()  # its lease runs from its first heartbeat: send one soon
        if not self._announce_up(child):
            self.ops.resume("start", child.token, True)
        elif self.ctx.isolated:  # the registry's answer could be lost with its process
            self.send_after(REGISTER_TIMEOUT, _RegisterTimeout(child.token))

    @handler
    def _child_registered(self, message: Registered) -> None:
        # A named child has started once its name resolves (see registry).
        child = self.by_token.get(message.token)
        if child is None or child.state is not ChildState.RUNNING or self.sender != self.ctx.services.registry:
            return
        if isinstance(message.refused, str):
            logs.emit(logging.ERROR, "name_taken", self._path(child), reason=message.refused)
            child.reason = Killed(message.refused)
            child.state = ChildState.STOPPING
            self.ctx.kill(child.address, child.pid)  # its exit then fails the start
            return
        self.ops.resume("start", child.token, True)

    @handler
    def _register_timed_out(self, message: _RegisterTimeout) -> None:
        child = self.by_token.get(message.token)
        if self.sender == self.address and child is not None and child.state is ChildState.RUNNING:
            logs.emit(logging.WARNING, "register_timeout", self._path(child), seconds=REGISTER_TIMEOUT)
            self.ops.resume("start", child.token, True)

    @handler
    def _child_start_failed(self, message: StartFailed) -> ExitNoted | None:
        return self._child_said(message.reason, message.token)

    @handler
    def _child_exiting(self, message: Exiting) -> ExitNoted | None:
        return self._child_said(message.reason, message.token)

    def _child_said(self, reason: ExitReason, token: int) -> ExitNoted | None:
        child = self._from_child(token)
        if child is None or not _well_formed(reason):
            return None
        child.reason = reason
        if child.state is not ChildState.STOPPING:
            child.state = ChildState.EXITING
        return ExitNoted()  # the instance waits for this before it ends

    @handler
    def _child_exited(self, message: ChildExited) -> None:
        if self.sender != self.address:
            return self.ctx.count("forged_exits")
        child = next((c for c in self.by_token.values() if c.address == message.address), None)
        if child is None:
            return  # a second notice for the same exit, or a stale instance
        self._instance_ended(child)

    @handler
    def _child_checkpoint(self, message: SaveCheckpoint) -> None:
        child = self._from_child(message.token)
        if child is not None and isinstance(message.blob, bytes):
            child.checkpoint = message.blob

    @handler
    def _delivery_failed(self, message: DeliveryFailed) -> None:  # type: ignore[override]
        # An Init that could not be sent: the child never starts, so end it.
        if isinstance(message.message, Init):
            child = self.by_token.get(message.message.token)
            if child is not None:
                self.ctx.kill(child.address, None)
        else:
            super()._delivery_failed(message)

    def _from_child(self, token: Any) -> ChildRecord | None:
        child = self.by_token.get(token) if isinstance(token, int) else None
        if child is not None and self.sender != child.address:
            child = None  # the right token from the wrong actor
        if child is None:
            self.ctx.count("stale_child_messages")
        return child

    # Telling the registry and the bus.

    def _announce_up(self, child: ChildRecord) -> bool:
        """Tell the registry and the bus; True if the start waits for the registry's answer."""
        logs.emit(logging.INFO, "child_started", self._path(child), pid=child.pid, restarts=child.restarts)
        self.publish_event("child.started", self._path(child), None)
        registry = self.ctx.services.registry
        if child.spec.name and registry is not None:
            self.send(registry, Register(child.spec.name, child.address, child.token, child.pid or 0))
            return True
        return False

    def _announce_down(
        self, child: ChildRecord, address: Address | None, reason: ExitReason, by_operation: bool
    ) -> None:
        self.publish_event("child.exited", self._path(child), reason)
        if address is None:
            return  # it never started: it registered nothing and its address never left this process
        services = self.ctx.services
        if child.spec.name and services.registry is not None:
            # An operation stops children to restart them unless they are leaving for good;
            # the registry holds their mail meanwhile, for a bounded time.
            final = child.leaving or child.spec.restart is Restart.TEMPORARY
            coming_back = not final and (by_operation or self._restarts(child, reason))
            self.send(services.registry, Unavailable(child.spec.name, address, coming_back, reason.summary()))
        if services.bus is not None:
            self.send(services.bus, ActorDown(address))

    def publish_event(self, kind: str, path: str, reason: ExitReason | None) -> None:
        bus = self.ctx.services.bus
        if bus is not None:
            subject = ".".join(["omega", kind, *(path.split("/") if path else ["guardian"])])
            self.send(bus, Publish(subject, {"path": path, "reason": reason.summary() if reason else None}))


def _well_formed(reason: object) -> bool:
    """A reason from a child is a message from another process: check its shape."""
    if isinstance(reason, Crash):
        return isinstance(reason.report, CrashReport)
    if isinstance(reason, (Shutdown, Killed)):
        return isinstance(reason.detail, str)
    return isinstance(reason, Normal)
