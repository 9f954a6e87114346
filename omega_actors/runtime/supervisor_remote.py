"""Children on other nodes: where they go, and how a supervisor knows they are alive.

The cluster half of :class:`~.supervisor.Supervisor`. OTP links a
supervisor to its children through the Erlang distribution, which notices a
lost node; Thespian's convention takes about 22 minutes to (see
shared/THESPIAN.md), so these rules replace it for a child spec with
``requires``:

1. **Placement.** Before each start, the supervisor asks its node's cluster
   actor (:mod:`.cluster`) where the child goes. No answer, or no node that
   will do, fails the start like any failed start, with
   ``Killed("no_placement: ...")``. The placement is released when the
   instance ends, and a supervisor that is stopping places nothing.
2. **Heartbeats.** Every ``heartbeat_interval`` the supervisor sends each
   started child on another node one ``Heartbeat``, and the child's host
   answers it (not the actor). One is out at a time: a send to a peer that
   has stopped reading never finishes, and Thespian queues every later send
   of this process behind a few of those.
3. **Loss.** ``heartbeat_misses`` intervals without an answer, or no
   ``Started`` within the start allowance, and the instance is lost: its
   exit is handled as ``Killed("heartbeat_lost: ...")``, an abnormal exit,
   and its next instance goes to another node if any other will do.
4. **Never two instances.** A child unheard for its lease ends itself (see
   ``_thespian``), and the lease is shorter than the misses, so a node cut
   off by a partition has ended its instance by the time it is replaced. An
   answer from a replaced instance (the partition healed early) ends it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import logs
from ._context import SystemActor
from .actor import handler
from .child_record import ChildRecord
from .cluster_config import child_lease, start_allowance
from .exits import Killed
from .introspection import ChildState
from .messages import Address, Heartbeat, HeartbeatAck, Place, Placement, Release
from .operations import Operation, OperationQueue, Wait


@dataclass(frozen=True, slots=True)
class _Beat:
    pass


@dataclass(frozen=True, slots=True)
class _RemoteStartTimeout:
    token: int


class SupervisorRemote(SystemActor):
    """Placement and heartbeat handlers of :class:`~.supervisor.Supervisor`."""

    children: list[ChildRecord]
    by_token: dict[int, ChildRecord]
    ops: OperationQueue
    _stopping: bool  # asked to stop: no new placements, no retries

    if TYPE_CHECKING:  # provided by Supervisor

        def _instance_ended(self, child: ChildRecord) -> None: ...
        def _path(self, child: ChildRecord) -> str: ...

    def __init__(self) -> None:
        super().__init__()
        self._beating = False  # the heartbeat timer for children on other nodes is set

    # Placement.

    def _place(self, child: ChildRecord) -> Operation:
        """Ask the cluster actor where the child goes: None (this node), another node's name, or the ExitReason."""
        cluster = self.ctx.services.cluster
        if cluster is None:
            return Killed("no cluster actor to place a child with requirements")
        if self._stopping:
            return Killed("no_placement: the supervisor is stopping")
        self.send(cluster, Place(self._path(child), child.token, dict(child.spec.requires), child.avoid))
        placed = yield Wait("place", child.token)
        if not isinstance(placed, Placement) or placed.node is None:
            reason = placed.reason if isinstance(placed, Placement) else "no answer"
            return Killed(f"no_placement: {reason}")
        child.placed = placed.node
        return None if placed.local else placed.node

    @handler
    def _placed(self, message: Placement) -> None:
        cluster = self.ctx.services.cluster
        if self.sender != cluster or self.ops.resume("place", message.token, message):
            return
        if message.node is not None:
            self.send(cluster, Release(message.key, message.node))  # an answer nobody waits for any more

    def _release(self, child: ChildRecord) -> None:
        cluster = self.ctx.services.cluster
        if cluster is not None and child.placed is not None:
            self.send(cluster, Release(self._path(child), child.placed))
        child.node = child.placed = None

    def _stop_placing(self) -> None:
        """A start waiting for a member to join must not hold up a shutdown for placement_wait."""
        waiting = self.ops.waiting
        if waiting is None or waiting.kind != "place":
            return
        child = next((c for c in self.children if c.token == waiting.token), None)
        if child is not None and self.ctx.services.cluster is not None:
            self.send(self.ctx.services.cluster, Release(self._path(child), ""))  # stop waiting for it
        self.ops.resume("place", waiting.token, Placement("", waiting.token, None, reason="the supervisor is stopping"))

    # Starting on another node.

    def _spawn_remote(self, child: ChildRecord, node: str) -> Address:
        """Create the instance on ``node``; it must report Started within its start allowance."""
        services = self.ctx.services
        lease = child_lease(*services.heartbeat)
        spec = child.spec
        address = self.ctx.spawn(
            self._path(child), spec.start, child.checkpoint, services, child.token, spec.name, node=node, lease=lease
        )
        self.send_after(start_allowance(lease), _RemoteStartTimeout(child.token))
        return address

    def _remote_started(self, child: ChildRecord) -> None:
        child.avoid = ()
        self._beat_soon()

    @handler
    def _remote_start_timed_out(self, message: _RemoteStartTimeout) -> None:
        child = self.by_token.get(message.token)
        if self.sender != self.address or child is None or child.node is None:
            return
        if child.state is ChildState.STARTING:
            self._lost(child, f"did not start on node {child.node} in time")

    # Heartbeats.

    def _beat_soon(self) -> None:
        if not self._beating:
            self._beating = True
            self.send_after(self.ctx.services.heartbeat[0], _Beat())

    @handler
    def _beat(self, message: _Beat) -> None:
        if self.sender != self.address:
            return
        for child in [c for c in self.by_token.values() if c.node is not None and c.address_known]:
            self._beat_child(child)
        self._beating = False
        if any(c.node is not None for c in self.by_token.values()):
            self._beat_soon()

    def _beat_child(self, child: ChildRecord) -> None:
        if not child.awaiting:
            child.awaiting = True
            self.send(child.address, Heartbeat(child.token))
            return
        child.missed += 1  # one heartbeat out at a time (rule 2): count the interval instead
        if child.missed >= self.ctx.services.heartbeat[1]:
            self._lost(child, f"no answer to heartbeats for {child.missed} intervals from node {child.node}")

    @handler
    def _heartbeat_answered(self, message: HeartbeatAck) -> None:
        child = self.by_token.get(message.token) if isinstance(message.token, int) else None
        if child is not None and self.sender == child.address:
            child.missed, child.awaiting = 0, False
            return
        # An instance this supervisor has replaced (its node was cut off and is back): end it,
        # so that a partition never leaves two instances of one child running.
        self.ctx.count("stale_instances_ended")
        logs.emit(logging.WARNING, "stale_instance_ended", self.path, address=str(self.sender))
        self.ctx.kill(self.sender, None)

    def _lost(self, child: ChildRecord, why: str) -> None:
        """A lost instance counts as a crash: handled as that instance's exit, and it is told to end."""
        logs.emit(logging.ERROR, "child_lost", self._path(child), node=child.node, why=why)
        if child.reason is None:
            child.reason = Killed(f"heartbeat_lost: {why}")
        if child.state is not ChildState.STOPPING:
            child.state = ChildState.EXITING
        child.avoid = (child.node,) if child.node else ()
        self.ctx.kill(child.address, None)  # if it is alive after all, its lease ends it anyway
        self._instance_ended(child)
