"""Nodes for multi-node tests: each one is a real `run.py start --node ...` with its own admin.

A node is killed for real (``kill -9`` of its `run.py` and of its admin's
whole process group), paused for real (SIGSTOP, a partition as its peers see
it) and always cleaned up, whatever the test did to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from omega_actors.runtime import Runtime, SystemConfig
from omega_actors.runtime.cluster_config import ClusterConfig
from omega_actors.runtime.processes import parent_of, start_time
from omega_actors.runtime.system import free_port
from tests.cli.process import ROOT

from .conftest import alive

COUNTERS = "tests.runtime.cluster_probes:Counter"
HEARTBEAT = 'heartbeat_interval = 0.1\nheartbeat_misses = 8\nplacement_wait = 60.0\n'


def counters_tree(*children: tuple[str, str]) -> str:
    """A tree of named counters, each ``(id, requirement)`` with the requirement as TOML."""
    text = "[tree]\nintensity = 50\nperiod = 5.0\n"
    for child_id, requirement in children:
        text += f'\n[[tree.children]]\nid = "{child_id}"\nstart = "{COUNTERS}"\nname = "{child_id}"\nrequires = {requirement}\n'
    return text


@dataclass
class Node:
    name: str
    config: Path
    admin_port: int
    process: subprocess.Popen[str] | None = None
    groups: dict[int, str | None] = field(default_factory=dict)  # admin process groups (and their leader's start)
    output: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    history: list[subprocess.Popen[str]] = field(default_factory=list)  # every start, for cleanup
    prefix: tuple[str, ...] = ()  # e.g. ("ip", "netns", "exec", "ns1") to run it in a namespace
    bind: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.bind}:{self.admin_port}"

    def wait_started(self, timeout: float = 90.0) -> None:
        """Wait until the node says it runs; fail with what it printed otherwise."""
        if not self.started.wait(timeout):
            raise AssertionError(f"node {self.name} did not start: {''.join(self.output)}")
        admin = self.admin_pid()  # a session leader: its group's id is its pid
        self.groups[os.getpgid(admin)] = start_time(admin)

    def read_output(self, process: subprocess.Popen[str]) -> None:
        """A thread's job: keep the node's output, and say when it has started."""
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            if line.startswith(f"node {self.name} "):
                self.started.set()

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``run.py ARGS`` where this node runs (in its network namespace, if it has one)."""
        command = [*self.prefix, sys.executable, "run.py", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict:  # type: ignore[type-arg]
        result = self.run("status", "--config", str(self.config), "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def admin_pid(self) -> int:
        admin = parent_of(self.status()["pid"])  # the admin forked the guardian
        assert admin is not None
        return admin

    def processes(self) -> set[int]:
        """Every process of this node: its run.py, its admin's group (admin, logger, actors)."""
        pids = {self.process.pid} if self.process is not None and self.process.poll() is None else set()
        groups = {group for group, started in self.groups.items() if _still_ours(group, started)}
        for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
            try:
                if os.getpgid(pid) in groups:
                    pids.add(pid)
            except ProcessLookupError:
                pass
        return pids

    def kill_9(self) -> set[int]:
        """The whole node at once, as a lost machine: nothing of it gets to say goodbye."""
        pids = self.processes()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def signal_all(self, signum: int) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


def _still_ours(group: int, started: str | None) -> bool:
    """Whether process group ``group`` is still the one our admin led.

    pids wrap quickly here (pid_max 32768 and thousands of processes per test
    run): once our group is empty, its number may lead another test's group.
    A group id is not reused while any member lives, and a new group's leader
    is the pid itself, so: ours if its leader is our admin, or has no leader.
    """
    now = start_time(group)
    return now is None or now == started


class Cluster:
    """Starts nodes under ``root`` and shuts every one of them down at the end."""

    def __init__(self, root: Path, secret_file: Path | None = None, signing: bool = True) -> None:
        self.root = root
        # The nodes of a cluster share one secret (each would make its own in its data directory otherwise).
        self.secret_file = (secret_file or _shared_secret(root)) if signing else None
        self.nodes: dict[str, Node] = {}

    def node(self, name: str, tree: str = "[tree]\n", bind: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> Node:
        config = self.root / name / "config"
        config.mkdir(parents=True, exist_ok=True)
        port = free_port()  # in a namespace of its own, any port is free: this one is on loopback too
        remote = "" if bind == "127.0.0.1" else f'bind = "{bind}"\nallow_remote = true\n'
        (config / "system.toml").write_text(
            f'[system]\nbase = "tcp"\n{remote}admin_port = {port}\ndata_dir = "{self.root / name / "data"}"\nlog_level = "INFO"\n'
        )
        (config / "cluster.toml").write_text(f"[cluster]\n{HEARTBEAT}{self._signing()}")
        (config / "tree.toml").write_text(tree)
        node = Node(name, config, port, prefix=prefix, bind=bind)
        self.nodes[name] = node
        return node

    def start(self, node: Node, *flags: str, wait: bool = True) -> Node:
        node.output, node.started = [], threading.Event()
        node.process = subprocess.Popen(
            [*node.prefix, sys.executable, "run.py", "start", "--config", str(node.config), "--node", node.name, *flags],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        node.history.append(node.process)
        threading.Thread(target=node.read_output, args=(node.process,), daemon=True).start()
        if wait:
            node.wait_started()
        return node

    def connect(self, node: Node) -> Runtime:
        cluster = ClusterConfig(secret_file=str(self.secret_file)) if self.secret_file else ClusterConfig(signing=False)
        return Runtime.connect(node.admin_port, SystemConfig(base="tcp", cluster=cluster))

    def _signing(self) -> str:
        return f'secret_file = "{self.secret_file}"\n' if self.secret_file else "signing = false\n"

    def close(self) -> None:
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is None:
                node.signal_all(signal.SIGCONT)  # a paused node cannot stop
                try:  # an orderly stop if it comes; the kill below either way
                    node.run("stop", "--config", str(node.config), timeout=60)
                    node.process.wait(30)
                except subprocess.TimeoutExpired:
                    pass
        for node in self.nodes.values():
            node.kill_9()  # whatever did not stop in order
            if node.process is not None:
                node.process.wait(30)
            for process in node.history:
                process.wait(30)
                process.stdout.close()  # type: ignore[union-attr]
        leftovers = [pid for node in self.nodes.values() for pid in node.processes() if alive(pid)]
        assert not leftovers, f"processes left behind: {leftovers}"


def _shared_secret(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "cluster.secret"
    path.write_bytes(os.urandom(32).hex().encode())
    path.chmod(0o600)
    return path
