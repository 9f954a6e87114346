"""The runtime's own messages: lifecycle, supervisor requests and failures.

All are small frozen dataclasses. They travel between processes of one
trusted cluster as pickles (Thespian's transport); nothing here is meant for
data from outside that cluster.

Lifecycle, between a supervisor and a child instance::

    supervisor --Init-->        child   (first message to every instance)
    supervisor <--Started--     child   (init done; for a supervisor: all its children too)
    supervisor <--StartFailed-- child   (init raised; the instance is ending)
    supervisor <--Exiting--     child   (the instance is ending, with its reason)
    supervisor --ExitNoted-->   child   (got it: only now does the process end)
    supervisor --Stop-->        child   (please stop; shutdown order is the supervisor's)
    supervisor <--SaveCheckpoint-- child

Requests a supervisor answers (replies in brackets): ``StartChild``
[``ChildStarted`` | ``Refused``], ``TerminateChild``, ``RestartChild``, ``KillChild``,
``DeleteChild`` [``Done`` | ``Refused``], ``WhichChildren`` [``Children``],
``CountChildren`` [``ChildCounts``], ``GetTree`` [``TreeNode``],
``Reconfigure`` (from its parent) and ``ReconfigureChild`` (to the
guardian) [``Reconfigured``], ``GetSpec`` (to the guardian) [``CurrentSpec``].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .child_spec import ChildSpec, Start
from .cluster_config import HEARTBEAT
from .exits import ExitReason

Address = Any
"""An actor's address: opaque, comparable with ``==`` and picklable, but not hashable."""


def address_key(address: Address) -> str:
    """A hashable stand-in for an address, for dict keys.

    Thespian addresses compare equal across a placeholder and the real
    endpoint, but are deliberately unhashable. The string form is stable for
    the address a message arrives *from*, so only use keys built from senders.
    """
    return str(address)


@dataclass(frozen=True, slots=True)
class Services:
    """Addresses of the system actors every instance may use."""

    registry: Address | None = None
    bus: Address | None = None
    cluster: Address | None = None
    heartbeat: tuple[float, int] = HEARTBEAT  # interval and misses for remote children ([cluster])


@dataclass(frozen=True, slots=True)
class Init:
    path: str
    start: Start
    checkpoint: bytes | None = None
    services: Services = Services()
    isolate: bool = False
    parent_pid: int | None = None
    token: int = 0  # names this instance in its reports to the supervisor
    name: str | None = None  # its registered name, if any
    lease: float | None = None  # set for a child on another node: seconds it lives without a heartbeat


@dataclass(frozen=True, slots=True)
class Started:
    pid: int
    token: int = 0


@dataclass(frozen=True, slots=True)
class StartFailed:
    reason: ExitReason
    token: int = 0
    # The pid of the process that forked this one: for the guardian, the admin, which the runtime must not
    # leave running when the tree fails to start (on the simple base, this process).
    parent_pid: int = 0


@dataclass(frozen=True, slots=True)
class Exiting:
    reason: ExitReason
    token: int = 0


@dataclass(frozen=True, slots=True)
class ExitNoted:
    """The supervisor's answer to ``Exiting``/``StartFailed``: the instance may now end."""


@dataclass(frozen=True, slots=True)
class SaveCheckpoint:
    blob: bytes
    token: int = 0


@dataclass(frozen=True, slots=True)
class Stop:
    """Ask an instance to stop with reason ``Shutdown`` (its supervisor's request)."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """Reply of the top-level guardian once its whole tree has stopped."""

    reason: ExitReason


@dataclass(frozen=True, slots=True)
class ChildExited:
    """A child process of this actor has ended (translated from Thespian)."""

    address: Address


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """A message this actor sent could not be delivered."""

    message: Any
    details: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message sent to an address where no actor lives any more."""

    target: Address
    message: Any


# Supervisor requests and replies.


@dataclass(frozen=True, slots=True)
class StartChild:
    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class TerminateChild:
    id: str


@dataclass(frozen=True, slots=True)
class RestartChild:
    id: str


@dataclass(frozen=True, slots=True)
class KillChild:
    """OTP's ``exit(Child, kill)``: end a running child at once; its exit is ``Killed(reason)``
    and its restart policy applies (a hung child cannot answer a request to stop)."""

    id: str
    reason: str = "killed"


@dataclass(frozen=True, slots=True)
class DeleteChild:
    id: str


