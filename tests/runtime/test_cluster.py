"""Several nodes on loopback, each a real `run.py start --node`: placement, kill -9, partitions, a leader restart.

Heartbeats here are 0.1 s x 8 misses (see cluster_nodes.HEARTBEAT). Every
wait is on an event (a reply, a process ending); its timeout only bounds a
failure.
"""

from __future__ import annotations

import signal
import time
from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_actors.errors import OmegaError

from .cluster_nodes import Cluster, Node, counters_tree
from .cluster_probes import Bump, Bumped, Counter
from .conftest import alive, assert_all_gone, wait_until

pytestmark = [pytest.mark.tcp, pytest.mark.slow]

WORKER = '{ role = "worker" }'


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.close()


def bump(cluster: Cluster, leader: Node, name: str, timeout: float = 5.0) -> Bumped:
    runtime = cluster.connect(leader)
    try:
        reply = runtime.ask(name, Bump(), timeout)
    finally:
        runtime.close()
    assert isinstance(reply, Bumped), reply
    return reply


def answers(cluster: Cluster, leader: Node, name: str) -> Bumped | None:
    try:
        return bump(cluster, leader, name, timeout=2.0)
    except OmegaError:
        return None


def with_events(tree: str, log: Path) -> str:
    """The tree with a first child that writes each cluster.node.* event it sees to ``log``."""
    head, _, rest = tree.partition("\n[[tree.children]]")
    recorder = f'\n[[tree.children]]\nid = "events"\nstart = "tests.runtime.cluster_probes:NodeEvents"\nargs = {{ log = "{log}" }}\n'
    return head + recorder + ("\n[[tree.children]]" + rest if rest else "")


