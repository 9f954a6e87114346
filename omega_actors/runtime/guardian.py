"""The guardian: the supervisor at the top of every running system.

Its children, in start order, are the registry, the event bus and the
application's root supervisor, under ``rest_for_one``: if the registry
restarts, everything after it restarts too and learns its new address.

Like an OTP application master for a permanent application, the guardian
does not outlive its tree: past its restart intensity (0 by default, so the
first exit of the application root ends the system) it stops everything and
stays behind as a tombstone that answers ``GetTree`` with the reason, so
``python run.py status`` and :class:`~omega_actors.runtime.system.Runtime`
can say why the system ended.

It also watches the process that started the system: when that process
dies without shutting down (a killed test run, a killed ``run.py``), the
guardian kills the system's whole process group, admin and logger included,
so no admin outlives its owner and keeps serving old code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from . import logs
from .actor import handler
from .child_record import ChildRecord
from .exits import ExitReason, Shutdown
from .introspection import TreeNode
from .messages import Address, StartFailed, Stop, Stopped
from .processes import exists
from .supervisor import Supervisor
from .supervisor_spec import SupervisorSpec

REGISTRY_ID = "registry"
BUS_ID = "event_bus"
SYSTEM_IDS = (REGISTRY_ID, BUS_ID)
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

    def started(self) -> None:
        super().started()
        if self.owner_pid is not None and self.ctx.isolated:
            self.send_after(OWNER_CHECK_SECONDS, _CheckOwner())

    @handler
    def _check_owner(self, message: _CheckOwner) -> None:
        if self.sender != self.address or self.terminated is not None:
            return
        if self.owner_pid is None or exists(self.owner_pid):
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

    def _exit(self, reason: ExitReason) -> None:
        self.ops.close()
        self.terminated = reason
        requested = bool(self._stop_askers)
        logs.emit(logging.INFO if requested else logging.ERROR, "system_terminated", "", reason=reason.summary())
        for asker in self._stop_askers:
            self.send(asker, Stopped(reason))
        if not self._up and self.ctx.parent is not None:
            self.send(self.ctx.parent, StartFailed(reason))  # the runtime is waiting for Started

    def _announce_up(self, child: ChildRecord) -> bool:
        if child.spec.id in SYSTEM_IDS:
            field = "registry" if child.spec.id == REGISTRY_ID else "bus"
            self.ctx.services = replace(self.ctx.services, **{field: child.address})
        return super()._announce_up(child)

    def tree_node(self, subtrees: dict[int, TreeNode | None]) -> TreeNode:
        node = replace(super().tree_node(subtrees), id="omega")
        if self.terminated is None:
            return node
        return replace(node, state="terminated", terminated=self.terminated.summary())
