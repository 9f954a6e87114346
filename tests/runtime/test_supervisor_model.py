"""The real supervisor, driven by Hypothesis, against a pure model of OTP.

Each example builds a random tree (strategies, intensities, restart types,
nested supervisors), starts it on a real actor system, and applies random
events: crashes (some followed by failing restarts), normal exits, kill -9 of
workers and of supervisor processes (TCP), terminate_child, start_child of
workers and of whole subtrees, and moves of the shared clock that the
restart windows read.

After every step the test waits (on events: the probes' log and the live
tree, never a sleep) until the system has settled, then requires:

- the lines the workers wrote since the last step are exactly the model's,
  in order: which instances started and stopped, why, and in which order
  (restarts, escalations, reverse-order shutdowns);
- the live tree matches the model: which children exist, which run, and how
  often each restarted;
- the system has ended exactly when the model says the root gave up.

Children can also be made to fail their next starts, which drives OTP's
try_again and supervisors whose own start fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from omega_actors.runtime import (
    BRUTAL_KILL,
    FileClock,
    Runtime,
    Supervisor,
    SupervisorSpec,
    SystemConfig,
)
from omega_actors.runtime.processes import parent_of

from .conftest import assert_all_gone, pids_of, wait_until
from .otp_model import Model, Spec, SupSpec, WorkerSpec
from .probes import Boom, Probe, Quit, fail_next_starts, read_lines

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
RESTARTS = ("permanent", "transient", "temporary")


def worker_specs(ids: st.SearchStrategy[str]) -> st.SearchStrategy[WorkerSpec]:
    return st.builds(WorkerSpec, id=ids, restart=st.sampled_from(RESTARTS), brutal=st.booleans())


def sup_specs(ids: st.SearchStrategy[str], depth: int) -> st.SearchStrategy[SupSpec]:
    child = worker_specs(ids) if depth == 0 else st.one_of(worker_specs(ids), sup_specs(ids, depth - 1))
    return st.builds(
        SupSpec,
        id=ids,
        strategy=st.sampled_from(STRATEGIES),
        intensity=st.integers(0, 3),
        period=st.sampled_from([1.0, 5.0, 30.0]),
        restart=st.sampled_from(RESTARTS),
        children=st.lists(child, min_size=1, max_size=3),
    )


def to_runtime(spec: Spec, log: str, clock: FileClock):
    if isinstance(spec, WorkerSpec):
        return Probe.child_spec(spec.id, log, restart=spec.restart, shutdown=BRUTAL_KILL if spec.brutal else 5.0)
    return Supervisor.child_spec(spec.id, sup_spec(spec, log, clock), restart=spec.restart)


def sup_spec(spec: SupSpec, log: str, clock: FileClock) -> SupervisorSpec:
    children = tuple(to_runtime(child, log, clock) for child in spec.children)
    return SupervisorSpec(spec.strategy, spec.intensity, spec.period, children=children, clock=clock)


def real_snapshot(node) -> tuple:
    return tuple(
        (child.id, child.state == "running", child.restarts, real_snapshot(child) if child.type == "supervisor" and child.state == "running" else None)
        for child in node.children
    )


class SupervisionMachine(RuleBasedStateMachine):
    base = "simple"

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="omega-model-")
        self.log = os.path.join(self.dir, "probe.log")
        self.clock = FileClock.create(os.path.join(self.dir, "clock"), start=1000.0)
        self.runtime: Runtime | None = None
        self.seen = 0
        self.counter = 0

    def unique_ids(self) -> st.SearchStrategy[str]:
        return st.builds(self._next_id)

    def _next_id(self) -> str:
        self.counter += 1
        return f"c{self.counter}"

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        root = data.draw(sup_specs(self.unique_ids(), depth=1))
        root.id, root.restart = "app", "permanent"
        self.model = Model(root, now=self.clock.now())
        config = SystemConfig(base=self.base, data_dir=os.path.join(self.dir, "omega"))
        self.runtime = Runtime.start(sup_spec(root, self.log, self.clock), config, root_id="app")
        self.settle()

    # Events.

    @precondition(lambda self: not self.model.terminated and self.model.workers())
    @rule(data=st.data())
    def crash_a_worker(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(self.model.workers()))
        self.runtime.tell(self.node(path).address, Boom())
        self.model.crash(path)
        self.settle()

    @precondition(lambda self: not self.model.terminated and self.model.workers())
    @rule(data=st.data(), failures=st.integers(1, 3))
    def a_worker_crashes_and_its_next_starts_fail(self, data: st.DataObject, failures: int) -> None:
        path = data.draw(st.sampled_from(self.model.workers()))
        fail_next_starts(self.log, path, failures)
        self.model.fail_next_starts(path, failures)
        self.runtime.tell(self.node(path).address, Boom())
        self.model.crash(path)
        self.settle()

    @precondition(lambda self: not self.model.terminated and self.model.workers())
    @rule(data=st.data())
    def a_worker_exits_normally(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(self.model.workers()))
        self.runtime.tell(self.node(path).address, Quit())
        self.model.normal_exit(path)
        self.settle()

    def processes(self) -> list[str]:
        """Workers and supervisors below the root: what kill -9 may hit."""
        return self.model.workers() + self.model.supervisors()[1:]

    @precondition(lambda self: self.base == "tcp" and not self.model.terminated and self.processes())
    @rule(data=st.data())
    def kill_9_a_process(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(self.processes()))
        os.kill(self.node(path).pid, signal.SIGKILL)
        self.model.kill(path)
        self.settle()

    @precondition(lambda self: not self.model.terminated)
    @rule(data=st.data())
    def terminate_a_child(self, data: st.DataObject) -> None:
        sup = data.draw(st.sampled_from(self.model.supervisors()))
        ids = [child.spec.id for child in self.model._sup(sup).children]
        if not ids:
            return
        id = data.draw(st.sampled_from(ids))
        self.runtime.terminate_child(sup, id)
        self.model.terminate_child(sup, id)
        self.settle()

    @precondition(lambda self: not self.model.terminated)
    @rule(data=st.data())
    def start_a_child(self, data: st.DataObject) -> None:
        sup = data.draw(st.sampled_from(self.model.supervisors()))
        spec = data.draw(st.one_of(worker_specs(self.unique_ids()), sup_specs(self.unique_ids(), depth=0)))
        self.runtime.start_child(sup, to_runtime(spec, self.log, self.clock))
        self.model.start_child(sup, spec)
        self.settle()

    @rule(seconds=st.sampled_from([0.5, 2.0, 10.0, 60.0]))
    def advance_the_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.advance(seconds)

    # Observation.

    def node(self, path: str):
        node = self.runtime.tree().find(path)
        assert node is not None and node.state == "running", f"{path} is not running: {node}"
        return node

    def settle(self) -> None:
        """Wait until the system has done what the model did, then compare exactly."""
        expected = self.model.lines[self.seen :]
        want_tree = None if self.model.terminated else self.model.snapshot()
        last: dict[str, object] = {}

        def settled() -> bool:
            lines = read_lines(self.log)[self.seen :]
            tree = self.runtime.tree()
            last.update(lines=lines, tree=tree)
            if self.model.terminated:
                return tree.terminated is not None and len(lines) >= len(expected)
            app = tree.find("app")
            last["snapshot"] = real_snapshot(app) if app else None
            return app is not None and last["snapshot"] == want_tree and len(lines) >= len(expected)

        try:
            wait_until(settled, self.runtime, timeout=5 if self.base == "simple" else 30, what="the model's state")
        except AssertionError:
            raise AssertionError(
                f"the system did not reach the model's state\n"
                f"model lines: {expected}\nreal lines:  {last.get('lines')}\n"
                f"model tree: {want_tree}\nreal tree:  {last.get('snapshot')}"
            ) from None
        assert last["lines"] == expected, f"\nmodel lines: {expected}\nreal lines:  {last['lines']}"
        self.seen = len(self.model.lines)
        if self.model.terminated:
            assert last["tree"].terminated == "shutdown: reached_max_restart_intensity"

    @invariant()
    def nothing_happens_behind_the_models_back(self) -> None:
        if self.runtime is not None:
            assert len(read_lines(self.log)) == self.seen

    def teardown(self) -> None:
        try:
            if self.runtime is not None:
                pids: set[int] = set()
                if self.base == "tcp":
                    tree = self.runtime.tree()
                    pids = pids_of(tree) | {parent_of(tree.pid) or 0}
                self.runtime.shutdown()
                assert_all_gone(pids - {0, os.getpid()})
        finally:
            self.clock.close()
            shutil.rmtree(self.dir, ignore_errors=True)


class SimpleSupervision(SupervisionMachine):
    base = "simple"


class TcpSupervision(SupervisionMachine):
    base = "tcp"


SIMPLE = settings(max_examples=150, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TCP = settings(max_examples=10, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_supervisor_follows_the_otp_model_on_the_simple_base() -> None:
    SimpleSupervision.TestCase.settings = SIMPLE
    SimpleSupervision.TestCase().runTest()


@pytest.mark.tcp
@pytest.mark.slow
def test_the_supervisor_follows_the_otp_model_on_the_tcp_base() -> None:
    TcpSupervision.TestCase.settings = TCP
    TcpSupervision.TestCase().runTest()
