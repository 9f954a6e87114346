"""What a supervisor answers: OTP's child-management calls and introspection.

The second half of :class:`~.supervisor.Supervisor`, kept apart from the
restart semantics. Requests that change children (``start_child``,
``terminate_child``, ``restart_child``, ``delete_child``) run as operations,
in order behind whatever the supervisor is doing, and answer the requester
when done. Queries (``which_children``, ``count_children``, the live tree)
are answered at once from what the supervisor knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._context import SystemActor
from .actor import handler
from .child_record import ChildRecord
from .child_spec import ChildSpec
from .exits import Killed
from .introspection import (
    ChildCounts,
    ChildInfo,
    Children,
    ChildState,
    TreeNode,
)
from .messages import (
    Address,
    ChildStarted,
    CountChildren,
    DeleteChild,
    Done,
    GetTree,
    KillChild,
    Refused,
    RestartChild,
    StartChild,
    TerminateChild,
    WhichChildren,
)
from .operations import Operation, OperationQueue
from .supervisor_spec import SupervisorSpec, revalidated_child

TREE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _TreeTimeout:
    round: int


class SupervisorRequests(SystemActor):
    """Request and query handlers of :class:`~.supervisor.Supervisor`."""

    spec: SupervisorSpec
    children: list[ChildRecord]
    by_token: dict[int, ChildRecord]
    ops: OperationQueue

    if TYPE_CHECKING:  # provided by Supervisor

        def _start(self, child: ChildRecord) -> Operation: ...
        def _terminate(self, child: ChildRecord) -> Operation: ...
        def _path(self, child: ChildRecord) -> str: ...
        def _find(self, id: Any) -> ChildRecord | None: ...

    def __init__(self) -> None:
        super().__init__()  # cooperative: Supervisor's bases each set up their own state
        self._tree_round = 0
        self._tree_waiting: dict[int, TreeNode | None] = {}
        self._tree_askers: list[Address] = []

    # Requests.

    @handler
    def _start_child(self, message: StartChild) -> None:
        requester = self.sender
        self.ops.run(lambda: self._start_child_op(message, requester))

    def _start_child_op(self, message: StartChild, requester: Address) -> Operation:
        try:
            spec = self.spec.check_child(revalidated_child(message.spec))
        except Exception as exc:  # a malformed spec is refused, never a crash
            self.send(requester, Refused("start_child", str(exc)))
            return
        refusal = self._start_refusal(spec)
        if refusal:
            self.send(requester, Refused("start_child", refusal))
            return
        child = ChildRecord(spec)
        self.children.append(child)
        outcome = yield from self._start(child)
        if outcome is True:
            self.send(requester, ChildStarted(spec.id, child.shareable_address))
        else:
            if child in self.children:
                self.children.remove(child)
            self.send(requester, Refused("start_child", f"failed to start: {outcome.summary()}"))

    def _start_refusal(self, spec: ChildSpec) -> str | None:
        existing = self._find(spec.id)
        if existing is not None:
            return "already_started" if existing.address is not None else "already_present"
        if self.spec.max_children is not None and len(self.children) >= self.spec.max_children:
            return f"max_children ({self.spec.max_children}) reached"
        return None

    @handler
    def _terminate_child(self, message: TerminateChild) -> None:
        requester = self.sender
        self.ops.run(lambda: self._terminate_child_op(message.id, requester))

    def _terminate_child_op(self, id: Any, requester: Address) -> Operation:
        child = self._find(id)
        if child is None:
            self.send(requester, Refused("terminate_child", "not_found"))
            return
        child.leaving = True
        yield from self._terminate(child)
        if self.spec.dynamic and child in self.children:
            self.children.remove(child)
        self.send(requester, Done())

    @handler
    def _kill_child(self, message: KillChild) -> Done | Refused:
        # Not an operation: it must not wait behind one, since a hung child may be what blocks it.
        child = self._find(message.id)
        if child is None or child.address is None or child.state is not ChildState.RUNNING or not isinstance(message.reason, str):
            return Refused("kill_child", "not_found" if child is None else "not_running")
        child.reason = Killed(message.reason[:200])
        self.ctx.kill(child.address, child.pid)
        return Done()

    @handler
    def _restart_child(self, message: RestartChild) -> None:
        requester = self.sender
        self.ops.run(lambda: self._restart_child_op(message.id, requester))

    def _restart_child_op(self, id: Any, requester: Address) -> Operation:
        refusal, child = self._stopped_child("restart_child", id)
        if refusal:
            self.send(requester, refusal)
            return
        assert child is not None
        outcome = yield from self._start(child)
        reply = ChildStarted(child.spec.id, child.shareable_address) if outcome is True else Refused(
            "restart_child", f"failed to start: {outcome.summary()}"
        )
        self.send(requester, reply)

    @handler
    def _delete_child(self, message: DeleteChild) -> None:
        requester = self.sender
        self.ops.run(lambda: self._delete_child_op(message.id, requester))

    def _delete_child_op(self, id: Any, requester: Address) -> Operation:
        refusal, child = self._stopped_child("delete_child", id)
        if child is not None and refusal is None:
            self.children.remove(child)
        self.send(requester, refusal or Done())
        yield from ()

    def _stopped_child(self, request: str, id: Any) -> tuple[Refused | None, ChildRecord | None]:
        if self.spec.dynamic:
            return Refused(request, "a dynamic supervisor has no stopped children to act on"), None
        child = self._find(id)
        if child is None:
            return Refused(request, "not_found"), None
        if child.state is ChildState.RESTARTING:
            return Refused(request, "restarting"), None
        if child.state is not ChildState.UNDEFINED:
            return Refused(request, "running"), None
        return None, child

    # Queries, answered at once.

    @handler
    def _which_children(self, message: WhichChildren) -> Children:
        return Children(tuple(self._info(child) for child in self.children))

    @handler
    def _count_children(self, message: CountChildren) -> ChildCounts:
        supervisors = sum(child.spec.is_supervisor for child in self.children)
        active = sum(child.address is not None for child in self.children)
        return ChildCounts(len(self.children), active, supervisors, len(self.children) - supervisors)

    def _info(self, child: ChildRecord) -> ChildInfo:
        spec = child.spec
        last = child.last_exit.summary() if child.last_exit else None
        kind = spec.type.value if spec.type else "worker"
        return ChildInfo(
            spec.id, child.state, child.shareable_address, kind, spec.restart.value, child.restarts, last,
            child.pid, spec.name, child.last_crash,
        )  # fmt: skip

    @handler
    def _tree_requested(self, message: GetTree) -> None:
        self.gather_tree(self.sender)

    def gather_tree(self, asker: Address) -> None:
        self._tree_askers.append(asker)
        if len(self._tree_askers) > 1:
            return  # a gather is under way; its answer serves every asker
        self._tree_round += 1
        running = [c for c in self.children if c.spec.is_supervisor and c.state is ChildState.RUNNING]
        self._tree_waiting = {c.token: None for c in running}
        for child in running:
            self.send(child.address, GetTree())
        if running and self.ctx.isolated:  # see _ask_to_stop: only a process can hang
            self.send_after(TREE_TIMEOUT, _TreeTimeout(self._tree_round))
        self._maybe_answer_tree()

    @handler
    def _subtree(self, message: TreeNode) -> None:
        child = next((c for c in self.by_token.values() if c.address == self.sender), None)
        if child is not None and child.token in self._tree_waiting and self._tree_askers:
            self._tree_waiting[child.token] = message
            self._maybe_answer_tree()

    @handler
    def _tree_timed_out(self, message: _TreeTimeout) -> None:
        if self.sender == self.address and message.round == self._tree_round:
            self._maybe_answer_tree(force=True)

    def _maybe_answer_tree(self, force: bool = False) -> None:
        pending = [t for t, node in self._tree_waiting.items() if node is None and t in self.by_token]
        if pending and not force:
            return
        node = self.tree_node(self._tree_waiting)
        for asker in self._tree_askers:
            self.send(asker, node)
        self._tree_askers, self._tree_waiting = [], {}

    def tree_node(self, subtrees: dict[int, TreeNode | None]) -> TreeNode:
        """This supervisor as a tree node, with the subtrees its supervisor children sent."""
        nodes = []
        for child in self.children:
            sub = subtrees.get(child.token)
            info = self._info(child)
            nodes.append(
                TreeNode(
                    id=info.id, path=self._path(child), type=info.type, state=info.state, restarts=info.restarts,
                    last_exit=info.last_exit, pid=info.pid, address=info.address,
                    strategy=sub.strategy if sub else None, children=sub.children if sub else (),
                    counters=sub.counters if sub else (),
                )
            )  # fmt: skip
        counters = tuple(sorted(self.ctx.counters.items()))
        return TreeNode(
            id=self.path.rpartition("/")[2], path=self.path, type="supervisor", state=ChildState.RUNNING,
            pid=self.ctx.pid, address=self.address, strategy=self.spec.strategy.value,
            children=tuple(nodes), counters=counters,
        )  # fmt: skip


