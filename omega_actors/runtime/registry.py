"""The registry: registered name -> the current instance's address.

A child spec with ``name = "counter"`` is registered by its supervisor every
time an instance of it starts, and the instance counts as started only once
the registry has confirmed it, so once a tree has started every name in it
resolves. A message sent to the name reaches whichever instance is current::

    self.send_named("counter", Add(1))        # from an actor
    runtime.ask("counter", Add(1))           # from outside

While the named child restarts (between its exit and the next instance's
start, backoff included), messages to its name wait in a buffer of at most
``buffer_limit`` messages for at most ``buffer_seconds``, and are then
delivered in order. A message that cannot wait (buffer full, name unknown,
child terminated for good, restart too slow) goes back to its sender as
``Undeliverable`` with the reason. Nothing is dropped silently: messages
that reach an instance after it ended come back here (``Bounced``), and so do
messages to addresses whose process vanished (Thespian dead letters).

``Whereis(name)`` answers ``Located(name, address)`` for senders on a hot
path that want to send directly and handle restarts themselves.
"""

from __future__ import annotations

import enum
import logging
import os
from collections import deque
from dataclasses import dataclass, field

from . import logs
from ._context import SystemActor
from .actor import handler
from .messages import (
    Address,
    Bounced,
    DeadLetter,
    DeliveryFailed,
    Released,
    Releasing,
    Routed,
    Undeliverable,
)
from .processes import Watched, start_time

DEFAULT_BUFFER_LIMIT = 1000
DEFAULT_BUFFER_SECONDS = 30.0


class NameStatus(enum.StrEnum):
    """Where a registered name stands: a name's state, not a child's (see ``ChildState``).

    A name outlives its instances: it is ``restarting`` from one instance's
    exit to the next one's registration, whichever supervisor state that
    spans (exiting, exited, restarting, starting).
    """

    UP = "up"  # messages go to the registered instance
    RESTARTING = "restarting"  # messages wait for the next instance, bounded in number and time
    DOWN = "down"  # messages come back Undeliverable with the reason


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    address: Address
    token: int = 0  # the supervisor's name for this instance, echoed in Registered
    pid: int = 0  # the instance's process, to tell a live holder of the name from a dead one


