"""The guardian: the supervisor at the top of every running system.

Its children, in start order, are the registry, the event bus, the cluster
actor (:mod:`.cluster`) and the application's root supervisor, under ``rest_for_one``: if the registry
restarts, everything after it restarts too and learns its new address.

Like an OTP application master for a permanent application, the guardian
does not outlive its tree: past its restart intensity (0 by default, so the
first exit of the application root ends the system) it stops everything and
stays behind as a tombstone that answers ``GetTree`` with the reason, so
``python run.py status`` and :class:`~omega_actors.runtime.system.Runtime`
can say why the system ended.

It is where a new configuration enters a running tree
(``ReconfigureChild``, see :mod:`.supervisor_upgrade`). While one is being
applied, it holds tree queries and answers them once the change is done, so
``status`` shows the tree before or after a change, never half of one.

It also watches the process that started the system: when that process
dies without shutting down (a killed test run, a killed ``run.py``), the
guardian kills the system's whole process group, admin and logger included,
so no admin outlives its owner and keeps serving old code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from . import logs
from .actor import handler
from .child_record import ChildRecord
from .exits import ExitReason, Shutdown
from .introspection import ChildState, TreeNode
from .messages import (
    Address,
    CurrentSpec,
    GetSpec,
    GetTree,
    ReconfigureChild,
    Reconfigured,
    StartFailed,
    Stop,
    Stopped,
)
from .operations import Operation
from .processes import running
from .supervisor import Supervisor
from .supervisor_spec import SupervisorSpec, nested_spec, revalidated, with_nested

REGISTRY_ID = "registry"
BUS_ID = "event_bus"
CLUSTER_ID = "cluster"
SYSTEM_IDS = (REGISTRY_ID, BUS_ID, CLUSTER_ID)
_SERVICE_FIELDS = {REGISTRY_ID: "registry", BUS_ID: "bus", CLUSTER_ID: "cluster"}
OWNER_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _CheckOwner:
    pass


class Guardian(Supervisor):
    def __init__(self, spec: SupervisorSpec, owner_pid: int | None = None) -> None:
        super().__init__(spec)
        self.owner_pid = owner_pid
        self.terminated: ExitReason | None = None
        self._stop_askers: list[Address] = []
        self._reconfiguring = False
        self._held_tree_askers: list[Address] = []
        self._reconfigure_askers: list[Address] = []  # answered even if the system ends first

    def started(self) -> None:
        super().started()
        if self.owner_pid is not None and self.ctx.isolated:
            self.send_after(OWNER_CHECK_SECONDS, _CheckOwner())

    @handler
    def _check_owner(self, message: _CheckOwner) -> None:
        if self.sender != self.address or self.terminated is not None:
            return
        if self.owner_pid is None or running(self.owner_pid):
            self.send_after(OWNER_CHECK_SECONDS, _CheckOwner())
            return
        # Nobody is left to wait for an orderly stop, and Thespian's own shutdown
        # can hang: kill the admin's whole process group, this process included.
        logs.emit(logging.ERROR, "owner_gone", self.path, owner_pid=self.owner_pid)
        self.ctx.end_system_now()

    @handler
    def _stop_requested(self, message: Stop) -> None:  # type: ignore[override]
        # The guardian is the system's own control point: the runtime that
        # started it, or an operator's `run.py`, may stop it.
        if self.terminated is not None:
            self.send(self.sender, Stopped(self.terminated))
            return
        self._stop_askers.append(self.sender)
        if len(self._stop_askers) == 1:
            self.ops.run(lambda: self._shut_down(Shutdown()))

    @handler
    def _reconfigure_child_requested(self, message: ReconfigureChild) -> Reconfigured | None:
        # Like Stop, the guardian takes this from the runtime or an operator's `run.py`.
        if self.terminated is not None:
            return Reconfigured(False, error=f"the system has ended: {self.terminated.summary()}")
        requester = self.sender
        self._reconfigure_askers.append(requester)
        self.ops.run(lambda: self._reconfigure_child_op(message, requester))
        return None

    def _reconfigure_child_op(self, message: ReconfigureChild, requester: Address) -> Operation:
        child = self._find(message.id)
        if child is None or nested_spec(child.spec) is None:
            self._answer(requester, Reconfigured(False, error=f"no supervisor child {message.id!r}"))
            return
        try:
            spec = with_nested(child.spec, revalidated(message.spec))
        except Exception as exc:  # a malformed spec is refused, never a crash
            self._answer(requester, Reconfigured(False, error=f"bad spec: {exc}"))
            return
        self._reconfiguring = True
        changes: list[str] = []
        try:
            failure = yield from self.reconfigure_child(child, spec, changes)
        finally:
            self._reconfiguring = False
            held, self._held_tree_askers = self._held_tree_askers, []
            for asker in held:
                self.gather_tree(asker)
        reply = Reconfigured(failure is None, tuple(changes), failure or "")
        if child.state is ChildState.EXITED:
            # The child ended part way; its exit is handled first, so the answer says
            # whether the system survived it (if not, _exit answers instead).
            self.ops.later(lambda: self._answer_op(requester, reply))
        else:
            self._answer(requester, reply)

    def _answer_op(self, requester: Address, reply: Reconfigured) -> Operation:
        self._answer(requester, reply)
        yield from ()

    def _answer(self, requester: Address, reply: Reconfigured) -> None:
        self._reconfigure_askers.remove(requester)
        self.send(requester, reply)

    @handler
    def _spec_requested(self, message: GetSpec) -> CurrentSpec:
        child = self._find(message.id)
        return CurrentSpec(None if child is None else nested_spec(child.spec))

    @handler
    def _tree_requested(self, message: GetTree) -> None:  # type: ignore[override]
        if self._reconfiguring:
            self._held_tree_askers.append(self.sender)
        else:
            self.gather_tree(self.sender)

    def _exit(self, reason: ExitReason) -> None:
        self.ops.close()
        self.terminated = reason
        requested = bool(self._stop_askers)
        logs.emit(logging.INFO if requested else logging.ERROR, "system_terminated", "", reason=reason.summary())
        for asker in self._stop_askers:
            self.send(asker, Stopped(reason))
        for asker in self._reconfigure_askers:
            self.send(asker, Reconfigured(False, error=f"the system has ended: {reason.summary()}"))
        self._reconfigure_askers = []
        self._reconfiguring = False
        for asker in self._held_tree_askers:
            self.gather_tree(asker)
        self._held_tree_askers = []
        if not self._up and self.ctx.parent is not None:
            self.send(self.ctx.parent, StartFailed(reason, parent_pid=os.getppid()))  # the runtime waits for Started

    def _announce_up(self, child: ChildRecord) -> bool:
        if child.spec.id in SYSTEM_IDS:
            field = _SERVICE_FIELDS[child.spec.id]
            self.ctx.services = replace(self.ctx.services, **{field: child.address})  # type: ignore[arg-type]
        return super()._announce_up(child)

    def tree_node(self, subtrees: dict[int, TreeNode | None]) -> TreeNode:
        node = replace(super().tree_node(subtrees), id="omega")
        if self.terminated is None:
            return node
        return replace(node, state=ChildState.TERMINATED, terminated=self.terminated.summary())
