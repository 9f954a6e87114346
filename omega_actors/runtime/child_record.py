"""What a supervisor knows of one child: its spec and its current instance."""

from __future__ import annotations

from .child_spec import ChildSpec
from .exits import Crash, CrashReport, ExitReason
from .introspection import ChildState
from .messages import Address


class ChildRecord:
    """What a supervisor knows of one child spec and its current instance."""

    __slots__ = (
        "spec", "state", "address", "pid", "reason", "checkpoint",
        "starts", "last_exit", "last_crash", "started_at", "streak", "generation", "leaving", "token",
        "address_known", "node", "placed", "missed", "awaiting", "avoid",
    )  # fmt: skip

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.UNDEFINED
        self.address: Address | None = None
        # Until the instance reports Started, ``address`` is Thespian's local placeholder:
        # it cannot be pickled, and a message carrying it would wait forever to be sent.
        self.address_known = False
        self.pid: int | None = None
        self.reason: ExitReason | None = None  # said by the instance before its process ended
        self.checkpoint: bytes | None = None
        self.starts = 0
        self.last_exit: ExitReason | None = None
        self.last_crash: CrashReport | None = None
        self.started_at: float | None = None
        self.streak = 0
        self.generation = 0  # bumped whenever the instance is replaced or let go
        self.leaving = False  # being stopped for good (terminate_child, shutdown), not for a restart
        self.token = 0  # the current instance's token (see Init); 0 when there is none
        self.node: str | None = None  # the other node the instance runs on; None when it is local
        self.placed: str | None = None  # where the cluster actor placed it (this node included), to release
        self.missed = 0  # heartbeats in a row it has not answered
        self.awaiting = False  # a heartbeat is out and unanswered
        self.avoid: tuple[str, ...] = ()  # nodes to place the next instance elsewhere than

    @property
    def shareable_address(self) -> Address | None:
        """The address, if it may travel in a message."""
        return self.address if self.address_known else None

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    def record_exit(self, reason: ExitReason) -> None:
        self.last_exit = reason
        if isinstance(reason, Crash):
            self.last_crash = reason.report
