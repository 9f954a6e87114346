"""The runtime's own actors: the wider context they get, and their base class.

An application actor's ``self.ctx`` is a :class:`~.actor.Context`: it can
send, reply, set timers, checkpoint, stop and count, and nothing else. The
runtime's own actors (supervisors, the guardian, the registry, the cluster
actor) need more: creating and killing actors, reporting Started when their
children are up, the addresses of the system services, Thespian's view of
other nodes. They derive from :class:`SystemActor`, and their context is a
:class:`SystemContext`.

Why the split is made at run time and not only for a type checker: one host
object is every instance's context (see ``_thespian``), and handing it to an
application actor would offer it ``spawn`` and ``end_system_now`` too. An
application actor gets an :class:`ActorContext` instead, a slotted view
whose methods are the host's own bound methods: ``self.ctx.send`` costs
what it did before, and the only extra work on the hot path is the host
writing each message's sender to the view rather than to itself. This is
not a security boundary (a bound method's ``__self__`` is the host, and
Python hides nothing from code in the same process); it keeps what an
application is offered to what it may rely on.
"""

from __future__ import annotations

from typing import Any, Protocol

from .actor import Actor, Context
from .child_spec import Start
from .messages import Address, Services


class SystemContext(Context, Protocol):
    """What the runtime gives its own actors, on top of :class:`~.actor.Context`."""

    services: Services  # the guardian updates its own as the system actors start
    pid: int
    isolated: bool  # one process per actor (tcp), where a child can hang or vanish on its own
    counters: dict[str, int]

    def report_started(self) -> None: ...

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
    ) -> Address: ...

    def kill(self, address: Address, pid: int | None) -> None: ...

    def receive_dead_letters(self) -> None: ...

    def end_system_now(self) -> None: ...

    # For the cluster actor: Thespian's convention, seen through the adapter.

    def watch_members(self) -> None: ...

    def ping_admin(self, admin: Address) -> None: ...

    def pre_register(self, host: str, port: int, capabilities: dict[str, Any]) -> None: ...

    def rejoin(self) -> None: ...


class SystemActor(Actor):
    """Base of the runtime's own actors: the host gives them a :class:`SystemContext`."""

    ctx: SystemContext


class ActorContext:
    """An application actor's ``self.ctx``: the host's :class:`~.actor.Context` methods, and no others.

    Built once per instance. The host keeps ``sender`` current (it writes
    each message's sender here before calling the handler).
    """

    __slots__ = (
        "path", "address", "parent", "sender", "send", "send_named", "publish", "subscribe", "unsubscribe",
        "send_after", "cancel_timer", "checkpoint", "exit", "count",
    )  # fmt: skip

    def __init__(self, host: SystemContext) -> None:
        self.path, self.address, self.parent, self.sender = host.path, host.address, host.parent, None
        self.send, self.send_named, self.publish = host.send, host.send_named, host.publish
        self.subscribe, self.unsubscribe = host.subscribe, host.unsubscribe
        self.send_after, self.cancel_timer = host.send_after, host.cancel_timer
        self.checkpoint, self.exit, self.count = host.checkpoint, host.exit, host.count

    def __repr__(self) -> str:
        return f"<ActorContext {self.path!r}>"


def context_for(actor_class: type, host: SystemContext) -> Context:
    """The context an instance of ``actor_class`` gets: the host itself for the runtime's own actors."""
    return host if issubclass(actor_class, SystemActor) else ActorContext(host)