def published(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def members(leader: Node) -> dict[str, dict]:  # type: ignore[type-arg]
    return {member["node"]: member for member in leader.status()["cluster"]["members"]}


def start_cluster(cluster: Cluster, tree: str, **workers: str) -> Node:
    """The leader first (its tree waits for members), then each member with its capabilities."""
    leader = cluster.start(cluster.node("lead", tree), wait=False)
    for name, capability in workers.items():
        cluster.start(cluster.node(name), "--leader", leader.address, "--capability", capability)
    leader.wait_started()
    return leader


def test_children_go_to_the_least_loaded_member_that_has_what_they_require(cluster: Cluster) -> None:
    leader = start_cluster(cluster, "[tree]\nintensity = 5\n", b="role=worker", c="role=worker", d="role=gpu")
    wait_until(lambda: all(m["up"] for m in members(leader).values()) and len(members(leader)) == 4, timeout=30, what="3 members")
    runtime = cluster.connect(leader)
    try:
        for name, role in [(f"w{i}", "worker") for i in range(4)] + [("g0", "gpu")]:
            runtime.start_child("app", Counter.child_spec(name, name=name, requires={"role": role}))
    finally:
        runtime.close()
    where = {name: bump(cluster, leader, name).node for name in ("w0", "w1", "w2", "w3", "g0")}
    assert where["g0"] == "d"
    assert Tally(where[f"w{i}"] for i in range(4)) == {"b": 2, "c": 2}  # spread, not first-found
    seen = members(leader)
    assert {node: (m["up"], m["load"]) for node, m in seen.items()} == {
        "lead": (True, 0), "b": (True, 2), "c": (True, 2), "d": (True, 1),
    }  # fmt: skip
    assert seen["d"]["capabilities"] == {"role": "gpu", "omega.node": "d"}


def test_a_node_killed_with_kill_9_has_its_children_restarted_on_another_member_from_their_checkpoint(
    cluster: Cluster, tmp_path: Path
) -> None:
    events = tmp_path / "node-events"
    leader = start_cluster(cluster, with_events(counters_tree(("w0", WORKER), ("w1", WORKER)), events), b="role=worker", c="role=worker")
    before = {name: bump(cluster, leader, name) for name in ("w0", "w1")}
    bump(cluster, leader, "w0")  # w0 has counted twice, w1 once
    victim = cluster.nodes[before["w0"].node]
    survivor = "c" if victim.name == "b" else "b"
    assert_all_gone(victim.kill_9())
    after = {name: wait_until(lambda name=name: answers(cluster, leader, name), timeout=60, what=f"{name} back") for name in ("w0", "w1")}
    assert {reply.node for reply in after.values()} == {survivor}  # type: ignore[union-attr]
    assert after["w0"].count == 3  # type: ignore[union-attr]  # went on from its last checkpoint
    assert after["w1"].count == 2  # type: ignore[union-attr]
    wait_until(lambda: not members(leader)[victim.name]["up"], timeout=30, what="the killed node to be down")
    wait_until(lambda: f"cluster.node.down.{victim.name}" in published(events), timeout=30, what="the loss to be published")


def test_a_partitioned_node_that_returns_runs_no_second_instance_of_its_children(cluster: Cluster, tmp_path: Path) -> None:
    events = tmp_path / "node-events"
    leader = start_cluster(cluster, with_events(counters_tree(("w0", WORKER), ("w1", WORKER)), events), b="role=worker", c="role=worker")
    first = {name: bump(cluster, leader, name) for name in ("w0", "w1")}
    cut = cluster.nodes[first["w0"].node]
    cut_off = {reply.pid for reply in first.values() if reply.node == cut.name}
    cut.signal_all(signal.SIGSTOP)  # its peers see a partition: nothing answers, nothing closes
    try:
        moved = wait_until(lambda: answers(cluster, leader, "w0"), timeout=60, what="w0 to answer elsewhere")
        assert moved.node != cut.name  # type: ignore[union-attr]
        wait_until(lambda: not members(leader)[cut.name]["up"], timeout=30, what="the cut node to be down")
    finally:
        cut.signal_all(signal.SIGCONT)
    # Back: the instances it still held end (their lease ran out, or their supervisor ends them).
    assert_all_gone(cut_off)
    wait_until(lambda: members(leader)[cut.name]["up"], timeout=30, what="the node to be up again")
    def back() -> bool:  # its loss, then its return, are published
        seen = published(events)
        down = f"cluster.node.down.{cut.name}"
        return down in seen and f"cluster.node.up.{cut.name}" in seen[seen.index(down):]

    wait_until(back, timeout=30, what="the loss and the return to be published")
    tree = leader.status()
    running = [child for child in tree["children"][-1]["children"] if child["state"] == "running"]
    assert sorted(child["id"] for child in running) == ["events", "w0", "w1"]
    assert all(not alive(pid) for pid in cut_off)
    assert bump(cluster, leader, "w0").count == first["w0"].count + 2  # one instance, one count


def test_a_restarted_leader_finds_its_members_again_and_the_old_instances_end(cluster: Cluster) -> None:
    leader = start_cluster(cluster, counters_tree(("w0", WORKER), ("w1", WORKER)), b="role=worker", c="role=worker")
    old = {bump(cluster, leader, name).pid for name in ("w0", "w1")}
    assert_all_gone(leader.kill_9())
    cluster.start(leader)  # same admin port, same data directory
    assert {bump(cluster, leader, name).node for name in ("w0", "w1")} <= {"b", "c"}  # placed before both rejoined, maybe
    assert_all_gone(old)  # orphaned on the members: their lease ended them
    wait_until(lambda: {node for node, m in members(leader).items() if m["up"]} == {"lead", "b", "c"}, timeout=30, what="both members back")


def test_a_remote_child_slower_to_start_than_its_lease_is_not_ended_by_it(cluster: Cluster) -> None:
    tree = '[tree]\n\n[[tree.children]]\nid = "slow"\nstart = "tests.runtime.cluster_probes:SlowStart"\nname = "slow"\nrequires = { role = "worker" }\n'
    leader = start_cluster(cluster, tree, b="role=worker")  # its start (1.5 s) outlasts a lease (0.7 s)
    first = bump(cluster, leader, "slow")
    # Over several leases, every answer comes from that one instance.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert bump(cluster, leader, "slow").pid == first.pid
    assert leader.status()["children"][-1]["children"][0]["restarts"] == 0
