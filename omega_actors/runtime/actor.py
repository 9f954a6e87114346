"""The actor base class: typed handlers, lifecycle hooks, let it crash.

An actor is a plain class. Methods marked ``@handler`` take one message each,
chosen by the type annotation of their message parameter; whatever a handler
returns (other than ``None``) goes back to the sender::

    @dataclass(frozen=True)
    class Add:
        n: int

    class Counter(Actor):
        restart = Restart.PERMANENT          # defaults for Counter.child_spec()

        def __init__(self, start: int = 0) -> None:
            self.total = start

        def restore(self, state: int) -> None:   # the last checkpoint, after a restart
            self.total = state

        @handler
        def add(self, message: Add) -> int:
            self.total += message.n
            self.checkpoint(self.total)
            return self.total

Lifecycle of one instance: ``__init__(*args)``, then ``restore(state)`` if a
checkpoint exists, then ``started()``; messages; then ``stopping(reason)``
when it ends by ``stop()``, by its supervisor's request, or by a crash (not
when it is killed).

**Let it crash.** Any exception in a handler or hook ends that instance at
once: its supervisor gets a :class:`~omega_actors.runtime.exits.CrashReport`
(actor, exception type and text, traceback, message type) and decides what
happens next; the sender of the message gets ``ActorFailed``. Thespian's own
retry and ``PoisonMessage`` path is never taken. A message with no handler is
not a crash: it is answered with ``Rejected`` and counted.

An actor never imports Thespian: it talks to the runtime through ``self.ctx``
(a :class:`Context`), so the same class runs on every system base. Use the
methods above (``send``, ``reply``, ``send_named``, ``publish``,
``subscribe``, ``send_after``, ``checkpoint``, ``stop``, ``count``); the
context is only what they are built on.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Any, ClassVar, Protocol, TypeVar

from . import logs
from .child_spec import (
    ChildSpec,
    Restart,
    ShutdownPolicy,
    Start,
    Startable,
    import_path,
)
from .exits import ExitReason, Normal, Shutdown
from .messages import (
    FAILURES,
    ActorFailed,
    Address,
    DeliveryFailed,
    Done,
    HealthCheck,
    HealthReport,
    Refused,
    Rejected,
    Stop,
    Undeliverable,
)

F = TypeVar("F", bound=Callable[..., Any])

_HANDLER_MARK = "__omega_handler__"


def handler(function: F) -> F:
    """Mark a method as the handler for the type its message parameter is annotated with."""
    setattr(function, _HANDLER_MARK, True)
    return function


class TimerRef(Protocol):
    """What ``send_after`` returns; pass it to ``cancel_timer``."""


class Context(Protocol):
    """What the runtime gives an application actor, as ``self.ctx``.

    The :class:`Actor` methods of the same names are the way to use it; an
    actor needs ``self.ctx`` only to hand it on. The runtime's own actors
    (supervisors, the registry, the cluster actor) get a wider context that
    can create and kill actors; an application actor's context cannot.
    """

    path: str
    address: Address
    parent: Address | None
    sender: Address | None

    def send(self, to: Address, message: Any) -> None: ...

    def send_named(self, name: str, message: Any) -> None: ...

    def publish(self, subject: str, payload: Any) -> None: ...

    def subscribe(self, pattern: str, ack: bool = False) -> None: ...

    def unsubscribe(self, pattern: str) -> None: ...

    def send_after(self, seconds: float, message: Any) -> TimerRef: ...

    def cancel_timer(self, timer: TimerRef) -> None: ...

    def checkpoint(self, state: Any) -> None: ...

    def exit(self, reason: ExitReason) -> None: ...

    def count(self, counter: str) -> None: ...


class Actor(Startable):
    """Base class of every omega actor. See the module docstring.

    Spec defaults (``child_type``, ``restart``, ``shutdown``) are class
    attributes inherited from :class:`~.child_spec.Startable`; override them
    on the class.
    """

    # A supervisor reports Started itself, once its children are up.
    reports_started_itself: ClassVar[bool] = False

    ctx: Context

    @classmethod
    def handler_table(cls) -> dict[type, str]:
        """Message type -> handler method name, for this class and its bases.

        Built on first use rather than at class creation, so that a handler
        may be annotated with a message class defined further down its module.
        """
        table = cls.__dict__.get("_omega_handler_table")
        if table is None:
            table = _collect_handlers(cls)
            cls._omega_handler_table = table  # type: ignore[attr-defined]
        return table

    @classmethod
    def child_spec(
        cls,
        id: str,
        *args: Any,
        restart: Restart | str | None = None,
        shutdown: ShutdownPolicy | None = None,
        significant: bool = False,
        name: str | None = None,
        requires: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ChildSpec:
        """This class's child spec; keyword arguments not named here go to ``__init__``."""
        return ChildSpec(
            id=id,
            start=Start(import_path(cls), args, kwargs),
            restart=cls.restart if restart is None else restart,  # type: ignore[arg-type]
            shutdown=cls.shutdown if shutdown is None else shutdown,
            significant=significant,
            name=name,
            requires=requires or {},
        )

    # Lifecycle hooks: override what you need.

    def restore(self, state: Any) -> None:
        """Take the last checkpoint; called before ``started`` on a restarted instance."""
        raise NotImplementedError(
            f"{type(self).__qualname__} checkpoints state, so it must define restore(state) to take it back"
        )

    def started(self) -> None:
        """Called once the instance is ready, before any message."""

    def stopping(self, reason: ExitReason) -> None:
        """Called when the instance ends, unless it is killed."""

    def health(self) -> bool | str:
        """Is this instance fit for work? True, or False or a sentence saying what is wrong.

        Asked after a configuration change, inside its health window, of
        actors that override it. An exception here crashes the instance, as
        in any handler.
        """
        return True

    def unhandled(self, message: Any) -> None:
        """A message no handler takes: answered with ``Rejected``, never a crash."""
        self.ctx.count("rejected")
        logs.emit(logging.WARNING, "message_rejected", self.ctx.path, type=_name(message))
        sender = self.ctx.sender
        # Never answer a failure with a failure: two actors would bounce it forever.
        if sender is not None and sender != self.ctx.address and not isinstance(message, FAILURES):
            self.ctx.send(sender, Rejected(self.ctx.path, _name(message), "no handler for this message type"))

    @handler
    def _stop_requested(self, message: Stop) -> Rejected | None:
        if self.ctx.sender != self.ctx.parent:
            return Rejected(self.ctx.path, _name(message), "only its supervisor may stop an actor; use terminate_child")
        self.ctx.exit(Shutdown())
        return None

    @handler
    def _health_requested(self, message: HealthCheck) -> HealthReport:
        verdict = self.health()
        if verdict is True:
            return HealthReport(True, "ok")
        return HealthReport(False, verdict if isinstance(verdict, str) and verdict else "unhealthy")

    @handler
    def _done(self, message: Done) -> None:
        """Acknowledgements need no answer."""

    @handler
    def _failure_reported(self, message: Rejected | ActorFailed | Undeliverable | Refused) -> None:
        """Something this actor sent failed; override with a handler for the type to act on it."""
        self.ctx.count("failures_received")
        logs.emit(logging.INFO, "failure_received", self.ctx.path, failure=repr(message))

    @handler
    def _delivery_failed(self, message: DeliveryFailed) -> None:
        self.ctx.count("delivery_failed")
        logs.emit(logging.WARNING, "delivery_failed", self.ctx.path, type=_name(message.message), details=message.details)

    # What a handler may call.

    @property
    def address(self) -> Address:
        return self.ctx.address

    @property
    def sender(self) -> Address | None:
        """The sender of the message being handled."""
        return self.ctx.sender

    @property
    def path(self) -> str:
        return self.ctx.path

    def send(self, to: Address, message: Any) -> None:
        self.ctx.send(to, message)

    def reply(self, message: Any) -> None:
        sender = self.ctx.sender
        if sender is not None:
            self.ctx.send(sender, message)

    def send_after(self, seconds: float, message: Any) -> TimerRef:
        """Deliver ``message`` to this instance after ``seconds`` (cancellable)."""
        return self.ctx.send_after(seconds, message)

    def cancel_timer(self, timer: TimerRef) -> None:
        self.ctx.cancel_timer(timer)

    def checkpoint(self, state: Any) -> None:
        """Keep ``state`` with the supervisor; the next instance gets it in ``restore``."""
        self.ctx.checkpoint(state)

    def stop(self) -> None:
        """End this instance normally once the current handler returns."""
        self.ctx.exit(Normal())

    def send_named(self, name: str, message: Any) -> None:
        """Send to whichever instance is registered as ``name`` (see :mod:`.registry`)."""
        self.ctx.send_named(name, message)

    def publish(self, subject: str, payload: Any) -> None:
        self.ctx.publish(subject, payload)

    def subscribe(self, pattern: str, ack: bool = False) -> None:
        """Receive an ``Event`` for every publish matching ``pattern`` until this instance ends.

        With ``ack``, the bus answers ``Done`` once the subscription is in place
        (or ``Refused``): publishers other than this actor are not ordered with it.
        """
        self.ctx.subscribe(pattern, ack)

    def unsubscribe(self, pattern: str) -> None:
        self.ctx.unsubscribe(pattern)

    def increment(self, counter: str) -> None:
        """Add one to this instance's ``counter`` (refusals, retries: what an operator counts).

        Not named ``count``: that is what an actor's own state is often called.
        """
        self.ctx.count(counter)


def _name(message: Any) -> str:
    kind = type(message)
    return f"{kind.__module__}.{kind.__qualname__}"


def _collect_handlers(cls: type) -> dict[type, str]:
    table: dict[type, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, function in vars(klass).items():
            if getattr(function, _HANDLER_MARK, False):
                for message_type in _message_types(klass, attr, function):
                    table[message_type] = attr
    return table


def _message_types(klass: type, attr: str, function: Callable[..., Any]) -> tuple[type, ...]:
    try:
        hints = typing.get_type_hints(function)
    except NameError as exc:
        raise TypeError(f"handler {klass.__qualname__}.{attr}: cannot resolve its annotation ({exc})") from None
    params = list(hints.items())
    params = [(name, hint) for name, hint in params if name != "return"]
    if not params:
        raise TypeError(f"handler {klass.__qualname__}.{attr} needs a type annotation on its message parameter")
    hint = params[0][1]
    kinds = typing.get_args(hint) if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    for kind in kinds:
        if not isinstance(kind, type):
            raise TypeError(f"handler {klass.__qualname__}.{attr}: {kind!r} is not a class to dispatch on")
    return tuple(kinds)
