"""Runtime fixtures: a runtime per test on each system base, always shut down,
and proof afterwards that none of its processes is left."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omega_actors.runtime import Runtime, SupervisorSpec, SystemConfig, TreeNode
from omega_actors.runtime.processes import parent_of, start_time

BASES = ["simple", pytest.param("tcp", marks=pytest.mark.tcp)]


def wait_until(condition: Callable[[], object], runtime: Runtime | None = None, timeout: float = 30.0, what: str = "") -> object:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds.

    The timeout only bounds a failure: a passing test never waits for it. On
    the simple base, pumping the runtime is what lets timers fire.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        if runtime is not None and runtime.base == "simple":
            runtime.pump(0.002)
        else:
            time.sleep(0.002)


def pids_of(tree: TreeNode) -> set[int]:
    return {node.pid for node in tree.walk() if node.pid}


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def assert_all_gone(pids: set[int]) -> None:
    wait_until(lambda: not [pid for pid in pids if alive(pid)], timeout=30, what=f"processes {sorted(pids)} to end")


@pytest.fixture(params=BASES)
def base(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Start runtimes; each is shut down after the test and must leave no process."""
    started: list[Runtime] = []

    def start(tree: SupervisorSpec, base: str = "simple", **config: object) -> Runtime:
        config.setdefault("data_dir", str(tmp_path / "omega"))
        runtime = Runtime.start(tree, SystemConfig(base=base, **config))  # type: ignore[arg-type]
        started.append(runtime)
        return runtime

    yield start
    leftovers: set[int] = set()
    for runtime in started:
        pids: set[int] = set()
        try:
            if runtime.base == "tcp":
                tree = runtime.tree()
                admin = parent_of(tree.pid) if tree.pid else None
                pids = pids_of(tree) | ({admin} if admin else set())
        except Exception:
            pass  # a test may have ended the system; shutdown must still run
        finally:
            runtime.shutdown()
        leftovers |= pids
    if leftovers:
        assert_all_gone(leftovers - {os.getpid()})


@pytest.fixture
def probe_log(tmp_path: Path) -> str:
    return str(tmp_path / "probe.log")
