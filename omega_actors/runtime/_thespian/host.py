"""The Host: the one Thespian actor class, which runs one omega actor instance.

The host receives an :class:`~omega_actors.runtime.messages.Init` as its
first message, builds the omega :class:`~omega_actors.runtime.actor.Actor`
named there, and from then on hands each message to the handler registered
for its type. The host is the context of the runtime's own actors (a
``SystemContext``); an application actor gets a narrower view of it
(``ActorContext``, see :mod:`.._context`), whose methods are the host's own,
so ``self.send`` in a handler is still one attribute lookup from Thespian's.

Let it crash. Thespian retries a message whose handler raised and then
returns it as a ``PoisonMessage``, leaving the broken instance alive. The
host never lets an exception reach Thespian: it reports ``Exiting(Crash(...))``
to its supervisor, tells the sender ``ActorFailed``, and sends itself an
``ActorExitRequest``. Messages that still arrive before that request are not
handled by the dead instance: named ones go back to the registry to wait for
the next instance, others are answered ``Undeliverable``.

A host's life is one :class:`Phase`, which only moves forward. Init can be
overtaken by other senders' messages (shared/THESPIAN.md), so until it
arrives the host buffers everything, up to a bound.
"""

from __future__ import annotations

import enum
import gc
import logging
import os
import pickle
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from thespian.actors import (
    ActorExitRequest,
    ActorSystemConventionUpdate,
    ActorSystemMessage,
    ChildActorExited,
    DeadEnvelope,
    PoisonMessage,
    ThespianWatch,
    WakeupMessage,
    WatchMessage,
)
from thespian.system.messages.admin import QueryAck

from .. import logs
from .._context import context_for
from ..actor import Actor
from ..child_spec import Start
from ..exits import Crash, CrashReport, ExitReason
from ..messages import (
    FAILURES,
    ActorFailed,
    Address,
    AdminAnswered,
    Bounced,
    DeadLetter,
    DeliveryFailed,
    Exiting,
    ExitNoted,
    Heartbeat,
    Init,
    Released,
    Releasing,
    Routed,
    Services,
    Started,
    StartFailed,
    Undeliverable,
)
from ..processes import die_with_parent
from .children import ProcessGone, Sweep
from .context import HostContext, Timer
from .remote import LeaseCheck, RemoteLink

MAX_EARLY_MESSAGES = 1000
FAREWELL_TIMEOUT = timedelta(seconds=2)


class Phase(enum.Enum):
    """Where a host is in its instance's life; it only moves forward (down this list)."""

    AWAITING_INIT = "awaiting_init"  # no instance yet: mail waits, bounded, for Init
    STARTING = "starting"  # Init taken; Started not reported yet (a supervisor reports once its children are up)
    RUNNING = "running"  # Started reported to the supervisor
    ENDING = "ending"  # the exit is reported; awaiting ExitNoted and Released, while mail bounces
    ENDED = "ended"  # an ActorExitRequest is on its way: sent to itself, or received (a kill)


LIVE = (Phase.STARTING, Phase.RUNNING)  # the instance takes messages
OVER = (Phase.ENDING, Phase.ENDED)  # the instance is gone: mail bounces


class _FarewellTimeout:
    """The supervisor or the registry did not answer in time: end anyway."""


