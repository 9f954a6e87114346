"""Nodes in network namespaces of their own, joined by a veth link: a real network between them.

Each node binds its veth address (not loopback), so each needs the cluster
secret. The link is cut with ``ip link set ... down``: a partition no
process can tell from a lost machine. Skipped, with the reason, where
namespaces cannot be made (not root, no ``ip``, no CAP_SYS_ADMIN).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster_nodes import Cluster, Node, counters_tree
from .conftest import assert_all_gone, wait_until

pytestmark = [pytest.mark.tcp, pytest.mark.slow]


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


class Link:
    """Two namespaces, ``<tag>a`` (10.77.N.1) and ``<tag>b`` (10.77.N.2), and the veth pair between them."""

    def __init__(self) -> None:
        n = os.getpid() % 250 + 1
        self.tag = f"omega{os.getpid()}"
        self.a, self.b = f"{self.tag}a", f"{self.tag}b"
        self.address = {self.a: f"10.77.{n}.1", self.b: f"10.77.{n}.2"}

    def up(self) -> str | None:
        """Make it; the reason it cannot be made, if so."""
        if shutil.which("ip") is None:
            return "no `ip` command (iproute2)"
        steps = [("netns", "add", self.a), ("netns", "add", self.b),
                 ("link", "add", f"{self.tag}x", "type", "veth", "peer", "name", f"{self.tag}y"),
                 ("link", "set", f"{self.tag}x", "netns", self.a), ("link", "set", f"{self.tag}y", "netns", self.b)]  # fmt: skip
        for namespace, device in ((self.a, f"{self.tag}x"), (self.b, f"{self.tag}y")):
            steps += [("-n", namespace, "addr", "add", f"{self.address[namespace]}/24", "dev", device),
                      ("-n", namespace, "link", "set", device, "up"), ("-n", namespace, "link", "set", "lo", "up")]  # fmt: skip
        for step in steps:
            result = ip(*step)
            if result.returncode != 0:
                return f"`ip {' '.join(step)}` failed: {result.stderr.strip()}"
        return None

    def cut(self, up: bool) -> None:
        result = ip("-n", self.b, "link", "set", f"{self.tag}y", "up" if up else "down")
        assert result.returncode == 0, result.stderr

    def down(self) -> None:
        ip("netns", "del", self.a)
        ip("netns", "del", self.b)  # the veth pair goes with its namespaces


@pytest.fixture
def link() -> Iterator[Link]:
    made = Link()
    reason = made.up()
    try:
        if reason is not None:
            pytest.skip(f"network namespaces are not available here: {reason}")
        yield made
    finally:
        made.down()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    secret = tmp_path / "cluster.key"
    secret.write_bytes(os.urandom(32).hex().encode())
    secret.chmod(0o600)
    nodes = Cluster(tmp_path, secret_file=secret)
    try:
        yield nodes
    finally:
        nodes.close()


def ask(cluster: Cluster, leader: Node, name: str) -> dict | None:  # type: ignore[type-arg]
    """Bump ``name`` from inside the leader's namespace; None if it did not answer."""
    command = [*leader.prefix, sys.executable, "-m", "tests.runtime.cluster_ask", leader.bind, str(leader.admin_port),
               str(cluster.secret_file), name]  # fmt: skip
    result = subprocess.run(command, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_across_a_veth_link_a_child_is_placed_on_the_far_node_and_a_cut_link_moves_it_without_duplicates(
    link: Link, cluster: Cluster
) -> None:
    in_a, in_b = ("ip", "netns", "exec", link.a), ("ip", "netns", "exec", link.b)
    tree = counters_tree(("w0", '{ role = "worker" }'))
    leader = cluster.start(cluster.node("lead", tree, bind=link.address[link.a], prefix=in_a), "--capability", "role=spare", wait=False)
    far = cluster.start(cluster.node("far", bind=link.address[link.b], prefix=in_b), "--leader", leader.address, "--capability", "role=worker")
    leader.wait_started()
    first = wait_until(lambda: ask(cluster, leader, "w0"), timeout=60, what="w0 to answer")
    assert first["node"] == "far"  # type: ignore[index]  # across the link, the only member with role = worker
    # No worker is left once the link is cut: the child waits for one; the cut-off instance ends itself.
    link.cut(up=False)
    try:
        assert_all_gone({first["pid"]})  # type: ignore[index]  # its lease ran out on the far side
    finally:
        link.cut(up=True)
    again = wait_until(lambda: ask(cluster, leader, "w0"), timeout=90, what="w0 back across the healed link")
    assert again["node"] == "far" and again["pid"] != first["pid"]  # type: ignore[index]
    assert again["count"] == first["count"] + 1  # type: ignore[index]  # from the checkpoint, one instance
    assert far.process is not None and far.process.poll() is None
