"""What a host offers its actor: the context's operations, on Thespian.

Every host offers all of them; which an actor may reach is decided in
:mod:`.._context` (an application actor's ``ActorContext`` has no ``spawn``).

Sharp edges handled here (measured in shared/THESPIAN.md):

- ``wakeupAfter`` cannot be cancelled: timers carry an id and cancelled ids
  are ignored. On the simple base every pending wakeup of the whole system
  is scanned on every message, so the runtime sets no timer there that only
  guards against a hung process (see ``Supervisor._ask_to_stop``).
- ``createActor`` returns a local placeholder address that cannot be pickled;
  Thespian parks any message carrying one until the child connects, forever
  if it never does, and an exiting process then drops its last messages. A
  supervisor shares a child's address only once the child has reported
  ``Started`` from its real one (``ChildRecord.shareable_address``).
- Everything a checkpoint holds travels in the next instance's ``Init``, so
  it is bounded (``MAX_CHECKPOINT_BYTES``).
"""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

from ...errors import OmegaError
from ..child_spec import Start
from ..cluster_config import NODE_CAPABILITY
from ..exits import ExitReason
from ..messages import (
    Address,
    Init,
    Publish,
    Routed,
    SaveCheckpoint,
    Services,
    Subscribe,
    Unsubscribe,
)
from ..processes import kill_own_group
from .children import ChildWatch
from .transport import MAX_CHECKPOINT_BYTES


class Timer:
    """What ``send_after`` returns (a ``TimerRef``): cancelling forgets its id."""

    __slots__ = ("id", "message")

    def __init__(self, id: int, message: Any) -> None:
        self.id = id
        self.message = message


class HostContext(ChildWatch):
    """The context operations of ``Host`` (a base of it)."""

    path: str
    parent: Address | None
    services: Services
    counters: dict[str, int]
    pid: int
    _token: int
    _exit_reason: ExitReason | None

    def __init__(self) -> None:
        super().__init__()
        self._timers: set[int] = set()  # ids of the timers set and not cancelled or fired
        self._next_timer = 0

    @property
    def address(self) -> Address:
        return self.myAddress

    def send_named(self, name: str, message: Any) -> None:
        self.send(self._service("registry"), Routed(name, message, self.myAddress))

    def publish(self, subject: str, payload: Any) -> None:
        self.send(self._service("bus"), Publish(subject, payload))

    def subscribe(self, pattern: str, ack: bool = False) -> None:
        self.send(self._service("bus"), Subscribe(pattern, ack))

    def unsubscribe(self, pattern: str) -> None:
        self.send(self._service("bus"), Unsubscribe(pattern))

    def _service(self, which: str) -> Address:
        address = getattr(self.services, which)
        if address is None:
            raise OmegaError(f"actor {self.path!r}: this system runs no {which}")
        return address

    def send_after(self, seconds: float, message: Any) -> Timer:
        if not seconds >= 0:
            raise ValueError(f"a timer needs a delay >= 0 seconds; got {seconds!r}")
        self._next_timer += 1
        timer = Timer(self._next_timer, message)
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

    def count(self, counter: str) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + 1

    # For the runtime's own actors only (a SystemContext; see .._context).

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
            child = self.createActor(type(self))  # another Host
            if self.isolated:
                self._watch(child)
        else:
            child = self.createActor(type(self), targetActorRequirements={NODE_CAPABILITY: node})
        self.send(child, Init(path, start, checkpoint, services, self.isolated, self.pid, token, name, lease))
        return child

    def receive_dead_letters(self) -> None:
        self.handleDeadLetters(True)

    def end_system_now(self) -> None:
        """Kill every process of this actor system at once (the admin's process group)."""
        if self.isolated:
            kill_own_group()
        else:
            self.actorSystemShutdown()
