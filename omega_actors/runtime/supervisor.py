"""Supervisors with OTP's semantics, on Thespian.

A :class:`Supervisor` is an actor that starts its children in order, watches
them, restarts them by its strategy, and stops them in reverse order. It
follows ``supervisor.erl`` (OTP 27) rule for rule; where it departs or adds,
the comment says so. See :mod:`.supervisor_spec` for strategies and flags and
:mod:`.child_spec` for restart types.

How an exit is handled (OTP's ``restart_child/3`` and ``do_restart/3``):

1. The reason is ``Normal`` or ``Shutdown`` and the child is not permanent,
   or the child is temporary: it is not restarted. A temporary child's spec is
   dropped; otherwise the spec stays with no instance. Then ``auto_shutdown``
   is checked if the child is significant.
2. Otherwise the restart is recorded in the intensity window first. If that
   makes more than ``intensity`` restarts in ``period`` seconds, the
   supervisor stops all its children in reverse start order and exits with
   ``Shutdown("reached_max_restart_intensity")``; its own supervisor then
   handles that exit like any other (escalation).
3. Otherwise the strategy picks the group (the child; the child and those
   after it; or all), the others in the group are stopped in reverse start
   order (temporary ones are dropped), and the group is started again in
   start order. With a ``Backoff``, the start waits; the group shows as
   ``restarting`` meanwhile.
4. If a start fails, the child shows as ``restarting`` and the restart is
   tried again after the messages already waiting (OTP's ``try_again``),
   counting in the intensity window again.

Sequencing. OTP's supervisor is a sequential process that blocks while it
stops or starts children; this one runs each multi-step job as an operation
(:mod:`.operations`), and other decisions and requests wait in order behind
it, as messages wait in an OTP supervisor's mailbox. Queries
(``which_children``, the tree) are answered at once
(:mod:`.supervisor_requests`). A child's exit that arrives while an operation
is stopping it is that operation's business and is not handled twice (OTP's
``unlink_flush``).

Exits. An instance reports ``Exiting(reason)`` (or ``StartFailed``) and ends
only once the supervisor has acknowledged it, so the reason is known before
the process is gone; an instance that ends without a report was killed. On
``multiprocTCPBase`` the runtime confirms each exit by the child's pid (see
:mod:`.processes`), and a new instance is started only after the old one's
process has ended, so at most one instance of a child id exists at a time
(the protocol, seen from the supervisor: :mod:`.supervisor_instances`). A
child on another node that stops answering heartbeats exits as ``Killed``
(:mod:`.supervisor_remote`).

Beyond OTP: restart backoff (:mod:`.backoff`), and checkpoints: a child may
``checkpoint(state)``; the supervisor keeps the last one for as long as it
keeps the child's spec, and hands it to every later instance. It is lost when
the supervisor itself restarts, on purpose: a supervisor restarts when its
children crash in a loop, and the state may be what makes them crash.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import logs
from .actor import handler
from .child_record import ChildRecord
from .child_spec import BRUTAL_KILL, INFINITY, ChildSpec, ChildType, Restart
from .exits import ExitReason, Killed, Normal, Shutdown
from .intensity import RestartWindow
from .introspection import ChildState
from .messages import Stop, Undeliverable
from .operations import Operation, OperationQueue, Wait
from .supervisor_instances import SupervisorInstances
from .supervisor_remote import SupervisorRemote
from .supervisor_requests import SupervisorRequests
from .supervisor_spec import AutoShutdown, Strategy, SupervisorSpec
from .supervisor_upgrade import SupervisorUpgrade

STOP_GRACE = 5.0  # seconds a child that said it is ending has to end


@dataclass(frozen=True, slots=True)
class _StopTimeout:
    token: int


@dataclass(frozen=True, slots=True)
class _RestartDue:
    id: str
    generation: int
    group: tuple[str, ...]


class Supervisor(SupervisorInstances, SupervisorRemote, SupervisorUpgrade, SupervisorRequests):
    """An OTP supervisor. Build one with ``Supervisor.child_spec(id, SupervisorSpec(...))``.

    The rules are here; the mechanisms are its bases: :mod:`.supervisor_instances`
    (what instances report), :mod:`.supervisor_remote` (children on other
    nodes), :mod:`.supervisor_requests` (OTP's calls and introspection) and
    :mod:`.supervisor_upgrade` (a new spec in place).
    """

    child_type = ChildType.SUPERVISOR
    reports_started_itself = True

    def __init__(self, spec: SupervisorSpec) -> None:
        super().__init__()
        self.spec = spec
        self.children: list[ChildRecord] = [ChildRecord(child) for child in spec.children]
        self.by_token: dict[int, ChildRecord] = {}  # children with a live instance
        self.window = RestartWindow(spec.intensity, spec.period)
        self.ops = OperationQueue()
        self._up = False  # all initial children started and Started reported
        self._random = random.Random()
        self._stopping = False  # asked to stop: no new placements, no retries

    @classmethod
    def child_spec(  # type: ignore[override]
        cls,
        id: str,
        spec: SupervisorSpec | None = None,
        *,
        restart: Restart | str | None = None,
        shutdown: Any = None,
        significant: bool = False,
        name: str | None = None,
    ) -> ChildSpec:
        return super().child_spec(
            id, spec or SupervisorSpec(), restart=restart, shutdown=shutdown, significant=significant, name=name
        )

    # Start-up.

    def started(self) -> None:
        self.ops.run(self._start_children)

    def _start_children(self) -> Operation:
        for child in list(self.children):
            outcome = yield from self._start(child)
            if outcome is not True:
                for done in reversed(self.children[: self.children.index(child)]):
                    yield from self._terminate(done)
                self._exit(Shutdown(f"failed_to_start_child {child.spec.id}: {outcome.summary()}"))
                return
        self._up = True
        self.ctx.report_started()

    # An instance has ended.

    def _instance_ended(self, child: ChildRecord) -> None:
        """The current instance is gone: its process ended, or (on another node) it fell silent."""
        token = child.token
        del self.by_token[token]
        address, reason = child.shareable_address, child.reason or Killed()
        child.address = child.pid = child.reason = None
        child.address_known = False
        child.token = 0
        if child.placed is not None:
            self._release(child)
        handled_by_operation = self.ops.waiting is not None and self.ops.waiting.token == token
        self._announce_down(child, address, reason, handled_by_operation)
        if token in self._tree_waiting:
            self._maybe_answer_tree()  # it will not answer a tree query any more
        if self.ops.resume("exit", token, reason):
            return
        child.state = ChildState.EXITED
        generation = child.generation
        self.ops.run(lambda: self._handle_exit(child, generation, reason))

    # OTP's do_restart: what an exit leads to.

    def _handle_exit(self, child: ChildRecord, generation: int, reason: ExitReason) -> Operation:
        if child.generation != generation or child.state is not ChildState.EXITED or child not in self.children:
            return  # an operation dealt with this instance already
        child.record_exit(reason)
        level = logging.ERROR if reason.abnormal else logging.INFO
        logs.emit(level, "child_exited", self._path(child), reason=reason.summary())
        if self._restarts(child, reason):
            yield from self._restart(child)
        else:
            self._let_go(child)
            yield from self._auto_shutdown(child)

    @staticmethod
    def _restarts(child: ChildRecord, reason: ExitReason) -> bool:
        if child.spec.restart is Restart.PERMANENT:
            return True
        return child.spec.restart is Restart.TRANSIENT and reason.abnormal

    def _restart(self, child: ChildRecord) -> Operation:
        if not self.window.add(self.spec.clock.now()):
            logs.emit(logging.ERROR, "reached_max_restart_intensity", self.path, offender=child.spec.id)
            self._let_go(child)
            yield from self._shut_down(Shutdown("reached_max_restart_intensity"))
            return
        group = self._group(child)
        for other in reversed(group):
            if other is not child:
                yield from self._terminate(other)
        group = [member for member in group if member in self.children]
        delay = self._backoff_delay(child)
        if delay > 0:
            self._schedule_restart(child, group, delay)
            return
        yield from self._start_group(group)

    def _group(self, child: ChildRecord) -> list[ChildRecord]:
        if self.spec.strategy is Strategy.ONE_FOR_ALL:
            return list(self.children)
        if self.spec.strategy is Strategy.REST_FOR_ONE:
            return self.children[self.children.index(child) :]
        return [child]

    def _start_group(self, group: Iterable[ChildRecord]) -> Operation:
        for member in group:
            outcome = yield from self._start(member)
            if outcome is not True:
                member.state = ChildState.RESTARTING
                member.generation += 1
                generation = member.generation
                self.ops.later(lambda: self._try_again(member, generation))
                return

    def _try_again(self, child: ChildRecord, generation: int) -> Operation:
        if self._stopping:
            return  # the shutdown queued behind this stops everything anyway
        if child.generation == generation and child.state is ChildState.RESTARTING and child in self.children:
            yield from self._restart(child)

    def _backoff_delay(self, child: ChildRecord) -> float:
        backoff = self.spec.backoff
        if backoff is None:
            return 0.0
        ran_for = self.spec.clock.now() - child.started_at if child.started_at is not None else 0.0
        # Counted once per run: failed starts after a long run must not reset the streak.
        child.started_at = None
        child.streak = backoff.next_attempt(child.streak, ran_for)
        return backoff.delay(child.streak, self._random.random())

    def _schedule_restart(self, child: ChildRecord, group: list[ChildRecord], delay: float) -> None:
        # As OTP marks only the child it will retry as restarting, the rest of
        # the group just has no instance until the delayed start.
        child.state = ChildState.RESTARTING
        child.generation += 1
        logs.emit(logging.INFO, "restart_delayed", self._path(child), seconds=round(delay, 4))
        self.send_after(delay, _RestartDue(child.spec.id, child.generation, tuple(m.spec.id for m in group)))

    @handler
    def _restart_due(self, message: _RestartDue) -> None:
        if self.sender != self.address:
            return
        child = self._find(message.id)
        if child is None or child.generation != message.generation or child.state is not ChildState.RESTARTING:
            return  # terminated, or restarted another way, meanwhile
        waiting = (ChildState.UNDEFINED, ChildState.RESTARTING)
        group = [m for m in self.children if m.spec.id in message.group and m.state in waiting]
        self.ops.run(lambda: self._start_group(group))

    def _auto_shutdown(self, child: ChildRecord) -> Operation:
        mode = self.spec.auto_shutdown
        if mode is AutoShutdown.NEVER or not child.spec.significant:
            return
        if mode is AutoShutdown.ALL_SIGNIFICANT and any(
            other.spec.significant and other.state is not ChildState.UNDEFINED for other in self.children
        ):
            return
        logs.emit(logging.INFO, "auto_shutdown", self.path, significant=child.spec.id)
        yield from self._shut_down(Shutdown("auto_shutdown"))

    # Starting and stopping one child.

    def _start(self, child: ChildRecord) -> Operation:
        """Start an instance; the outcome is True or the ExitReason it failed with."""
        child.generation += 1
        child.state, child.leaving = ChildState.STARTING, False
        child.token = secrets.randbits(62) + 1  # unguessable: only the instance can report as itself
        node = (yield from self._place(child)) if child.spec.requires else None
        if isinstance(node, ExitReason):
            child.token = 0  # no instance was made: nothing to wait for
            return self._start_failed(child, node)
        self.by_token[child.token] = child
        child.node, child.missed, child.awaiting = node, 0, False
        if node is None:  # inline: a tcp child is forked in this call and lives at this stack depth (see _thespian)
            spec, services = child.spec, self.ctx.services
            child.address = self.ctx.spawn(self._path(child), spec.start, child.checkpoint, services, child.token, spec.name)
        else:
            child.address = self._spawn_remote(child, node)
        outcome = yield Wait("start", child.token)
        if outcome is not True:
            return self._start_failed(child, outcome)
        if child.node is not None:
            self._remote_started(child)
        return outcome

    def _start_failed(self, child: ChildRecord, reason: ExitReason) -> ExitReason:
        child.state = ChildState.UNDEFINED
        child.record_exit(reason)
        logs.emit(logging.ERROR, "start_error", self._path(child), reason=reason.summary())
        return reason

    def _terminate(self, child: ChildRecord) -> Operation:
        """OTP's do_terminate: stop the instance (if any) by its shutdown policy."""
        if child.token:
            if child.state in (ChildState.RUNNING, ChildState.STARTING):
                child.state = ChildState.STOPPING
                self._ask_to_stop(child)
            elif child.state is ChildState.EXITING and self.ctx.isolated:
                # It said it is ending; if it does not, it is killed like a slow stopper.
                self.send_after(STOP_GRACE, _StopTimeout(child.token))
            reason = yield Wait("exit", child.token)
            if not self._expected_stop(child, reason):
                logs.emit(logging.ERROR, "shutdown_error", self._path(child), reason=reason.summary())
            child.record_exit(reason)
        self._let_go(child)

    def _ask_to_stop(self, child: ChildRecord) -> None:
        policy = child.spec.shutdown
        if policy == BRUTAL_KILL:
            self.ctx.kill(child.address, child.pid)
            return
        self.send(child.address, Stop())
        # Only a separate process can hang while stopping; in one process a hung
        # actor hangs everything anyway, and every pending Thespian wakeup costs
        # the simple base a little on every message.
        if policy != INFINITY and self.ctx.isolated:
            self.send_after(float(policy), _StopTimeout(child.token))  # type: ignore[arg-type]

    @handler
    def _stop_timed_out(self, message: _StopTimeout) -> None:
        child = self.by_token.get(message.token)
        if self.sender == self.address and child is not None and child.state in (ChildState.STOPPING, ChildState.EXITING):
            logs.emit(logging.WARNING, "shutdown_timeout", self._path(child), seconds=child.spec.shutdown)
            self.ctx.kill(child.address, child.pid)

    @staticmethod
    def _expected_stop(child: ChildRecord, reason: ExitReason) -> bool:
        if child.spec.shutdown == BRUTAL_KILL and isinstance(reason, Killed):
            return True
        if isinstance(reason, Shutdown):
            return True
        return isinstance(reason, Normal) and child.spec.restart is not Restart.PERMANENT

    def _let_go(self, child: ChildRecord) -> None:
        """OTP's del_child: a temporary child is forgotten, any other keeps its spec.

        A dynamic supervisor forgets every child that is not restarted, as
        ``simple_one_for_one`` and Elixir's ``DynamicSupervisor`` do.
        """
        child.generation += 1
        if child.spec.restart is Restart.TEMPORARY or self.spec.dynamic:
            if child in self.children:
                self.children.remove(child)
        else:
            child.state = ChildState.UNDEFINED

    # Shutting this supervisor down.

    @handler
    def _stop_requested(self, message: Stop) -> None:  # type: ignore[override]
        if self.sender != self.ctx.parent:
            self.ctx.count("rejected")
            return
        self._stopping = True
        self._stop_placing()
        self.ops.run(lambda: self._shut_down(Shutdown()))

    def _shut_down(self, reason: ExitReason) -> Operation:
        for child in self.children:
            child.leaving = True
        for child in reversed(list(self.children)):
            yield from self._terminate(child)
        self._exit(reason)

    def _exit(self, reason: ExitReason) -> None:
        self.ops.close()
        self.publish_event("supervisor.exited", self.path, reason)
        self.ctx.exit(reason)

    @handler
    def _undeliverable(self, message: Undeliverable) -> None:
        self.ctx.count("failures_received")

    # Small helpers.

    def _path(self, child: ChildRecord) -> str:
        return f"{self.path}/{child.spec.id}" if self.path else child.spec.id

    def _find(self, id: Any) -> ChildRecord | None:
        return next((child for child in self.children if child.spec.id == id), None)
