"""A pure, synchronous model of OTP supervision, written from supervisor.erl.

It shares no code with the runtime. Each event is applied to completion, as
an OTP supervisor handles one message at a time, and the model records the
lines the probes would write: ``start <path>`` when a worker starts and
``stop <path> <reason>`` when a worker's stopping hook runs (a graceful stop,
a normal exit or a crash; not a kill or a brutal_kill).

What it covers: strategies, restart types, the intensity window, escalation
to the parent, reverse-order shutdown of nested trees, terminate_child and
start_child, children whose starts fail (OTP's try_again, and a supervisor
whose own start fails because a child's does), and the guardian above the
root (intensity 0: any exit of the root ends the system).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ABNORMAL = ("crash", "killed")


@dataclass
class WorkerSpec:
    id: str
    restart: str = "permanent"
    brutal: bool = False


@dataclass
class SupSpec:
    id: str
    strategy: str = "one_for_one"
    intensity: int = 1
    period: float = 5.0
    restart: str = "permanent"
    children: list[WorkerSpec | SupSpec] = field(default_factory=list)


Spec = WorkerSpec | SupSpec


@dataclass(eq=False)
class Child:
    spec: Spec
    alive: bool = False
    starts: int = 0
    sup: Sup | None = None  # the running supervisor, for a supervisor child


@dataclass(eq=False)
class Sup:
    spec: SupSpec
    path: str
    parent: tuple[Sup, Child] | None
    children: list[Child] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)


class Model:
    def __init__(self, root: SupSpec, now: float = 0.0) -> None:
        self.now = now
        self.lines: list[str] = []
        self.terminated = False
        self.failures: dict[str, int] = {}  # path -> how many of its next starts fail
        booted = self._boot(root, root.id, None)
        assert booted is not None, "the model starts with no failures pending"
        self.root = booted

    # Queries.

    def snapshot(self) -> tuple:
        """Per supervisor, in start order: (id, alive, restarts, nested snapshot or None)."""
        return _snapshot(self.root)

    def workers(self) -> list[str]:
        return [path for path, child in self._walk(self.root) if child.alive and isinstance(child.spec, WorkerSpec)]

    def supervisors(self) -> list[str]:
        """Running supervisors, the root included."""
        found = [self.root.path]
        found += [path for path, child in self._walk(self.root) if child.alive and isinstance(child.spec, SupSpec)]
        return found

    def ids(self) -> set[str]:
        return {path.rpartition("/")[2] for path, _ in self._walk(self.root)}

    def _walk(self, sup: Sup) -> list[tuple[str, Child]]:
        found = []
        for child in sup.children:
            found.append((f"{sup.path}/{child.spec.id}", child))
            if child.sup is not None:
                found.extend(self._walk(child.sup))
        return found

    def _find(self, path: str) -> tuple[Sup, Child]:
        parent_path, _, id = path.rpartition("/")
        sup = self._sup(parent_path)
        return sup, next(child for child in sup.children if child.spec.id == id)

    def _sup(self, path: str) -> Sup:
        if path == self.root.path:
            return self.root
        _, child = self._find(path)
        assert child.sup is not None, f"{path} is not a running supervisor"
        return child.sup

    # Events from outside.

    def crash(self, path: str) -> None:
        self.lines.append(f"stop {path} crash")
        self._exited(*self._find(path), "crash")

    def normal_exit(self, path: str) -> None:
        self.lines.append(f"stop {path} normal")
        self._exited(*self._find(path), "normal")

    def kill(self, path: str) -> None:
        """kill -9 of a worker or a supervisor process (its subtree dies with it, silently)."""
        self._exited(*self._find(path), "killed")

    def terminate_child(self, sup_path: str, id: str) -> None:
        sup = self._sup(sup_path)
        child = next(child for child in sup.children if child.spec.id == id)
        self._terminate(sup, child)
        self._let_go(sup, child)

    def start_child(self, sup_path: str, spec: Spec) -> None:
        sup = self._sup(sup_path)
        child = Child(spec)
        sup.children.append(child)
        if not self._start(sup, child):
            sup.children.remove(child)  # start_child returns an error and keeps nothing

    def fail_next_starts(self, path: str, count: int) -> None:
        self.failures[path] = count

    def advance(self, seconds: float) -> None:
        self.now += seconds

    # supervisor.erl.

    def _boot(self, spec: SupSpec, path: str, parent: tuple[Sup, Child] | None) -> Sup | None:
        """init_children: start in order; if one fails, stop the started ones and fail."""
        sup = Sup(spec, path, parent, [Child(child) for child in spec.children])
        for index, child in enumerate(sup.children):
            if not self._start(sup, child):
                for started in reversed(sup.children[:index]):
                    self._terminate(sup, started)
                return None
        return sup

    def _start(self, sup: Sup, child: Child) -> bool:
        path = f"{sup.path}/{child.spec.id}"
        if isinstance(child.spec, SupSpec):
            child.sup = self._boot(child.spec, path, (sup, child))
            if child.sup is None:
                return False
        elif self.failures.get(path, 0) > 0:
            self.failures[path] -= 1
            return False
        else:
            self.lines.append(f"start {path}")
        child.alive = True
        child.starts += 1
        return True

    def _exited(self, sup: Sup, child: Child, reason: str) -> None:
        """do_restart/3: a child's process has ended with ``reason``."""
        child.alive, child.sup = False, None
        restart = child.spec.restart
        if restart == "permanent" or (restart == "transient" and reason in ABNORMAL):
            self._restart(sup, child)
        else:
            self._let_go(sup, child)

    def _restart(self, sup: Sup, child: Child) -> None:
        if not self._add_restart(sup):
            self._let_go(sup, child)
            self._shut_down(sup)
            if sup.parent is None:
                self.terminated = True  # the guardian (intensity 0) ends the system
            else:
                self._exited(*sup.parent, "shutdown")
            return
        group = self._group(sup, child)
        for other in reversed(group):
            if other is not child:
                self._terminate(sup, other)
                self._let_go(sup, other)  # terminate_children drops temporary children too
        for member in group:
            if member in sup.children and not self._start(sup, member):
                # try_again: the failed child is restarted (and counted) again, with its group
                self._restart(sup, member)
                return

    def _add_restart(self, sup: Sup) -> bool:
        sup.restarts = [t for t in sup.restarts if t >= self.now - sup.spec.period] + [self.now]
        return len(sup.restarts) <= sup.spec.intensity

    @staticmethod
    def _group(sup: Sup, child: Child) -> list[Child]:
        if sup.spec.strategy == "one_for_all":
            return list(sup.children)
        if sup.spec.strategy == "rest_for_one":
            return sup.children[sup.children.index(child) :]
        return [child]

    def _terminate(self, sup: Sup, child: Child) -> None:
        """do_terminate/2: stop a running child by its shutdown policy."""
        if not child.alive:
            return
        path = f"{sup.path}/{child.spec.id}"
        if child.sup is not None:
            self._shut_down(child.sup)
        elif not child.spec.brutal:
            self.lines.append(f"stop {path} shutdown")
        child.alive, child.sup = False, None

    def _shut_down(self, sup: Sup) -> None:
        for child in reversed(list(sup.children)):
            self._terminate(sup, child)

    @staticmethod
    def _let_go(sup: Sup, child: Child) -> None:
        """del_child: a temporary child's spec is dropped; others keep theirs."""
        if child.spec.restart == "temporary" and child in sup.children:
            sup.children.remove(child)


def _snapshot(sup: Sup) -> tuple:
    return tuple(
        (child.spec.id, child.alive, max(0, child.starts - 1), _snapshot(child.sup) if child.sup else None)
        for child in sup.children
    )