@dataclass(frozen=True, slots=True)
class Registered:
    """The registry's answer to Register: messages to the name now reach the
    instance, unless ``refused`` says why not (the name is held by a live actor)."""

    name: str
    token: int
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The instance at ``address`` registered as ``name`` has ended."""

    name: str
    address: Address
    restarting: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Whereis:
    name: str


@dataclass(frozen=True, slots=True)
class Located:
    name: str
    address: Address | None
    status: NameStatus
    waiting: int = 0  # messages held for the name while it restarts


@dataclass(frozen=True, slots=True)
class _Expire:
    name: str
    epoch: int


@dataclass(slots=True)
class _Entry:
    address: Address | None = None
    status: NameStatus = NameStatus.DOWN
    reason: str = "never registered"
    epoch: int = 0
    buffer: deque[Routed] = field(default_factory=deque)
    holder: Watched | None = None  # the registered instance's process
    # Addresses that held the name lately: mail that comes back from one of
    # them is genuine; from anyone else it could carry a forged reply_to.
    history: deque[Address] = field(default_factory=lambda: deque(maxlen=8))


class Registry(SystemActor):
    def __init__(self, buffer_limit: int = DEFAULT_BUFFER_LIMIT, buffer_seconds: float = DEFAULT_BUFFER_SECONDS) -> None:
        self.buffer_limit = buffer_limit
        self.buffer_seconds = buffer_seconds
        self.names: dict[str, _Entry] = {}

    def started(self) -> None:
        self.ctx.receive_dead_letters()

    @handler
    def on_register(self, message: Register) -> Registered | None:
        if not _is_name(message.name):
            self._malformed(message)
            return None
        entry = self.names.setdefault(message.name, _Entry())
        holder = entry.holder
        if entry.status is NameStatus.UP and entry.address != message.address and holder is not None and holder.alive():
            return Registered(message.name, message.token, f"name {message.name!r} is held by another live actor")
        entry.address, entry.status, entry.reason = message.address, NameStatus.UP, ""
        entry.holder = _process(message.pid)
        entry.history.append(message.address)
        entry.epoch += 1
        while entry.buffer:
            self.send(message.address, entry.buffer.popleft())
        return Registered(message.name, message.token)

    @handler
    def on_releasing(self, message: Releasing) -> Released:
        entry = self.names.get(message.name) if _is_name(message.name) else None
        if entry is not None and entry.status is NameStatus.UP and entry.address == self.sender:
            self._await_restart(message.name, entry, "its instance is ending")
        return Released()

    @handler
    def on_unavailable(self, message: Unavailable) -> None:
        entry = self.names.get(message.name) if _is_name(message.name) else None
        if entry is None or entry.address != message.address or entry.status is NameStatus.DOWN:
            return  # a newer instance has registered already
        if message.restarting:
            self._await_restart(message.name, entry, message.reason)
        else:
            self._take_down(message.name, entry, message.reason)

    @handler
    def on_route(self, message: Routed) -> None:
        if not _is_name(message.name):
            self._malformed(message)
            return
        # Whoever sent this is who the reply goes to: a reply_to is never taken on trust.
        self._deliver(Routed(message.name, message.message, self.sender))

    def _deliver(self, message: Routed) -> None:
        entry = self.names.get(message.name)
        if entry is None:
            self._refuse(message, f"no actor is registered as {message.name!r}")
        elif entry.status is NameStatus.UP:
            self.send(entry.address, message)
        elif entry.status is NameStatus.RESTARTING:
            self._hold(entry, message)
        else:
            self._refuse(message, f"{message.name!r} is not running ({entry.reason})")

    @handler
    def on_bounced(self, message: Bounced) -> None:
        self._returned(message.routed, self.sender)

    @handler
    def on_dead_letter(self, message: DeadLetter) -> None:
        if isinstance(message.message, Routed):
            self._returned(message.message, message.target)
        else:
            self.ctx.count("dead_letters")

    @handler
    def on_delivery_failed(self, message: DeliveryFailed) -> None:
        if isinstance(message.message, Routed):
            self._refuse(message.message, f"it could not be sent: {message.details.splitlines()[-1:]}")
        else:
            super()._delivery_failed(message)

    @handler
    def on_whereis(self, message: Whereis) -> Located | None:
        if not _is_name(message.name):
            self._malformed(message)
            return None
        entry = self.names.get(message.name, _Entry())
        return Located(message.name, entry.address if entry.status is NameStatus.UP else None, entry.status, len(entry.buffer))

    @handler
    def on_expire(self, message: _Expire) -> None:
        entry = self.names.get(message.name)
        if entry is not None and entry.status is NameStatus.RESTARTING and entry.epoch == message.epoch:
            self._take_down(message.name, entry, f"it did not restart within {self.buffer_seconds} s")

    def _returned(self, routed: Routed, dead: Address | None) -> None:
        """A routed message came back from an instance that had ended."""
        entry = self.names.get(routed.name) if isinstance(routed, Routed) and _is_name(routed.name) else None
        if entry is None or not any(dead == held for held in entry.history):
            self.ctx.count("rejected")  # not from an instance that held the name: maybe forged
            return
        if entry.status is NameStatus.UP and entry.address == dead:
            # Its supervisor has not told us yet; assume a restart, bounded in time.
            self._await_restart(routed.name, entry, "its instance ended")
        self._deliver(routed)

    def _await_restart(self, name: str, entry: _Entry, reason: str) -> None:
        if entry.status is NameStatus.RESTARTING:
            return  # already holding mail, on the first deadline
        entry.status, entry.reason = NameStatus.RESTARTING, reason
        entry.epoch += 1
        self.send_after(self.buffer_seconds, _Expire(name, entry.epoch))

    def _take_down(self, name: str, entry: _Entry, reason: str) -> None:
        entry.status, entry.reason, entry.address = NameStatus.DOWN, reason, None
        entry.epoch += 1
        while entry.buffer:
            self._refuse(entry.buffer.popleft(), f"{name!r} is not running ({reason})")

    def _hold(self, entry: _Entry, message: Routed) -> None:
        if len(entry.buffer) >= self.buffer_limit:
            self._refuse(message, f"{message.name!r} is restarting and {self.buffer_limit} messages already wait for it")
        else:
            entry.buffer.append(message)

    def _malformed(self, message: object) -> None:
        self.ctx.count("rejected")
        logs.emit(logging.WARNING, "message_rejected", self.path, type=type(message).__name__, reason="malformed name")

    def _refuse(self, message: Routed, reason: str) -> None:
        self.ctx.count("undeliverable")
        logs.emit(logging.INFO, "undeliverable", self.path, name=message.name, reason=reason)
        if message.reply_to is not None:
            kind = type(message.message)
            self.send(message.reply_to, Undeliverable(message.name, f"{kind.__module__}.{kind.__qualname__}", reason))


def _is_name(name: object) -> bool:
    # Names reach the registry in messages from anyone: never trust their type.
    return isinstance(name, str)


def _process(pid: object) -> Watched | None:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return None  # unknown, or in this very process: nothing to tell apart
    return Watched(None, pid, start_time(pid))
