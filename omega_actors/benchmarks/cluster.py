"""``python run.py bench cluster``: creating children on another node, and failing over when it dies.

Nodes are real: this process is the leader (``Runtime.start`` on the tcp
base), and each member is a ``run.py start --node ...`` process of its own,
on loopback, with the default heartbeat settings unless told otherwise.

Keys of the JSON result (the last line printed):

- ``local_create_ms_p50``: ``start_child`` of a child with no requirements,
  from the call to its first answer, on the leader: the yardstick;
- ``remote_create_ms_p50``: the same for a child that requires a capability
  only members have, so it is placed on one and created there;
- ``remote_vs_local``: their ratio, measured in the same run;
- ``failover_ms_p50``: from ``kill -9`` of the whole member a child runs on
  (its run.py, admin and actors) to that child answering from the other
  member, its checkpoint restored;
- ``heartbeat_interval_ms``, ``heartbeat_timeout_ms``: the settings used;
  the target is failover <= 3 x the heartbeat timeout, and <= 3 s.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import OmegaError
from ..runtime import (
    Actor,
    ClusterConfig,
    Runtime,
    SupervisorSpec,
    SystemConfig,
    handler,
)
from ..runtime.frame_auth import ensure_secret
from ..runtime.processes import Watched, kill_group_of, parent_of, start_time
from ..runtime.system import free_port

Progress = Callable[[str], None] | None
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Where:
    pass


@dataclass(frozen=True, slots=True)
class Here:
    node: str
    count: int


class NodeReporter(Actor):
    """Answers where it runs; counts its answers across restarts (checkpointed)."""

    def __init__(self) -> None:
        self.count = 0

    def restore(self, state: int) -> None:
        self.count = state

    @handler
    def where(self, message: Where) -> Here:
        self.count += 1
        self.checkpoint(self.count)
        return Here(os.environ.get("OMEGA_NODE", "?"), self.count)


class _Member:
    def __init__(self, root: Path, name: str, leader_port: int, cluster: ClusterConfig) -> None:
        self.name = name
        self.cluster = ClusterConfig(secret_file=cluster.secret_file, signing=cluster.signing)
        self.config = root / name / "config"
        self.config.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        data = root / name / "data"
        (self.config / "system.toml").write_text(
            f'[system]\nbase = "tcp"\nadmin_port = {self.port}\ndata_dir = "{data}"\nlog_level = "WARNING"\n'
        )
        (self.config / "tree.toml").write_text("[tree]\n")
        signing = f'secret_file = "{cluster.secret_file}"' if cluster.secret_file else f"signing = {str(cluster.signing).lower()}"
        (self.config / "cluster.toml").write_text(f"[cluster]\n{signing}\n")
        self.flags = ["--node", name, "--leader", f"127.0.0.1:{leader_port}", "--capability", "role=worker"]
        self.process: subprocess.Popen[str] | None = None
        self.admin: Watched | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "start", "--config", str(self.config), *self.flags],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(f"node {self.name} "):
                break
        else:
            raise OmegaError(f"member {self.name} did not start")
        with Runtime.connect(self.port, SystemConfig(base="tcp", cluster=self.cluster)) as attached:
            admin = parent_of(attached.tree().pid or 0)
        assert admin is not None
        self.admin = Watched(None, admin, start_time(admin))

    def kill_9(self) -> None:
        assert self.process is not None and self.admin is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self._kill_group()
        self.process.wait(30)
        self._close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:  # an orderly stop if it comes; the kills below either way
                subprocess.run([sys.executable, "run.py", "stop", "--config", str(self.config)], cwd=ROOT,
                               capture_output=True, timeout=60)  # fmt: skip
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self._close()

    def _kill_group(self) -> None:
        """The admin's group (its actors die with it), unless that pid is someone else's by now."""
        if self.admin is not None and self.admin.alive():
            kill_group_of(self.admin.pid)
        self.admin = None

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


def run(quick: bool = False, progress: Progress = None, cluster: ClusterConfig | None = None) -> dict[str, Any]:
    settings = cluster or ClusterConfig(node="lead")
    creates, rounds = (5, 2) if quick else (20, 5)
    with tempfile.TemporaryDirectory(prefix="omega-bench-cluster-") as folder:
        root = Path(folder)
        port = free_port()
        if settings.signing and settings.secret_file is None:  # the nodes of a cluster share one secret
            settings = replace(settings, secret_file=str(root / "cluster.secret"))
            ensure_secret(settings.secret_file)
        system = SystemConfig(base="tcp", admin_port=port, data_dir=str(root / "lead"), log_level="WARNING", cluster=settings)
        members = [_Member(root, name, port, settings) for name in ("m1", "m2")]
        with Runtime.start(SupervisorSpec(intensity=100, period=1.0), system) as runtime:
            try:
                for member in members:
                    member.start()
                _wait_for_members(runtime, 3)
                local = [_create_ms(runtime, f"local{i}", {}) for i in range(creates)]
                remote = [_create_ms(runtime, f"remote{i}", {"role": "worker"}) for i in range(creates)]
                if progress:
                    progress(f"create p50: local {statistics.median(local):.1f} ms, remote {statistics.median(remote):.1f} ms")
                failovers = [_failover_ms(runtime, members, round_, progress) for round_ in range(rounds)]
            finally:
                for member in members:
                    member.stop()
    timeout = settings.heartbeat_timeout
    failover = statistics.median(failovers)
    return {
        "local_create_ms_p50": round(statistics.median(local), 2),
        "remote_create_ms_p50": round(statistics.median(remote), 2),
        "remote_vs_local": round(statistics.median(remote) / statistics.median(local), 2),
        "failover_ms_p50": round(failover, 1),
        "failover_ms_max": round(max(failovers), 1),
        "heartbeat_interval_ms": round(settings.heartbeat_interval * 1000, 1),
        "heartbeat_timeout_ms": round(timeout * 1000, 1),
        "failover_vs_timeout": round(failover / (timeout * 1000), 2),
        "failover_target_met": failover <= min(3 * timeout * 1000, 3000),
    }


def _wait_for_members(runtime: Runtime, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(member.up for member in runtime.members().members) < count:
        if time.monotonic() > deadline:
            raise OmegaError(f"fewer than {count} nodes up after {timeout} s")
        time.sleep(0.05)


def _create_ms(runtime: Runtime, name: str, requires: dict[str, Any]) -> float:
    spec = NodeReporter.child_spec(name, name=name, requires=requires)
    began = time.perf_counter()
    runtime.start_child("app", spec)
    reply = runtime.ask(name, Where(), 10.0)
    elapsed = (time.perf_counter() - began) * 1000
    assert isinstance(reply, Here) and (reply.node != "lead") == bool(requires), reply
    runtime.terminate_child("app", name)
    runtime.delete_child("app", name)
    return elapsed


def _failover_ms(runtime: Runtime, members: list[_Member], round_: int, progress: Progress) -> float:
    name = f"failover{round_}"
    runtime.start_child("app", NodeReporter.child_spec(name, name=name, requires={"role": "worker"}))
    before = runtime.ask(name, Where(), 10.0)
    victim = next(member for member in members if member.name == before.node)
    began = time.perf_counter()
    victim.kill_9()
    # The registry holds messages to the name while its child restarts: one ask is enough.
    after = runtime.ask(name, Where(), 30.0)
    elapsed = (time.perf_counter() - began) * 1000
    assert isinstance(after, Here) and after.node != victim.name and after.count == before.count + 1, (before, after)
    if progress:
        progress(f"failover {round_ + 1}: {elapsed:.0f} ms ({victim.name} -> {after.node})")
    runtime.terminate_child("app", name)
    runtime.delete_child("app", name)
    victim.start()  # two members again for the next round
    _wait_for_members(runtime, 3)
    return elapsed