class Host(HostContext, RemoteLink):
    """Runs one omega actor instance, and is the context of the runtime's own actors."""

    def __init__(self) -> None:
        super().__init__()
        self._phase = Phase.AWAITING_INIT
        self._actor: Actor | None = None
        self._ctx: Any = self  # where the actor reads each message's sender: this host, or its ActorContext
        self._table: dict[type, Callable[[Any], Any]] = {}
        self._early: list[tuple[Any, Any]] = []
        self._exit_reason: ExitReason | None = None
        self._token = 0
        self._name: str | None = None
        self._farewells: set[str] = set()  # acknowledgements still awaited before ending
        self._top = False  # started by a runtime from outside: nobody acknowledges its farewell
        self.counters: dict[str, int] = {}
        self.path = "?"
        self.parent: Address | None = None
        self.services = Services()
        self.sender: Address | None = None
        self.pid = os.getpid()
        self.isolated = False

    # The hot path: a known message type goes straight to its handler.

    def receiveMessage(self, message: Any, sender: Any) -> ThespianWatch | None:
        # What this returns is what Thespian waits on besides the mailbox: the
        # children's pidfds, so that a child's death wakes its supervisor.
        method = self._table.get(message.__class__)
        if method is None:
            self._slow_path(message, sender)
            return self._watching
        self._ctx.sender = sender
        try:
            result = method(message)
        except BaseException as exc:  # let it crash: any exception ends this instance
            self._crashed(exc, message, sender, "message")
            return self._watching
        if result is not None:
            self.send(sender, result)
        if self._exit_reason is not None:
            self._finish()
        return self._watching

    def _slow_path(self, message: Any, sender: Any) -> None:
        phase = self._phase
        if isinstance(message, Heartbeat):
            self._heartbeat(message, sender)
        elif isinstance(message, ActorSystemMessage):
            self._system_message(message, sender)
        elif isinstance(message, ProcessGone):
            self._process_gone(message, sender)
        elif phase is Phase.AWAITING_INIT:
            self._before_init(message, sender)
        elif phase in OVER and isinstance(message, (Released, ExitNoted)):
            self._farewell_received("registry" if isinstance(message, Released) else "supervisor")
        elif phase in OVER:
            self._bounce(message, sender)
        elif isinstance(message, Routed):
            self._routed(message, sender)
        else:
            self._dispatch(message, sender)

    def _routed(self, routed: Routed, sender: Any) -> None:
        """A message sent to our name. Only the registry forwards those, and it
        sets ``reply_to`` to the true sender, so a reply_to cannot be forged."""
        if self.services.registry is None or sender != self.services.registry:
            self._refuse(routed, sender, "named messages are accepted from the registry only")
            return
        self._dispatch(routed.message, routed.reply_to)

    def _dispatch(self, message: Any, sender: Any) -> None:
        """Deliver a message whose class is not in the table yet (subclass, union, unhandled)."""
        assert self._actor is not None
        method = self._resolve(message.__class__)
        self._ctx.sender = sender
        try:
            result = method(message) if method is not None else _unhandled(self._actor, message)
        except BaseException as exc:
            self._crashed(exc, message, sender, "message")
            return
        if result is not None and sender is not None:
            self.send(sender, result)
        if self._exit_reason is not None:
            self._finish()

    def _resolve(self, kind: type) -> Callable[[Any], Any] | None:
        assert self._actor is not None
        names = type(self._actor).handler_table()
        for base in kind.__mro__:
            name = names.get(base)
            if name is not None:
                method: Callable[[Any], Any] = getattr(self._actor, name)
                self._table[kind] = method
                return method
        return None

    def _deliver(self, message: Any, sender: Any) -> None:
        """Hand the actor a message the runtime made (a timer, a translated Thespian notice)."""
        if self._phase in LIVE:
            self.receiveMessage(message, sender)

    # Thespian's own messages, translated.

    def _system_message(self, message: Any, sender: Any) -> None:
        for kind, translate in _TRANSLATIONS:
            if isinstance(message, kind):
                translate(self, message, sender)
                return
        self.count("ignored_system_messages")

    def _exit_requested(self, message: ActorExitRequest, sender: Any) -> None:
        # Not our Stop protocol: a kill (brutal_kill on the simple base, or
        # Thespian tearing the system down). No hooks run, as with kill -9.
        self._phase = Phase.ENDED
        self._table = {}
        if self.isolated:
            message.notRecursive()  # see _exit_now; Thespian reads the flag after we return

    def _woken(self, message: WakeupMessage, sender: Any) -> None:
        timer = message.payload
        if isinstance(timer, _FarewellTimeout) and self._phase in OVER:
            self._exit_now()
        elif self._phase in OVER:
            return  # the instance's own timers die with it
        elif isinstance(timer, Sweep):
            self._sweep_children(timer)
        elif isinstance(timer, LeaseCheck):
            self._check_lease()
        elif isinstance(timer, Timer) and timer.id in self._timers:
            self._timers.discard(timer.id)
            self._deliver(timer.message, self.myAddress)

    # Birth.

    def _before_init(self, message: Any, sender: Any) -> None:
        if isinstance(message, Init):
            self._init(message, sender)
        elif len(self._early) < MAX_EARLY_MESSAGES:
            self._early.append((message, sender))
        else:
            self._refuse(message, sender, "the actor is starting and its early-message buffer is full")

    def _init(self, init: Init, sender: Any) -> None:
        self._phase = Phase.STARTING
        self.parent, self.path, self.services, self.isolated = sender, init.path, init.services, init.isolate
        self._token, self._name = init.token, init.name
        self._top = init.parent_pid is None
        self._isolate(init)
        # The hooks are called from here, not from a helper: a supervisor forks its first
        # children inside started(), and each lives at that stack depth (see "Stack depth").
        try:
            actor = self._build(init.start)
            if init.checkpoint is not None:
                actor.restore(pickle.loads(init.checkpoint))
            actor.started()
        except BaseException as exc:
            self._crashed(exc, None, None, "start")
        else:
            if not type(actor).reports_started_itself:
                self.report_started()
            if self._exit_reason is not None:
                self._finish()
        # Messages that came before Init: handled now, or bounced if this instance already ended.
        early, self._early = self._early, []
        for message, early_sender in early:
            self.receiveMessage(message, early_sender)

    def _isolate(self, init: Init) -> None:
        if init.lease is not None:
            # On another node: our parent process is that node's admin, not the supervisor's.
            die_with_parent(None)
            self._start_lease(init.lease)
        elif init.isolate:
            die_with_parent(init.parent_pid)
            # Everything inherited from the parent by fork is never garbage here:
            # keep the cyclic GC from walking (and copying on write) all of it.
            gc.freeze()

    def _build(self, start: Start) -> Actor:
        """Create the actor with its context already set, so that ``__init__`` may use it."""
        cls = start.actor_class()
        actor: Actor = cls.__new__(cls)  # type: ignore[assignment]
        actor.ctx = self._ctx = context_for(cls, self)
        actor.__init__(*start.args, **start.kwargs)  # type: ignore[misc]
        self._actor, self._table = actor, _bound_table(actor)
        return actor

    def report_started(self) -> None:
        """Tell the supervisor this instance has started: after ``started()``, or when a supervisor says so."""
        if self._phase is Phase.STARTING and self.parent is not None:
            self._phase = Phase.RUNNING
            self.send(self.parent, Started(self.pid, self._token))

    # Death.

    def _crashed(self, exc: BaseException, message: Any, sender: Any, phase: str) -> None:
        report = CrashReport.from_exception(self.path, exc, message, phase, self.pid)
        logs.emit(logging.ERROR, "actor_crashed", self.path, reason=report.summary(), traceback=report.traceback)
        if sender is not None and sender not in (self.parent, self.myAddress) and not isinstance(message, FAILURES):
            self.send(sender, ActorFailed(self.path, report.message_type or "?", report.summary()))
        self._exit_reason = Crash(report)
        self._finish(stopping_hook=phase != "start")  # an instance that never started is not stopped

    def _finish(self, stopping_hook: bool = True) -> None:
        reason = self._exit_reason
        assert reason is not None
        reported = self._phase is Phase.RUNNING
        if stopping_hook:
            self._call_stopping(reason)
        self._phase = Phase.ENDING
        self._table = {}
        self._say_farewell(reason, reported)

    def _call_stopping(self, reason: ExitReason) -> None:
        if self._phase not in LIVE:
            return
        try:
            self._actor.stopping(reason)  # type: ignore[union-attr]
        except BaseException as exc:  # the instance is ending anyway; keep the first reason
            logs.emit(logging.WARNING, "stopping_hook_failed", self.path, error=repr(exc))

    def _end_unheard(self, reason: ExitReason) -> None:
        """End without reporting: the supervisor has lost us and will replace us (see .remote)."""
        self._call_stopping(reason)
        self._phase = Phase.ENDING
        self._table = {}
        self._exit_now()

    @property
    def _ended(self) -> bool:
        return self._phase in OVER

    def _say_farewell(self, reason: ExitReason, reported: bool) -> None:
        """Report the exit, then end only once the reports have been acknowledged.

        The supervisor must have the reason before the process is gone (it
        cannot tell a crash from a kill otherwise, and Thespian may drop an
        ending process's last messages), and the registry must have stopped
        routing to this instance, so that nothing it routed is left in flight
        to a dead process. Either may be unreachable: a timer ends the wait.
        """
        if self.parent is not None:
            self.send(self.parent, Exiting(reason, self._token) if reported else StartFailed(reason, self._token))
            if not self._top:
                self._farewells.add("supervisor")
        if self._name and self.services.registry is not None and reported:
            self.send(self.services.registry, Releasing(self._name))
            self._farewells.add("registry")
        if self._farewells and self.isolated:
            self.wakeupAfter(FAREWELL_TIMEOUT, _FarewellTimeout())
        else:
            # In one process Thespian delivers in order: the report arrives before our
            # exit notice, and what the registry routes here later comes back to it as a
            # dead letter. Waiting could only hang, on a registry that has died.
            self._farewells.clear()
            self._exit_now()

    def _farewell_received(self, which: str) -> None:
        if which in self._farewells:
            self._farewells.discard(which)
            if not self._farewells:
                self._exit_now()

    def _exit_now(self) -> None:
        """End this process's actor.

        Not recursively on isolated bases: a supervisor has already stopped its
        children in order, and Thespian would otherwise wait for every child it
        still believes alive, which for a killed child it missed can take
        minutes of transmit retries. Stragglers die with us (PR_SET_PDEATHSIG).
        """
        if self._phase is not Phase.ENDED:
            self._phase = Phase.ENDED
            self.send(self.myAddress, ActorExitRequest(recursive=not self.isolated))

    def _bounce(self, message: Any, sender: Any) -> None:
        """Mail for an instance that has ended: never silently lost."""
        if isinstance(message, Routed) and self.services.registry is not None:
            self.send(self.services.registry, Bounced(message))
        elif isinstance(message, Routed) and message.reply_to is not None:
            self._refuse(message.message, message.reply_to, f"actor {self.path!r} has ended")
        elif sender is not None and sender != self.myAddress and sender != self.parent:
            self._refuse(message, sender, f"actor {self.path!r} has ended")

    def _refuse(self, message: Any, sender: Any, reason: str) -> None:
        self.count("undeliverable")
        if sender is not None and not isinstance(message, FAILURES):
            kind = type(message)
            self.send(sender, Undeliverable(self.path, f"{kind.__module__}.{kind.__qualname__}", reason))


