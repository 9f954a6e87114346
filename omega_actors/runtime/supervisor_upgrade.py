"""A running supervisor takes a new spec in place: the supervisor's half of hot reload.

:mod:`.reconfigure` decides what changes; this carries it out as one
operation, in order behind whatever the supervisor is doing (like every
request, see :mod:`.supervisor_requests`):

1. removed children are stopped in reverse start order, for good;
2. the flags are taken (the restart window keeps its history);
3. in the new start order: children whose supervisor-side fields changed are
   updated, changed children are stopped and started with their new spec,
   nested supervisors are sent their new spec and answer when done, and new
   children are started.

A start that fails stops the operation there, and the answer says so. The
caller then sends the previous spec the same way: each supervisor compares
that with the specs it now holds, so the same path repairs a half-applied
change (see :mod:`omega_actors.reload`).

A child keeps its checkpoint across a change unless its actor class
changed. A child whose name is kept has its mail held by the registry while
it restarts, as in any restart.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ._context import SystemActor
from .actor import handler
from .child_record import ChildRecord
from .child_spec import ChildSpec
from .exits import ExitReason
from .introspection import ChildState
from .messages import Address, Reconfigure, Reconfigured
from .operations import Operation, OperationQueue, Wait
from .reconfigure import plan_level
from .supervisor_spec import SupervisorSpec, nested_spec, revalidated

if TYPE_CHECKING:
    from .intensity import RestartWindow


class SupervisorUpgrade(SystemActor):
    """Reconfiguration handlers of :class:`~.supervisor.Supervisor`."""

    spec: SupervisorSpec
    children: list[ChildRecord]
    by_token: dict[int, ChildRecord]
    ops: OperationQueue
    window: RestartWindow

    if TYPE_CHECKING:  # provided by Supervisor

        def _start(self, child: ChildRecord) -> Operation: ...
        def _terminate(self, child: ChildRecord) -> Operation: ...
        def _handle_exit(self, child: ChildRecord, generation: int, reason: ExitReason) -> Operation: ...

    def current_spec(self) -> SupervisorSpec:
        """This supervisor's spec as it stands: its flags and the specs it holds for its children.

        A dynamic supervisor's children came from ``start_child``, not from
        its spec, so they are not part of it.
        """
        children = () if self.spec.dynamic else tuple(child.spec for child in self.children)
        return replace(self.spec, children=children)

    @handler
    def _reconfigure(self, message: Reconfigure) -> Reconfigured | None:
        if self.sender != self.ctx.parent:
            self.ctx.count("rejected")
            return Reconfigured(False, error="only a supervisor's parent may reconfigure it")
        requester = self.sender
        self.ops.run(lambda: self._reconfigure_op(message.spec, requester))
        return None

    def _reconfigure_op(self, spec: Any, requester: Address) -> Operation:
        outcome = yield from self.take_spec(spec)
        self.send(requester, outcome)

    def take_spec(self, spec: Any) -> Operation:
        """Bring this supervisor and its subtree to ``spec``; the outcome is a Reconfigured."""
        try:
            new = revalidated(spec)
        except Exception as exc:  # a malformed spec is refused, never a crash
            return Reconfigured(False, error=f"bad spec: {exc}")
        if new.dynamic != self.spec.dynamic:
            return Reconfigured(False, error=f"{self.path or 'the guardian'}: dynamic cannot change in place")
        plan = plan_level(self.current_spec(), new)
        for child in reversed([c for c in self.children if c.spec.id in plan.remove]):
            child.leaving = True
            yield from self._terminate(child)
            if child in self.children:
                self.children.remove(child)
        self._take_flags(new)
        if self.spec.dynamic:
            return Reconfigured(True, tuple(_flag_changes(self.path, plan.flags)))
        by_id = {child.spec.id: child for child in self.children}
        self.children = [by_id.get(child.id) or ChildRecord(child) for child in new.children]
        changes = [*(f"- {self._at(id)}" for id in plan.remove), *_flag_changes(self.path, plan.flags)]
        for child, child_spec in zip(list(self.children), new.children, strict=True):
            id = child_spec.id
            if id in plan.update:
                child.spec = child_spec
                failure = None
            elif id in plan.restart:
                failure = yield from self._replace_instance(child, child_spec)
            elif id in plan.nested:
                failure = yield from self.reconfigure_child(child, child_spec, changes)
            elif id in plan.add:
                outcome = yield from self._start(child)
                failure = None if outcome is True else outcome.summary()
            else:
                continue
            if failure is not None:
                return Reconfigured(False, tuple(changes), f"{self._at(id)}: {failure}")
            if id not in plan.nested:
                kind = "+" if id in plan.add else "~" if id in plan.restart else "="
                changes.append(f"{kind} {self._at(id)}")
        return Reconfigured(True, tuple(changes))

    def _take_flags(self, new: SupervisorSpec) -> None:
        # The clock is the runtime's, not the config's.
        self.spec = replace(new, clock=self.spec.clock, children=self.spec.children)
        self.window.intensity, self.window.period = new.intensity, new.period

    def _replace_instance(self, child: ChildRecord, spec: ChildSpec) -> Operation:
        """Stop the instance and start one from ``spec``; None, or why the start failed."""
        index = self.children.index(child)
        child.leaving = spec.name != child.spec.name  # a name that goes is released for good
        yield from self._terminate(child)
        if child not in self.children:  # a temporary child is dropped when stopped
            self.children.insert(index, child)
        if spec.start.target != child.spec.start.target:
            child.checkpoint = None  # another class: the old state may not fit it
        child.spec = spec
        outcome = yield from self._start(child)
        return None if outcome is True else outcome.summary()

    def reconfigure_child(self, child: ChildRecord, spec: ChildSpec, changes: list[str]) -> Operation:
        """Hand a supervisor child its new nested spec; None, or why it stopped part way."""
        child.spec = spec  # what any later instance starts with, whatever happens next
        if child.state is not ChildState.RUNNING:
            return None
        self.send(child.address, Reconfigure(nested_spec(spec)))
        reply = yield Wait("reconfigure", child.token)
        if isinstance(reply, ExitReason):
            # It ended meanwhile: its exit is handled as any other, after this operation.
            child.state = ChildState.EXITED
            generation = child.generation
            self.ops.later(lambda: self._handle_exit(child, generation, reply))
            return f"exited while reconfiguring: {reply.summary()}"
        changes.extend(reply.changes)
        return None if reply.ok else reply.error

    @handler
    def _child_reconfigured(self, message: Reconfigured) -> None:
        child = next((c for c in self.by_token.values() if c.address == self.sender), None)
        if child is None or not isinstance(message.changes, tuple):
            self.ctx.count("stale_child_messages")
            return
        self.ops.resume("reconfigure", child.token, message)

    def _at(self, id: str) -> str:
        return f"{self.path}/{id}" if self.path else id


def _flag_changes(path: str, flags: tuple[str, ...]) -> list[str]:
    return [f"^ {path} ({', '.join(flags)})"] if flags else []
