"""The Thespian adapter: the only module that imports ``thespian``.

Design
------
Every omega actor runs inside one Thespian actor class, :class:`Host`. The
host receives an :class:`~omega_actors.runtime.messages.Init` as its first
message, builds the omega :class:`~omega_actors.runtime.actor.Actor` named
there, and from then on hands each message to the handler registered for its
type. The host *is* the actor's :class:`~omega_actors.runtime.actor.Context`,
so a handler's ``self.send`` is one attribute lookup away from Thespian's.

Why one host class rather than one Thespian class per actor: actor code
never imports Thespian, runs unchanged on ``simpleSystemBase`` and
``multiprocTCPBase``, and every instance has the same lifecycle, which is
what lets a supervisor reason about it.

Let it crash. Thespian retries a message whose handler raised and then
returns it as a ``PoisonMessage``, leaving the broken instance alive. The host
never lets an exception reach Thespian: it reports ``Exiting(Crash(...))`` to
its supervisor, tells the sender ``ActorFailed``, and sends itself an
``ActorExitRequest``. Messages that still arrive before that request are not
handled by the dead instance: named ones go back to the registry to wait for
the next instance, others are answered ``Undeliverable``.

Sharp edges handled here (measured in shared/THESPIAN.md):

- Init can be overtaken by other senders' messages: the host buffers
  everything (up to a bound) until Init arrives.
- ``createActor`` returns a local placeholder address that cannot be pickled;
  Thespian parks any message carrying one until the child connects, forever
  if it never does, and an exiting process then drops its last messages. A
  supervisor shares a child's address only once the child has reported
  ``Started`` from its real one (``ChildRecord.shareable_address``).
- ``wakeupAfter`` cannot be cancelled: timers carry an id and cancelled ids
  are ignored. On the simple base every pending wakeup of the whole system
  is scanned on every message, so the runtime sets no timer there that only
  guards against a hung process (see ``Supervisor._ask_to_stop``).
- ``ChildActorExited`` may be missing, or arrive twice and name a new
  instance that reused the dead one's port (see :mod:`.processes`). On
  isolated bases a host watches every child's pid from the fork and reports
  an exit only once that process has ended: right away if it has, else after
  re-checks that start fast after a notice or a kill, and at least once a
  second (:meth:`Host._sweep_children`).
- The TCP transport binds ``''`` (every interface) and unpickles whatever
  arrives. :func:`_install_bind_patch` makes every endpoint (admin, actors,
  external clients) bind the configured host, 127.0.0.1 unless an operator
  says otherwise; with a cluster secret, :func:`_install_frame_auth` signs
  every frame and checks it before unpickling. Both are inherited by forked
  actor processes.
- Several nodes (see :mod:`.cluster`): a Host placed on another node answers
  its supervisor's heartbeats itself and ends when unheard for its lease;
  Thespian's convention updates and admin answers reach the cluster actor
  as omega messages.
- A SIGKILLed parent orphans its children: an isolated child sets
  ``PR_SET_PDEATHSIG(SIGKILL)`` so its subtree dies with it, as linked
  Erlang processes do.
- The admin daemonizes and outlives the script that started it: the system
  handle always shuts it down, and the guardian shuts it down if its owner
  process dies (see ``guardian.Guardian``).
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# Thespian queues every send of a process once 20 are in flight; a peer that has stopped
# reading (a partition, a paused node) holds its sends in flight for up to 5 minutes, so
# a few of them would mute a supervisor. Read by Thespian at import.
os.environ.setdefault("THESPIAN_MAX_PENDING_TRANSMITS", "256")

from thespian.actors import Actor as ThespianActor  # noqa: E402
from thespian.actors import (
    ActorAddress,
    ActorExitRequest,
    ActorSystem,
    ActorSystemConventionUpdate,
    ActorSystemMessage,
    ChildActorExited,
    DeadEnvelope,
    PoisonMessage,
    ThespianWatch,
    WakeupMessage,
    WatchMessage,
)
from thespian.actors import ExternalContext as _ExternalContext
from thespian.system.messages.admin import QueryAck, QueryExists
from thespian.system.transport import IPBase
from thespian.system.transport import TCPTransport as tcp_module
from thespian.system.transport.TCPTransport import TCPTransport

from ..errors import OmegaError, RuntimeStartError
from . import logs
from .actor import Actor
from .child_spec import Start
from .cluster_config import JOIN_CAPABILITY, NODE_CAPABILITY, satisfies, start_allowance
from .exits import Crash, CrashReport, ExitReason, Shutdown
from .frame_auth import FrameAuth
from .messages import (
    FAILURES,
    ActorFailed,
    Address,
    AdminAnswered,
    Bounced,
    ChildExited,
    DeadLetter,
    DeliveryFailed,
    Exiting,
    ExitNoted,
    Heartbeat,
    HeartbeatAck,
    Init,
    MemberChanged,
    Released,
    Releasing,
    Routed,
    SaveCheckpoint,
    Services,
    Started,
    StartFailed,
    Undeliverable,
)
from .processes import ProcessWatch, die_with_parent, kill_own_group

BASES = {"simple": "simpleSystemBase", "tcp": "multiprocTCPBase"}
MAX_EARLY_MESSAGES = 1000
MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024
FAREWELL_TIMEOUT = timedelta(seconds=2)

_bind_host = "127.0.0.1"
_installed_secret: bytes | None = None


def is_address(value: object) -> bool:
    """Whether ``value`` is an actor address: a ``reply_to`` that arrives in a message must be one."""
    return isinstance(value, ActorAddress)


def _install_bind_patch() -> None:
    """Make Thespian's IP endpoints bind ``_bind_host`` instead of every interface."""
    original = IPBase.IPActorAddress.__init__
    if getattr(original, "_omega_patched", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.bindname[0] == "" and _bind_host != "0.0.0.0":
            self.bindname = (_bind_host, self.bindname[1])

    init._omega_patched = True  # type: ignore[attr-defined]
    IPBase.IPActorAddress.__init__ = init


def _install_frame_auth(secret: bytes | None) -> None:
    """Sign every frame this process sends and verify every frame before unpickling it.

    Thespian's TCP transport reads its serializer from a module global each
    time it builds a send or receive buffer, so replacing that global covers
    messages, convention traffic and acks alike, in this process and in every
    actor process forked from it. A frame that fails the check raises inside
    Thespian's receive path, which answers with its data-error ack and closes
    the connection: the message is never unpickled, never delivered.
    """
    global _installed_secret
    if secret == _installed_secret:
        return
    if secret is None:  # this process now talks to a system without a secret (a test, an operator's CLI)
        tcp_module.serializer, tcp_module.ReceiveBuffer = _PLAIN
    else:
        tcp_module.serializer = FrameAuth(secret, on_reject=_rejected_frame)
        tcp_module.ReceiveBuffer = _GuardedReceiveBuffer
    _installed_secret = secret


MAX_FRAME_BYTES = 2 * MAX_CHECKPOINT_BYTES + (1 << 20)  # the largest checkpoint travels in an Init, with room
_PLAIN = (tcp_module.serializer, tcp_module.ReceiveBuffer)  # Thespian's own: pickle, unbounded


class _GuardedReceiveBuffer(tcp_module.ReceiveBuffer):  # type: ignore[misc,name-defined]
    """Thespian's receive buffer, for signed frames.

    - A frame whose announced size is absurd is refused before it is buffered:
      the signature is checked only once a frame is whole, and a stranger
      could otherwise stream gigabytes.
    - A whole frame is verified and unpickled once. Thespian asks a buffer for
      its frame twice when a message arrives on a socket that waits for an ack
      (``_check_XMIT_4_done`` then ``_addedDataToIncoming``); with plain pickle
      that is harmless, but the second check would refuse the frame as a replay.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._frame: Any = None

    def addMore(self, buf: bytes) -> None:
        super().addMore(buf)
        if self._size is not None and self._size > MAX_FRAME_BYTES:
            raise ValueError(f"a frame of {self._size} bytes announced; at most {MAX_FRAME_BYTES} are accepted")

    def completed(self) -> Any:
        if self._frame is None:
            self._frame = super().completed()
        return self._frame


def _rejected_frame(reason: str) -> None:
    # Every refusal is counted (FrameAuth.rejected); the log gets the first ten, then the
    # 16th, 32nd, ...: a stranger sending garbage must not be able to fill the disk.
    seen = frames_rejected()  # this refusal included
    if seen <= 10 or seen & (seen - 1) == 0:
        logs.emit(logging.WARNING, "frame_rejected", "", reason=reason, pid=os.getpid(), rejected=seen)


def frames_rejected() -> int:
    """How many frames this process has refused (a count per process, as Thespian's transport is)."""
    current = tcp_module.serializer
    return current.rejected if isinstance(current, FrameAuth) else 0


def _where(address: Any) -> str:
    """``host:port`` of a TCP actor address, for finding an admin again after a restart."""
    try:
        host, port = address.addressDetails.connectArgs[0][:2]
    except (AttributeError, IndexError, TypeError, ValueError):
        return str(address)
    return f"{host}:{port}"


def _install_close_patch() -> None:
    """Make TCPTransport.close() close the sockets it holds.

    Thespian 4.0.1 keeps idle outgoing connections for reuse and forgets them
    on close, and its static ``_safeSocketShutdown`` tests
    ``isinstance(socket.error, Exception)`` (a class, never an instance), so
    it never closes the listening socket either: every external context, one
    per ask, left both to the garbage collector.
    """
    original = TCPTransport.close
    if getattr(original, "_omega_patched", False):
        return

    def close(self: Any) -> None:
        idle = getattr(self, "_openSockets", None)
        if idle:
            self.close_oldest_idle_sockets(len(idle))
        listening = getattr(self, "socket", None)
        original(self)
        if listening is not None:
            listening.close()

    close._omega_patched = True  # type: ignore[attr-defined]
    TCPTransport.close = close


class _FarewellTimeout:
    """The supervisor or the registry did not answer in time: end anyway."""


class _Sweep:
    """Look for dead child processes; ``delay`` grows after a kill, fixed for the periodic sweep."""

    __slots__ = ("delay", "periodic")

    def __init__(self, delay: float, periodic: bool) -> None:
        self.delay = delay
        self.periodic = periodic


@dataclass(frozen=True, slots=True)
class _ProcessGone:
    """A watched child's process has ended (sent to self: see ``_report_ended_children``)."""

    address: Address
    pid: int


class _LeaseCheck:
    """Has the supervisor on another node been heard from lately?"""


SWEEP_SECONDS = 1.0
FIRST_CHECK = 0.001  # after a notice or a kill, look again at 1, 2, 4, ... ms


class _Timer:
    __slots__ = ("id", "message")

    def __init__(self, id: int, message: Any) -> None:
        self.id = id
        self.message = message


class Host(ThespianActor):  # type: ignore[misc]
    """Runs one omega actor instance; is also its Context."""

    def __init__(self) -> None:
        super().__init__()
        self._actor: Actor | None = None
        self._table: dict[type, Callable[[Any], Any]] = {}
        self._early: list[tuple[Any, Any]] = []
        self._exit_reason: ExitReason | None = None
        self._started_reported = False
        self._running = False
        self._dead = False
        self._children = ProcessWatch()
        self._watching: ThespianWatch | None = None  # the children's pidfds, for Thespian to wait on
        self._sweeping = False  # the periodic sweep is scheduled
        self._timers: set[int] = set()
        self._next_timer = 0
        self.counters: dict[str, int] = {}
        self.path = "?"
        self.parent: Address | None = None
        self.services = Services()
        self.sender: Address | None = None
        self._token = 0
        self._name: str | None = None
        self._farewells: set[str] = set()  # acknowledgements still awaited before ending
        self._top = False
        self._exit_sent = False
        self.pid = os.getpid()
        self.isolated = False
        self._lease: float | None = None  # a child on another node: how long it lives unheard
        self._heard = 0.0  # monotonic time of the supervisor's last heartbeat
        self._unheard_limit = 0.0  # the lease, or before the first heartbeat the start allowance
        self._joins = 0  # re-registrations asked of Thespian (cluster actor only)

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict[str, Any], requirements: dict[str, Any] | None) -> bool:
        """Thespian asks this of each system before creating a Host there: placement by requirements."""
        return satisfies(capabilities, requirements or {})

    # The hot path: a known message type goes straight to its handler.

    def receiveMessage(self, message: Any, sender: Any) -> ThespianWatch | None:
        # What this returns is what Thespian waits on besides the mailbox: the
        # children's pidfds, so that a child's death wakes its supervisor.
        method = self._table.get(message.__class__)
        if method is None:
            self._slow_path(message, sender)
            return self._watching
        self.sender = sender
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
        if isinstance(message, Heartbeat):
            self._heartbeat(message, sender)
        elif isinstance(message, ActorSystemMessage):
            self._system_message(message, sender)
        elif isinstance(message, _ProcessGone):
            current = self._children.find(message.address)
            # A new child may hold the dead one's port by now; then this is not its exit.
            if sender == self.myAddress and (current is None or current.pid == message.pid):
                self._deliver(ChildExited(message.address), self.myAddress)
        elif self._actor is None and not self._dead:
            self._before_init(message, sender)
        elif self._dead and isinstance(message, (Released, ExitNoted)):
            self._farewell_received("registry" if isinstance(message, Released) else "supervisor")
        elif self._dead:
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
        self.sender = sender
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

    # Thespian's own messages, translated.

    def _system_message(self, message: Any, sender: Any) -> None:
        if isinstance(message, ActorExitRequest):
            # Not our Stop protocol: a kill (brutal_kill on the simple base, or
            # Thespian tearing the system down). No hooks run, as with kill -9.
            self._dead = True
            self._table = {}
            if self.isolated:
                message.notRecursive()  # see _exit_now; Thespian reads the flag after we return
        elif isinstance(message, WakeupMessage):
            timer = message.payload
            if isinstance(timer, _FarewellTimeout) and self._dead:
                self._exit_now()
            elif isinstance(timer, _Sweep) and not self._dead:
                self._sweep_children(timer)
            elif isinstance(timer, _LeaseCheck) and not self._dead:
                self._check_lease()
            elif isinstance(timer, _Timer) and timer.id in self._timers and not self._dead:
                self._timers.discard(timer.id)
                self._deliver(timer.message, self.myAddress)
        elif isinstance(message, WatchMessage):
            self._report_ended_children()
        elif isinstance(message, ChildActorExited):
            self._thespian_says_exited(message.childAddress)
        elif isinstance(message, PoisonMessage):
            self._deliver(DeliveryFailed(message.poisonMessage, str(message.details)), self.myAddress)
        elif isinstance(message, DeadEnvelope):
            self._deliver(DeadLetter(message.deadAddress, message.deadMessage), self.myAddress)
        elif isinstance(message, QueryAck):
            self._deliver(AdminAnswered(sender), self.myAddress)
        elif isinstance(message, ActorSystemConventionUpdate):
            capabilities = message.remoteCapabilities if isinstance(message.remoteCapabilities, dict) else {}
            changed = MemberChanged(message.remoteAdminAddress, _where(message.remoteAdminAddress), dict(capabilities), bool(message.remoteAdded))
            self._deliver(changed, self.myAddress)
        else:
            self.count("ignored_system_messages")

    # Heartbeats from a supervisor on another node, answered by the runtime itself.

    def _heartbeat(self, beat: Heartbeat, sender: Any) -> None:
        if self._dead or sender != self.parent or beat.token != self._token:
            self.count("stale_heartbeats")
            return
        self._heard = time.monotonic()
        self._unheard_limit = self._lease or 0.0
        self.send(sender, HeartbeatAck(beat.token))

    def _check_lease(self) -> None:
        """Unheard for a whole lease: the supervisor is about to replace us. End, without a word.

        This is what keeps a node that returns from a partition from running a
        second instance of a child that was restarted elsewhere meanwhile.
        """
        assert self._lease is not None
        unheard = time.monotonic() - self._heard
        if unheard < self._unheard_limit:
            self.wakeupAfter(timedelta(seconds=self._lease / 4), _LeaseCheck())
            return
        logs.emit(logging.WARNING, "lease_expired", self.path, unheard_s=round(unheard, 3))
        if self._running:
            try:
                self._actor.stopping(Shutdown("lease_expired"))  # type: ignore[union-attr]
            except BaseException as exc:
                logs.emit(logging.WARNING, "stopping_hook_failed", self.path, error=repr(exc))
        self._dead = True
        self._table = {}
        self._exit_now()

    def _deliver(self, message: Any, sender: Any) -> None:
        if self._actor is not None and not self._dead:
            self.receiveMessage(message, sender)

    # Birth.

    def _before_init(self, message: Any, sender: Any) -> None:
        if isinstance(message, Init):
            self._init(message, sender)
        elif len(self._early) < MAX_EARLY_MESSAGES:
            self._early.append((message, sender))
        else:
            self._refuse(message, sender, "the actor is starting and its early-message buffer is full")

    def _init(self, init: Init, sender: Any) -> None:
        self.parent = sender
        self.path = init.path
        self.services = init.services
        self.isolated = init.isolate
        self._token = init.token
        self._name = init.name
        self._top = init.parent_pid is None  # started by a runtime from outside: nobody acknowledges
        if init.lease is not None:
            # On another node: our parent process is that node's admin, not the supervisor's.
            die_with_parent(None)
            self._lease, self._heard = init.lease, time.monotonic()
            self._unheard_limit = start_allowance(init.lease)  # heartbeats begin once we have started
            self.wakeupAfter(timedelta(seconds=init.lease / 4), _LeaseCheck())
        elif init.isolate:
            die_with_parent(init.parent_pid)
            # Everything inherited from the parent by fork is never garbage here:
            # keep the cyclic GC from walking (and copying on write) all of it.
            gc.freeze()
        try:
            self._actor = _build(init.start, self)
            self._table = _bound_table(self._actor)
            if init.checkpoint is not None:
                self._actor.restore(pickle.loads(init.checkpoint))
            self._actor.started()
        except BaseException as exc:
            self._crashed(exc, None, None, "start")
        else:
            self._running = True
            if not type(self._actor).reports_started_itself:
                self.report_started()
            if self._exit_reason is not None:
                self._finish()
        # Messages that came before Init: handled now, or bounced if this instance already ended.
        early, self._early = self._early, []
        for message, early_sender in early:
            self.receiveMessage(message, early_sender)

    # Death.

    def _crashed(self, exc: BaseException, message: Any, sender: Any, phase: str) -> None:
        report = CrashReport.from_exception(self.path, exc, message, phase, self.pid)
        logs.emit(logging.ERROR, "actor_crashed", self.path, reason=report.summary(), traceback=report.traceback)
        if sender is not None and sender not in (self.parent, self.myAddress) and not isinstance(message, FAILURES):
            self.send(sender, ActorFailed(self.path, report.message_type or "?", report.summary()))
        self._exit_reason = Crash(report)
        self._finish()

    def _finish(self) -> None:
        reason = self._exit_reason
        assert reason is not None
        if self._running and not self._dead:
            try:
                self._actor.stopping(reason)  # type: ignore[union-attr]
            except BaseException as exc:  # the instance is ending anyway; keep the first reason
                logs.emit(logging.WARNING, "stopping_hook_failed", self.path, error=repr(exc))
        self._dead = True
        self._table = {}
        self._say_farewell(reason)

    def _say_farewell(self, reason: ExitReason) -> None:
        """Report the exit, then end only once the reports have been acknowledged.

        The supervisor must have the reason before the process is gone (it
        cannot tell a crash from a kill otherwise, and Thespian may drop an
        ending process's last messages), and the registry must have stopped
        routing to this instance, so that nothing it routed is left in flight
        to a dead process. Either may be unreachable: a timer ends the wait.
        """
        if self.parent is not None:
            report = Exiting(reason, self._token) if self._started_reported else StartFailed(reason, self._token)
            self.send(self.parent, report)
            if not self._top:
                self._farewells.add("supervisor")
        if self._name and self.services.registry is not None and self._started_reported:
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
        if not self._exit_sent:
            self._exit_sent = True
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

    # Context: what the actor may ask of the runtime.

    @property
    def address(self) -> Address:
        return self.myAddress

    def send_after(self, seconds: float, message: Any) -> _Timer:
        if not seconds >= 0:
            raise ValueError(f"a timer needs a delay >= 0 seconds; got {seconds!r}")
        self._next_timer += 1
        timer = _Timer(self._next_timer, message)
        self._timers.add(timer.id)
        self.wakeupAfter(timedelta(seconds=seconds), timer)
        return timer

    def cancel_timer(self, timer: Any) -> None:
        self._timers.discard(getattr(timer, "id", None))

    def checkpoint(self, state: Any) -> None:
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        if len(blob) > MAX_CHECKPOINT_BYTES:
            raise OmegaError(
                f"actor {self.path!r}: a checkpoint holds {len(blob)} bytes; at most {MAX_CHECKPOINT_BYTES} are kept"
            )
        if self.parent is not None:
            self.send(self.parent, SaveCheckpoint(blob, self._token))

    def exit(self, reason: ExitReason) -> None:
        self._exit_reason = reason

    def report_started(self) -> None:
        if not self._started_reported and self.parent is not None:
            self._started_reported = True
            self.send(self.parent, Started(self.pid, self._token))

    def spawn(
        self,
        path: str,
        start: Start,
        checkpoint: bytes | None,
        services: Services,
        token: int,
        name: str | None,
        node: str | None = None,
        lease: float | None = None,
    ) -> Address:
        """Create a child here, or on ``node`` (which only that node's system satisfies)."""
        if node is None:
            child = self.createActor(Host)
            if self.isolated:
                self._watch(child)
        else:
            child = self.createActor(Host, targetActorRequirements={NODE_CAPABILITY: node})
        self.send(child, Init(path, start, checkpoint, services, self.isolated, self.pid, token, name, lease))
        return child

    # The cluster actor's view of other nodes.

    def watch_members(self) -> None:
        self.notifyOnSystemRegistrationChanges(True)

    def ping_admin(self, admin: Address) -> None:
        self.send(admin, QueryExists())

    def pre_register(self, host: str, port: int, capabilities: dict[str, Any]) -> None:
        self.preRegisterRemoteSystem(f"{host}:{port}", dict(capabilities))

    def rejoin(self) -> None:
        """Register with the convention leader again now: a changed capability makes Thespian do it."""
        self._joins += 1
        self.updateCapability(JOIN_CAPABILITY, f"{os.getpid()}.{self._joins}")

    def kill(self, address: Address, pid: int | None) -> None:
        watched = self._children.find(address) if self.isolated else None
        if watched is None:
            self.send(address, ActorExitRequest())
            return
        if watched.alive():  # Thespian reaps children on its own: never signal a reused pid
            os.kill(watched.pid, signal.SIGKILL)
        self._check_soon()

    def _watch(self, address: Address) -> None:
        """Watch a just-forked child by its pid, which Thespian knows from the fork."""
        procs = getattr(self._myRef, "_child_procs", ())
        info = next((p for p in procs if p.childAddr == address), None)
        if info is None or info.childProc.pid is None:
            return  # not a forked child (or not a base we know): take Thespian's notices as they come
        self._children.add(address, info.childProc.pid)
        self._watch_fds()
        if not self._sweeping:
            self._sweeping = True
            self.wakeupAfter(timedelta(seconds=SWEEP_SECONDS), _Sweep(SWEEP_SECONDS, periodic=True))

    def _thespian_says_exited(self, address: Address) -> None:
        watched = self._children.find(address) if self.isolated else None
        if watched is None:
            # In one process, or a child we never watched (or already reported,
            # in which case its supervisor ignores the copy).
            self._deliver(ChildExited(address), self.myAddress)
        elif not watched.alive():
            self._children.remove(watched)
            self._watch_fds()
            self.send(self.myAddress, _ProcessGone(address, watched.pid))
        else:
            self._check_soon()  # ending now, or a stale copy naming a reused port: the pid decides

    def _check_soon(self) -> None:
        self.wakeupAfter(timedelta(seconds=FIRST_CHECK), _Sweep(FIRST_CHECK, periodic=False))

    def _watch_fds(self) -> None:
        fds = self._children.fds()
        self._watching = ThespianWatch(fds) if fds else None

    def _report_ended_children(self) -> None:
        """Report children whose process has ended.

        Sent, not handled now: a child's last messages (its Exiting) were
        received before its process ended, and must be handled before its exit.
        """
        for entry in self._children.reap():
            self.send(self.myAddress, _ProcessGone(entry.address, entry.pid))
        self._watch_fds()

    def _sweep_children(self, sweep: _Sweep) -> None:
        """The backstop for the pidfds: look at every watched child now and then."""
        self._report_ended_children()
        if sweep.periodic:
            self._sweeping = bool(self._children)
            if self._sweeping:
                self.wakeupAfter(timedelta(seconds=SWEEP_SECONDS), sweep)
        elif sweep.delay < SWEEP_SECONDS:
            delay = sweep.delay * 2  # a process ends a few ms after its farewell: look often, then less
            self.wakeupAfter(timedelta(seconds=delay), _Sweep(delay, periodic=False))

    def count(self, counter: str) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + 1

    def receive_dead_letters(self) -> None:
        self.handleDeadLetters(True)

    def end_system_now(self) -> None:
        """Kill every process of this actor system at once (the admin's process group)."""
        if self.isolated:
            kill_own_group()
        else:
            self.actorSystemShutdown()


def _build(start: Start, host: Host) -> Actor:
    """Create the actor with its context already set, so ``__init__`` may use it."""
    cls = start.actor_class()
    actor: Actor = cls.__new__(cls)
    actor.ctx = host
    actor.__init__(*start.args, **start.kwargs)  # type: ignore[misc]
    return actor


def _unhandled(actor: Actor, message: Any) -> Any:
    """No handler: the actor's ``unhandled`` hook answers (it returns nothing to send)."""
    actor.unhandled(message)
    return None


def _bound_table(actor: Actor) -> dict[type, Callable[[Any], Any]]:
    return {kind: getattr(actor, name) for kind, name in type(actor).handler_table().items()}


@dataclass(frozen=True, slots=True)
class _Forward:
    target: Address
    message: Any


class Sink(ThespianActor):  # type: ignore[misc]
    """Sends ``tell``s from outside on its own behalf, and swallows their replies.

    Thespian gives a process one external endpoint that ``ask`` reads, so a
    reply to an earlier tell would answer the next ask. Routing tells through
    the sink keeps replies away from it, and keeps successive tells in order.
    """

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, _Forward):
            self.send(message.target, message.message)