@dataclass(frozen=True, slots=True)
class WhichChildren:
    pass


@dataclass(frozen=True, slots=True)
class CountChildren:
    pass


@dataclass(frozen=True, slots=True)
class GetTree:
    pass


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """Take this spec in place (see :mod:`.reconfigure`); only a supervisor's parent sends it."""

    spec: Any  # a SupervisorSpec


@dataclass(frozen=True, slots=True)
class ReconfigureChild:
    """To the guardian: reconfigure its supervisor child ``id`` in place with ``spec``."""

    id: str
    spec: Any  # a SupervisorSpec


@dataclass(frozen=True, slots=True)
class Reconfigured:
    """The outcome of a reconfiguration: the changes made, or why it stopped part way."""

    ok: bool
    changes: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class GetSpec:
    id: str


@dataclass(frozen=True, slots=True)
class CurrentSpec:
    spec: Any  # the SupervisorSpec a supervisor child holds now, or None


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Any actor answers with a HealthReport from its ``health()`` hook."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ChildStarted:
    id: str
    address: Address


@dataclass(frozen=True, slots=True)
class Done:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    """A request was refused; ``reason`` is OTP's word for it where one exists."""

    request: str
    reason: str


# Failures reported to the sender of a message.


@dataclass(frozen=True, slots=True)
class Rejected:
    """The target has no handler for this message type, or it was malformed."""

    actor: str
    message_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActorFailed:
    """The handler that took your message raised; that instance has ended."""

    actor: str
    message_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """Nothing took your message: its target is gone or not running."""

    target: str
    message_type: str
    reason: str


FAILURES = (Rejected, ActorFailed, Undeliverable, Refused)


# Named delivery through the registry.


@dataclass(frozen=True, slots=True)
class Routed:
    """A message sent to a registered name, on its way to the current instance.

    The receiving runtime hands ``message`` to the actor as if ``reply_to``
    had sent it, so replies skip the registry.
    """

    name: str
    message: Any
    reply_to: Address | None


@dataclass(frozen=True, slots=True)
class Releasing:
    """An ending instance asks the registry to hold mail for its name."""

    name: str


@dataclass(frozen=True, slots=True)
class Released:
    """The registry's answer: everything it routed to you before this has arrived."""


@dataclass(frozen=True, slots=True)
class Bounced:
    """A ``Routed`` message that reached an instance after it had ended."""

    routed: Routed


# The event bus.


@dataclass(frozen=True, slots=True)
class Subscribe:
    pattern: str
    ack: bool = False


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    pattern: str


@dataclass(frozen=True, slots=True)
class Publish:
    subject: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Event:
    subject: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CountSubscriptions:
    """Ask the bus how many subscribers and patterns it holds: answered with a tuple."""


@dataclass(frozen=True, slots=True)
class ActorDown:
    """The instance at ``address`` has ended: forget its subscriptions."""

    address: Address


# Cluster: placement (supervisor <-> the node's cluster actor), heartbeats
# (supervisor <-> remote child, handled by the runtime, not the actor), and what
# Thespian reports about other members, translated by the Thespian adapter.


@dataclass(frozen=True, slots=True)
class Place:
    """Where should this child run? ``avoid`` names nodes to skip if any other will do."""

    key: str  # the child's path: one placement per child
    token: int
    requires: dict[str, Any]
    avoid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    key: str
    token: int
    node: str | None  # None: no member satisfies the requirements (``reason`` says why)
    local: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Release:
    key: str
    node: str


@dataclass(frozen=True, slots=True)
class GetMembers:
    pass


@dataclass(frozen=True, slots=True)
class MemberInfo:
    node: str
    admin: str
    capabilities: dict[str, Any]
    up: bool
    load: int
    this: bool = False


@dataclass(frozen=True, slots=True)
class Members:
    leader: bool
    members: tuple[MemberInfo, ...]


@dataclass(frozen=True, slots=True)
class MemberChanged:
    """Thespian's convention update: a member registered (``added``) or left."""

    admin: Address
    where: str  # "host:port" of its admin, to find it again after a restart
    capabilities: dict[str, Any]
    added: bool


@dataclass(frozen=True, slots=True)
class AdminAnswered:
    """A member's admin answered a ping: that node is alive and reachable."""

    admin: Address


@dataclass(frozen=True, slots=True)
class Heartbeat:
    token: int


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    token: int
