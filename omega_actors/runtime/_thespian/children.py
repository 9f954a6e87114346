"""A host's child processes: when has a child really ended, and how to kill one.

``ChildActorExited`` may be missing, or arrive twice and name a new instance
that reused the dead one's port. On isolated bases a host therefore watches
every child's pid from the fork (:mod:`..processes`) and reports an exit
(``ChildExited``, to its actor) only once that process has ended: at once if
it has, else after re-checks that start fast after a notice or a kill (1, 2,
4, ... ms), and at least once a second. Thespian also waits on the
children's pidfds besides the mailbox, so a child's death wakes its parent.

A kill is SIGKILL to a watched child's process, never to a pid that may
have been reused (Thespian reaps its children on its own); on the simple
base, or for a child we do not watch, it is Thespian's ``ActorExitRequest``.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from thespian.actors import Actor as ThespianActor
from thespian.actors import ActorExitRequest, ThespianWatch

from ..messages import Address, ChildExited
from ..processes import ProcessWatch

SWEEP_SECONDS = 1.0
FIRST_CHECK = 0.001  # after a notice or a kill, look again at 1, 2, 4, ... ms


class Sweep:
    """Look for dead child processes; ``delay`` grows after a kill, fixed for the periodic sweep."""

    __slots__ = ("delay", "periodic")

    def __init__(self, delay: float, periodic: bool) -> None:
        self.delay = delay
        self.periodic = periodic


@dataclass(frozen=True, slots=True)
class ProcessGone:
    """A watched child's process has ended (sent to self: see ``_report_ended_children``)."""

    address: Address
    pid: int


class ChildWatch(ThespianActor):  # type: ignore[misc]
    """The host's watch over its children's processes (a base of ``Host``)."""

    isolated: bool

    if TYPE_CHECKING:  # provided by Host

        def _deliver(self, message: Any, sender: Any) -> None: ...

    def __init__(self) -> None:
        super().__init__()
        self._children = ProcessWatch()
        self._watching: ThespianWatch | None = None  # the children's pidfds, for Thespian to wait on
        self._sweeping = False  # the periodic sweep is scheduled

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
            self.wakeupAfter(timedelta(seconds=SWEEP_SECONDS), Sweep(SWEEP_SECONDS, periodic=True))

    def _thespian_says_exited(self, address: Address) -> None:
        watched = self._children.find(address) if self.isolated else None
        if watched is None:
            # In one process, or a child we never watched (or already reported,
            # in which case its supervisor ignores the copy).
            self._deliver(ChildExited(address), self.myAddress)
        elif not watched.alive():
            self._children.remove(watched)
            self._watch_fds()
            self.send(self.myAddress, ProcessGone(address, watched.pid))
        else:
            self._check_soon()  # ending now, or a stale copy naming a reused port: the pid decides

    def _process_gone(self, message: ProcessGone, sender: Any) -> None:
        current = self._children.find(message.address)
        # A new child may hold the dead one's port by now; then this is not its exit.
        if sender == self.myAddress and (current is None or current.pid == message.pid):
            self._deliver(ChildExited(message.address), self.myAddress)

    def _check_soon(self) -> None:
        self.wakeupAfter(timedelta(seconds=FIRST_CHECK), Sweep(FIRST_CHECK, periodic=False))

    def _watch_fds(self) -> None:
        fds = self._children.fds()
        self._watching = ThespianWatch(fds) if fds else None

    def _report_ended_children(self) -> None:
        """Report children whose process has ended.

        Sent, not handled now: a child's last messages (its Exiting) were
        received before its process ended, and must be handled before its exit.
        """
        for entry in self._children.reap():
            self.send(self.myAddress, ProcessGone(entry.address, entry.pid))
        self._watch_fds()

    def _sweep_children(self, sweep: Sweep) -> None:
        """The backstop for the pidfds: look at every watched child now and then."""
        self._report_ended_children()
        if sweep.periodic:
            self._sweeping = bool(self._children)
            if self._sweeping:
                self.wakeupAfter(timedelta(seconds=SWEEP_SECONDS), sweep)
        elif sweep.delay < SWEEP_SECONDS:
            delay = sweep.delay * 2  # a process ends a few ms after its farewell: look often, then less
            self.wakeupAfter(timedelta(seconds=delay), Sweep(delay, periodic=False))
