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
stops or starts children. This one is an actor, so each multi-step job
(restart a group, shut down, start a child for a request) runs as an
*operation*: a generator that yields what it waits for (a child's start or
exit) and is resumed by the event that answers it. While an operation runs,
other decisions and requests wait in order behind it, exactly as messages
wait in an OTP supervisor's mailbox. Queries (``which_children``, the tree)
are answered at once. A child's exit that arrives while it is being stopped
by an operation is that operation's business and is not handled twice
(OTP's ``unlink_flush``).

A new instance is started only after the old one's process has ended, so at
most one instance of a child id exists at any time.

Beyond OTP: restart backoff (:mod:`.backoff`), and checkpoints: a child may
``checkpoint(state)``; the supervisor keeps the last one for as long as it
keeps the child's spec, and hands it to every later instance. It is lost when
the supervisor itself restarts, on purpose: a supervisor restarts when its
children crash in a loop, and the state may be what makes them crash.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, replace
from typing import Any

from . import logs
from .actor import Actor, handler
from .child_spec import BRUTAL_KILL, INFINITY, ChildSpec, ChildType, Restart
from .exits import ExitReason, Killed, Normal, Shutdown
from .introspection import (
    EXITED,
    EXITING,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPING,
    UNDEFINED,
    ChildCounts,
    ChildInfo,
    Children,
    TreeNode,
)
from .intensity import RestartWindow
from .messages import (
    ActorDown,
    Address,
    ChildExited,
    ChildStarted,
    CountChildren,
    DeleteChild,
    DeliveryFailed,
    Done,
    Exiting,
    GetTree,
    Init,
    Publish,
    Refused,
    RestartChild,
    SaveCheckpoint,
    Services,
    Started,
    StartChild,
    StartFailed,
    Stop,
    TerminateChild,
    Undeliverable,
    WhichChildren,
)
from .registry import Register, Unavailable
from .supervisor_spec import AutoShutdown, Strategy, SupervisorSpec

TREE_TIMEOUT = 5.0


class _Child:
    """What a supervisor knows of one child spec and its current instance."""

    __slots__ = (
        "spec", "state", "address", "pid", "reason", "checkpoint",
        "starts", "last_exit", "started_at", "streak", "generation", "leaving", "token",
    )  # fmt: skip

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = UNDEFINED
        self.address: Address | None = None
        self.pid: int | None = None
        self.reason: ExitReason | None = None  # said by the instance before its process ended
        self.checkpoint: bytes | None = None
        self.starts = 0
        self.last_exit: ExitReason | None = None
        self.started_at: float | None = None
        self.streak = 0
        self.generation = 0  # bumped whenever the instance is replaced or let go
        self.leaving = False  # being stopped for good (terminate_child, shutdown), not for a restart
        self.token = 0  # the current instance's token (see Init); 0 when there is none

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)


@dataclass(frozen=True, slots=True, eq=False)
class _Wait:
    kind: str  # "start" or "exit"
    child: _Child
    token: int


@dataclass(frozen=True, slots=True)
class _StopTimeout:
    token: int


@dataclass(frozen=True, slots=True)
class _RestartDue:
    id: str
    generation: int
    group: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _TreeTimeout:
    round: int


Operation = Generator[_Wait, Any, None]


