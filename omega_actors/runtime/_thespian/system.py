"""The actor system, as the rest of the runtime sees it: start, create, ask, tell, close.

Sharp edges handled here (measured in shared/THESPIAN.md):

- Thespian gives a process one external endpoint, and ``ask`` returns
  whatever reaches it first: a late reply to a timed-out ask, or a reply to
  an earlier ``tell``, would answer the next ask. Tells go through a
  :class:`Sink` actor that swallows their replies; on TCP each ask gets an
  endpoint of its own.
- The admin daemonizes and outlives the script that started it: the handle
  always shuts it down when it owns it, and the guardian shuts it down if its
  owner process dies (see ``guardian.Guardian``).
- A system joined as a client (``connect``) is left running on close.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from thespian.actors import Actor as ThespianActor
from thespian.actors import ActorAddress, ActorExitRequest, ActorSystem
from thespian.actors import ExternalContext as _ExternalContext

from ...errors import RuntimeStartError
from ..messages import Address
from .host import Host
from .transport import configure as configure_transport

BASES = {"simple": "simpleSystemBase", "tcp": "multiprocTCPBase"}


def is_address(value: object) -> bool:
    """Whether ``value`` is an actor address: a ``reply_to`` that arrives in a message must be one."""
    return isinstance(value, ActorAddress)


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
        trusted_modules: tuple[str, ...] = (),
    ) -> None:
        """``advertised``: this node's capabilities; ``leader``: the admin to join a convention with;
        ``secret``: sign and verify every frame (see :mod:`.transport`)."""
        if base not in BASES:
            raise RuntimeStartError(f"unknown system base {base!r}; expected one of {', '.join(BASES)}")
        self.base = base
        self.admin_port = admin_port
        capabilities: dict[str, Any] = dict(advertised or {})
        if base == "tcp":
            configure_transport(bind, secret, trusted_modules)
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
    def connect(cls, admin_port: int, bind: str = "127.0.0.1", secret: bytes | None = None,
                trusted_modules: tuple[str, ...] = ()) -> ThespianSystem:
        """Join a running TCP system as a client; closing it leaves the system running."""
        system = cls("tcp", admin_port=admin_port, bind=bind, log_defs=None, secret=secret, trusted_modules=trusted_modules)
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