class ThespianSystem:
    """One Thespian actor system, as the rest of the runtime sees it."""

    def __init__(
        self,
        base: str,
        *,
        admin_port: int | None,
        bind: str,
        log_defs: dict[str, Any] | None,
        advertised: dict[str, Any] | None = None,
        leader: tuple[str, int] | None = None,
        secret: bytes | None = None,
    ) -> None:
        """``advertised``: this node's capabilities; ``leader``: the admin to join a convention with;
        ``secret``: sign and verify every frame (see :func:`_install_frame_auth`)."""
        global _bind_host
        if base not in BASES:
            raise RuntimeStartError(f"unknown system base {base!r}; expected one of {', '.join(BASES)}")
        self.base = base
        self.admin_port = admin_port
        capabilities: dict[str, Any] = dict(advertised or {})
        if base == "tcp":
            _bind_host = bind
            _install_bind_patch()
            _install_close_patch()
            _install_frame_auth(secret)
            if bind != "0.0.0.0":
                os.environ["THESPIAN_BASE_IPADDR"] = bind
            capabilities["Admin Port"] = admin_port
            if leader is not None:
                capabilities["Convention Address.IPv4"] = leader
        # simpleSystemBase runs in this process: leave this process's logging alone.
        logging_arg: Any = log_defs if base == "tcp" else False
        try:
            self._system = ActorSystem(BASES[base], capabilities, logDefs=logging_arg, transientUnique=True)
        except Exception as exc:
            raise RuntimeStartError(f"could not start the {base} actor system: {exc}") from exc
        self._owns_admin = True
        self._sink = self._system.createActor(Sink)

    @classmethod
    def connect(cls, admin_port: int, bind: str = "127.0.0.1", secret: bytes | None = None) -> ThespianSystem:
        """Join a running TCP system as a client; closing it leaves the system running."""
        system = cls("tcp", admin_port=admin_port, bind=bind, log_defs=None, secret=secret)
        system._owns_admin = False
        return system

    @property
    def isolated(self) -> bool:
        return self.base != "simple"

    def create(self, global_name: str | None = None) -> Address:
        return self._system.createActor(Host, globalName=global_name)

    def ask(self, address: Address, message: Any, timeout: float) -> Any:
        """Send and wait for the first message back.

        Thespian delivers whatever reaches the external endpoint, so a late
        reply to a timed-out ask would answer this one. On the simple base
        nothing runs between calls, so draining first is enough; on TCP each
        ask gets its own endpoint and strays find it closed.
        """
        if self.base == "simple":
            while self._system.listen(0) is not None:
                pass
            return self._system.ask(address, message, timeout)
        with self._private() as context:
            return context.ask(address, message, timeout)

    def tell(self, address: Address, message: Any) -> None:
        self._system.tell(self._sink, _Forward(address, message))

    def pump(self, seconds: float) -> None:
        """Let time pass; on the simple base this is also what runs timers."""
        if self.base == "simple":
            self._system.listen(seconds)
        else:
            time.sleep(seconds)

    @contextmanager
    def _private(self) -> Iterator[Any]:
        context = _ExternalContext(self._system._systemBase.external_clone())
        try:
            yield context
        finally:
            context.exit_clone()

    def close(self) -> None:
        if self._owns_admin:
            self._system.shutdown()
        else:
            self._system.tell(self._sink, ActorExitRequest())
            self._system._systemBase.transport.close()