def _unhandled(actor: Actor, message: Any) -> Any:
    """No handler: the actor's ``unhandled`` hook answers (it returns nothing to send)."""
    actor.unhandled(message)
    return None


def _bound_table(actor: Actor) -> dict[type, Callable[[Any], Any]]:
    return {kind: getattr(actor, name) for kind, name in type(actor).handler_table().items()}


def _deliver_as(make: Callable[[Any, Any], Any]) -> Callable[[Host, Any, Any], None]:
    """A translation that hands the actor an omega message made from Thespian's."""
    return lambda host, message, sender: host._deliver(make(message, sender), host.myAddress)


# Thespian's notices, in the order the host tests them, and what each becomes.
_TRANSLATIONS: tuple[tuple[type, Callable[[Host, Any, Any], None]], ...] = (
    (ActorExitRequest, Host._exit_requested),
    (WakeupMessage, Host._woken),
    (WatchMessage, lambda host, message, sender: host._report_ended_children()),
    (ChildActorExited, lambda host, message, sender: host._thespian_says_exited(message.childAddress)),
    (PoisonMessage, _deliver_as(lambda message, sender: DeliveryFailed(message.poisonMessage, str(message.details)))),
    (DeadEnvelope, _deliver_as(lambda message, sender: DeadLetter(message.deadAddress, message.deadMessage))),
    (QueryAck, _deliver_as(lambda message, sender: AdminAnswered(sender))),
    (ActorSystemConventionUpdate, Host._convention_update),  # see .remote
)