class Supervisor(Actor):
    """An OTP supervisor. Build one with ``Supervisor.child_spec(id, SupervisorSpec(...))``."""

    child_type = ChildType.SUPERVISOR
    reports_started_itself = True

    def __init__(self, spec: SupervisorSpec) -> None:
        self.spec = spec
        self.children: list[_Child] = [_Child(child) for child in spec.children]
        self.by_token: dict[int, _Child] = {}  # children with a live instance
        self._last_token = 0
        self.window = RestartWindow(spec.intensity, spec.period)
        self._op: Operation | None = None
        self._waiting: _Wait | None = None
        self._queue: deque[Callable[[], Operation]] = deque()
        self._draining = False
        self._up = False  # all initial children started and Started reported
        self._ended = False
        self._random = random.Random()
        self._tree_round = 0
        self._tree_waiting: dict[int, TreeNode | None] = {}
        self._tree_askers: list[Address] = []

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

    # Operations: one at a time, the rest wait in order.

    def _enqueue(self, task: Callable[[], Operation]) -> None:
        self._queue.append(task)
        self._drain()

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self._op is None and self._queue and not self._ended:
                self._op = self._queue.popleft()()
                self._advance(None)
        finally:
            self._draining = False

    def _advance(self, value: Any) -> None:
        assert self._op is not None
        try:
            self._waiting = self._op.send(value)
        except StopIteration:
            self._op = self._waiting = None
            self._drain()

    def _resume(self, kind: str, token: int, value: Any) -> bool:
        waiting = self._waiting
        if waiting is not None and waiting.token == token and (kind == "exit" or waiting.kind == kind):
            self._advance(value)
            return True
        return False

    # Start-up.

    def started(self) -> None:
        self._enqueue(self._start_children)

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

    # Events from children.

    @handler
    def _child_started(self, message: Started) -> None:
        child = self._from_child(message.token)
        if child is None:
            return
        # The sender is the real endpoint; what spawn returned may be a placeholder.
        child.pid, child.address = message.pid, self.sender
        self.ctx.watch(child.address, child.pid)
        if child.state != STARTING:
            return  # asked to stop before it finished starting
        child.state = RUNNING
        child.started_at = self.spec.clock.now()
        child.starts += 1
        self._announce_up(child)
        self._resume("start", child.token, True)

    @handler
    def _child_start_failed(self, message: StartFailed) -> None:
        self._child_said(message.reason, message.token)

    @handler
    def _child_exiting(self, message: Exiting) -> None:
        self._child_said(message.reason, message.token)

    def _child_said(self, reason: ExitReason, token: int) -> None:
        child = self._from_child(token)
        if child is not None and isinstance(reason, ExitReason):
            child.reason = reason
            if child.state != STOPPING:
                child.state = EXITING

    @handler
    def _child_exited(self, message: ChildExited) -> None:
        if self.sender != self.address:
            return self.ctx.count("forged_exits")
        child = next((c for c in self.by_token.values() if c.address == message.address), None)
        if child is None:
            return  # a second notice for the same exit, or a stale instance
        token = child.token
        del self.by_token[token]
        address, reason = child.address, child.reason or Killed()
        child.address = child.pid = child.reason = None
        child.token = 0
        handled_by_operation = self._waiting is not None and self._waiting.token == token
        self._announce_down(child, address, reason, handled_by_operation)
        if self._resume("exit", token, reason):
            return
        child.state = EXITED
        generation = child.generation
        self._enqueue(lambda: self._handle_exit(child, generation, reason))

    @handler
    def _child_checkpoint(self, message: SaveCheckpoint) -> None:
        child = self._from_child(message.token)
        if child is not None and isinstance(message.blob, bytes):
            child.checkpoint = message.blob

    @handler
    def _init_undeliverable(self, message: DeliveryFailed) -> None:
        # An Init that could not be sent: the child never starts, so end it.
        if isinstance(message.message, Init):
            child = self.by_token.get(message.message.token)
            if child is not None:
                self.ctx.kill(child.address, None)
        else:
            super()._delivery_failed(message)

    def _from_child(self, token: Any) -> _Child | None:
        child = self.by_token.get(token) if isinstance(token, int) else None
        if child is None:
            self.ctx.count("stale_child_messages")
        return child

    # OTP's do_restart: what an exit leads to.

    def _handle_exit(self, child: _Child, generation: int, reason: ExitReason) -> Operation:
        if child.generation != generation or child.state != EXITED or child not in self.children:
            return  # an operation dealt with this instance already
        child.last_exit = reason
        level = logging.ERROR if reason.abnormal else logging.INFO
        logs.emit(level, "child_exited", self._path(child), reason=reason.summary())
        if self._restarts(child, reason):
            yield from self._restart(child)
        else:
            self._let_go(child)
            yield from self._auto_shutdown(child)

    @staticmethod
    def _restarts(child: _Child, reason: ExitReason) -> bool:
        if child.spec.restart is Restart.PERMANENT:
            return True
        return child.spec.restart is Restart.TRANSIENT and reason.abnormal

    def _restart(self, child: _Child) -> Operation:
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

    def _group(self, child: _Child) -> list[_Child]:
        if self.spec.strategy is Strategy.ONE_FOR_ALL:
            return list(self.children)
        if self.spec.strategy is Strategy.REST_FOR_ONE:
            return self.children[self.children.index(child) :]
        return [child]

    def _start_group(self, group: Iterable[_Child]) -> Operation:
        for member in group:
            outcome = yield from self._start(member)
            if outcome is not True:
                member.state = RESTARTING
                member.generation += 1
                generation = member.generation
                self._queue.append(lambda: self._try_again(member, generation))
                return

    def _try_again(self, child: _Child, generation: int) -> Operation:
        if child.generation == generation and child.state == RESTARTING and child in self.children:
            yield from self._restart(child)

    def _backoff_delay(self, child: _Child) -> float:
        backoff = self.spec.backoff
        if backoff is None:
            return 0.0
        ran_for = self.spec.clock.now() - child.started_at if child.started_at is not None else 0.0
        child.streak = backoff.next_attempt(child.streak, ran_for)
        return backoff.delay(child.streak, self._random.random())

    def _schedule_restart(self, child: _Child, group: list[_Child], delay: float) -> None:
        for member in group:
            member.state = RESTARTING
            member.generation += 1
        logs.emit(logging.INFO, "restart_delayed", self._path(child), seconds=round(delay, 4))
        self.send_after(delay, _RestartDue(child.spec.id, child.generation, tuple(m.spec.id for m in group)))

    @handler
    def _restart_due(self, message: _RestartDue) -> None:
        if self.sender != self.address:
            return
        child = self._find(message.id)
        if child is None or child.generation != message.generation or child.state != RESTARTING:
            return
        group = [member for member in self.children if member.spec.id in message.group and member.state == RESTARTING]
        self._enqueue(lambda: self._start_group(group))

    def _auto_shutdown(self, child: _Child) -> Operation:
        mode = self.spec.auto_shutdown
        if mode is AutoShutdown.NEVER or not child.spec.significant:
            return
        if mode is AutoShutdown.ALL_SIGNIFICANT and any(
            other.spec.significant and other.state != UNDEFINED for other in self.children
        ):
            return
        logs.emit(logging.INFO, "auto_shutdown", self.path, significant=child.spec.id)
        yield from self._shut_down(Shutdown("auto_shutdown"))

    # Starting and stopping one child.

    def _start(self, child: _Child) -> Generator[_Wait, Any, Any]:
        """Start an instance; the outcome is True or the ExitReason it failed with."""
        child.generation += 1
        child.state, child.leaving = STARTING, False
        self._last_token += 1
        child.token = self._last_token
        self.by_token[child.token] = child
        services = self._services_for(child)
        start, name = child.spec.start, child.spec.name
        child.address = self.ctx.spawn(self._path(child), start, child.checkpoint, services, child.token, name)
        outcome = yield _Wait("start", child, child.token)
        if outcome is not True:
            child.state, child.last_exit = UNDEFINED, outcome
            logs.emit(logging.ERROR, "start_error", self._path(child), reason=outcome.summary())
        return outcome

    def _terminate(self, child: _Child) -> Operation:
        """OTP's do_terminate: stop the instance (if any) by its shutdown policy."""
        if child.token:
            if child.state in (RUNNING, STARTING):
                child.state = STOPPING
                self._ask_to_stop(child)
            reason = yield _Wait("exit", child, child.token)
            if not self._expected_stop(child, reason):
                logs.emit(logging.ERROR, "shutdown_error", self._path(child), reason=reason.summary())
            child.last_exit = reason
        self._let_go(child)

    def _ask_to_stop(self, child: _Child) -> None:
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
        if self.sender == self.address and child is not None and child.state in (STOPPING, EXITING):
            logs.emit(logging.WARNING, "shutdown_timeout", self._path(child), seconds=child.spec.shutdown)
            self.ctx.kill(child.address, child.pid)

    @staticmethod
    def _expected_stop(child: _Child, reason: ExitReason) -> bool:
        if child.spec.shutdown == BRUTAL_KILL and isinstance(reason, Killed):
            return True
        if isinstance(reason, Shutdown):
            return True
        return isinstance(reason, Normal) and child.spec.restart is not Restart.PERMANENT

    def _let_go(self, child: _Child) -> None:
        """OTP's del_child: a temporary child is forgotten, any other keeps its spec."""
        child.generation += 1
        if child.spec.restart is Restart.TEMPORARY:
            if child in self.children:
                self.children.remove(child)
        else:
            child.state = UNDEFINED

    # Shutting this supervisor down.

    @handler
    def _stop_requested(self, message: Stop) -> None:  # type: ignore[override]
        if self.sender != self.ctx.parent:
            self.ctx.count("rejected")
            return
        self._enqueue(lambda: self._shut_down(Shutdown()))

    def _shut_down(self, reason: ExitReason) -> Operation:
        for child in self.children:
            child.leaving = True
        for child in reversed(list(self.children)):
            yield from self._terminate(child)
        self._exit(reason)

    def _exit(self, reason: ExitReason) -> None:
        self._ended = True
        self._queue.clear()
        self.publish_event("supervisor.exited", self.path, reason)
        self.ctx.exit(reason)

    # Requests.

    @handler
    def _start_child(self, message: StartChild) -> None:
        requester = self.sender
        self._enqueue(lambda: self._start_child_op(message, requester))

    def _start_child_op(self, message: StartChild, requester: Address) -> Operation:
        try:
            spec = self.spec.check_child(_revalidated(message.spec))
        except Exception as exc:  # a malformed spec is refused, never a crash
            self.send(requester, Refused("start_child", str(exc)))
            return
        refusal = self._start_refusal(spec)
        if refusal:
            self.send(requester, Refused("start_child", refusal))
            return
        child = _Child(spec)
        self.children.append(child)
        outcome = yield from self._start(child)
        if outcome is True:
            self.send(requester, ChildStarted(spec.id, child.address))
        else:
            if child in self.children:
                self.children.remove(child)
            self.send(requester, Refused("start_child", f"failed to start: {outcome.summary()}"))

    def _start_refusal(self, spec: ChildSpec) -> str | None:
        existing = self._find(spec.id)
        if existing is not None:
            return "already_started" if existing.address is not None else "already_present"
        if self.spec.max_children is not None and len(self.children) >= self.spec.max_children:
            return f"max_children ({self.spec.max_children}) reached"
        return None

    @handler
    def _terminate_child(self, message: TerminateChild) -> None:
        requester = self.sender
        self._enqueue(lambda: self._terminate_child_op(message.id, requester))

    def _terminate_child_op(self, id: Any, requester: Address) -> Operation:
        child = self._find(id)
        if child is None:
            self.send(requester, Refused("terminate_child", "not_found"))
            return
        child.leaving = True
        yield from self._terminate(child)
        if self.spec.dynamic and child in self.children:
            self.children.remove(child)
        self.send(requester, Done())

    @handler
    def _restart_child(self, message: RestartChild) -> None:
        requester = self.sender
        self._enqueue(lambda: self._restart_child_op(message.id, requester))

    def _restart_child_op(self, id: Any, requester: Address) -> Operation:
        refusal, child = self._stopped_child("restart_child", id)
        if refusal:
            self.send(requester, refusal)
            return
        assert child is not None
        outcome = yield from self._start(child)
        reply = ChildStarted(child.spec.id, child.address) if outcome is True else Refused(
            "restart_child", f"failed to start: {outcome.summary()}"
        )
        self.send(requester, reply)

    @handler
    def _delete_child(self, message: DeleteChild) -> None:
        requester = self.sender
        self._enqueue(lambda: self._delete_child_op(message.id, requester))

    def _delete_child_op(self, id: Any, requester: Address) -> Operation:
        refusal, child = self._stopped_child("delete_child", id)
        if child is not None and refusal is None:
            self.children.remove(child)
        self.send(requester, refusal or Done())
        yield from ()

    def _stopped_child(self, request: str, id: Any) -> tuple[Refused | None, _Child | None]:
        if self.spec.dynamic:
            return Refused(request, "a dynamic supervisor has no stopped children to act on"), None
        child = self._find(id)
        if child is None:
            return Refused(request, "not_found"), None
        if child.state == RESTARTING:
            return Refused(request, "restarting"), None
        if child.state != UNDEFINED:
            return Refused(request, "running"), None
        return None, child

    # Queries, answered at once.

    @handler
    def _which_children(self, message: WhichChildren) -> Children:
        return Children(tuple(self._info(child) for child in self.children))

    @handler
    def _count_children(self, message: CountChildren) -> ChildCounts:
        supervisors = sum(child.spec.is_supervisor for child in self.children)
        active = sum(child.address is not None for child in self.children)
        return ChildCounts(len(self.children), active, supervisors, len(self.children) - supervisors)

    def _info(self, child: _Child) -> ChildInfo:
        spec = child.spec
        last = child.last_exit.summary() if child.last_exit else None
        kind = spec.type.value if spec.type else "worker"
        return ChildInfo(spec.id, child.state, child.address, kind, spec.restart.value, child.restarts, last, child.pid, spec.name)

    @handler
    def _tree_requested(self, message: GetTree) -> None:
        self._tree_askers.append(self.sender)
        if len(self._tree_askers) > 1:
            return  # a gather is under way; its answer serves every asker
        self._tree_round += 1
        running = [c for c in self.children if c.spec.is_supervisor and c.state == RUNNING]
        self._tree_waiting = {c.token: None for c in running}
        for child in running:
            self.send(child.address, GetTree())
        if running and self.ctx.isolated:  # see _ask_to_stop: only a process can hang
            self.send_after(TREE_TIMEOUT, _TreeTimeout(self._tree_round))
        self._maybe_answer_tree()

    @handler
    def _subtree(self, message: TreeNode) -> None:
        child = next((c for c in self.by_token.values() if c.address == self.sender), None)
        if child is not None and child.token in self._tree_waiting and self._tree_askers:
            self._tree_waiting[child.token] = message
            self._maybe_answer_tree()

    @handler
    def _tree_timed_out(self, message: _TreeTimeout) -> None:
        if self.sender == self.address and message.round == self._tree_round:
            self._maybe_answer_tree(force=True)

    def _maybe_answer_tree(self, force: bool = False) -> None:
        pending = [t for t, node in self._tree_waiting.items() if node is None and t in self.by_token]
        if pending and not force:
            return
        node = self.tree_node(self._tree_waiting)
        for asker in self._tree_askers:
            self.send(asker, node)
        self._tree_askers, self._tree_waiting = [], {}

    def tree_node(self, subtrees: dict[int, TreeNode | None]) -> TreeNode:
        """This supervisor as a tree node, with the subtrees its supervisor children sent."""
        nodes = []
        for child in self.children:
            sub = subtrees.get(child.token)
            info = self._info(child)
            nodes.append(
                TreeNode(
                    id=info.id, path=self._path(child), type=info.type, state=info.state, restarts=info.restarts,
                    last_exit=info.last_exit, pid=info.pid, address=info.address,
                    strategy=sub.strategy if sub else None, children=sub.children if sub else (),
                    counters=sub.counters if sub else (),
                )
            )  # fmt: skip
        counters = tuple(sorted(getattr(self.ctx, "counters", {}).items()))
        return TreeNode(
            id=self.path.rpartition("/")[2], path=self.path, type="supervisor", state=RUNNING,
            pid=self.ctx.pid, address=self.address, strategy=self.spec.strategy.value,
            children=tuple(nodes), counters=counters,
        )  # fmt: skip

    @handler
    def _undeliverable(self, message: Undeliverable) -> None:
        self.ctx.count("failures_received")

    # Telling the registry and the bus.

    def _services_for(self, child: _Child) -> Services:
        return self.ctx.services

    def _announce_up(self, child: _Child) -> None:
        registry = self.ctx.services.registry
        if child.spec.name and registry is not None:
            self.send(registry, Register(child.spec.name, child.address))
        logs.emit(logging.INFO, "child_started", self._path(child), pid=child.pid, restarts=child.restarts)
        self.publish_event("child.started", self._path(child), None)

    def _announce_down(self, child: _Child, address: Address, reason: ExitReason, by_operation: bool) -> None:
        services = self.ctx.services
        if child.spec.name and services.registry is not None:
            # An operation stops children to restart them unless they are leaving for good;
            # the registry holds their mail meanwhile, for a bounded time.
            final = child.leaving or child.spec.restart is Restart.TEMPORARY
            coming_back = not final and (by_operation or self._restarts(child, reason))
            self.send(services.registry, Unavailable(child.spec.name, address, coming_back, reason.summary()))
        if services.bus is not None:
            self.send(services.bus, ActorDown(address))
        self.publish_event("child.exited", self._path(child), reason)

    def publish_event(self, kind: str, path: str, reason: ExitReason | None) -> None:
        bus = self.ctx.services.bus
        if bus is not None:
            subject = ".".join(["omega", kind, *(path.split("/") if path else ["guardian"])])
            self.send(bus, Publish(subject, {"path": path, "reason": reason.summary() if reason else None}))

    # Small helpers.

    def _path(self, child: _Child) -> str:
        return f"{self.path}/{child.spec.id}" if self.path else child.spec.id

    def _find(self, id: Any) -> _Child | None:
        return next((child for child in self.children if child.spec.id == id), None)


def _revalidated(spec: Any) -> ChildSpec:
    """Run a spec's checks again: one that arrived pickled never ran its constructor."""
    if not isinstance(spec, ChildSpec):
        raise TypeError(f"expected a ChildSpec; got {type(spec).__name__}")
    return replace(spec, start=replace(spec.start))
