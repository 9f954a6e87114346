"""A supervisor's children on other nodes, seen from one node: placement it waits for, and giving up on it.

Heartbeats, leases and loss need several nodes: see test_cluster.py.
"""

from __future__ import annotations

import time

from omega_actors.runtime import SupervisorSpec
from omega_actors.runtime.cluster_config import ClusterConfig
from omega_actors.runtime.messages import StartChild

from .conftest import wait_until
from .probes import Probe, read_lines

PLACEMENT_WAIT = 60.0  # far longer than any of these tests may take


def test_a_supervisor_asked_to_stop_gives_up_a_placement_it_waits_for(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(), cluster=ClusterConfig(capabilities={"role": "x"}, placement_wait=PLACEMENT_WAIT))
    runtime.tell(runtime.address_of("app"), StartChild(Probe.child_spec("w", probe_log, requires={"role": "y"})))
    wait_until(lambda: [c for c in runtime.which_children("app") if c.id == "w"], runtime, what="the start to wait")
    began = time.monotonic()
    runtime.shutdown()
    assert time.monotonic() - began < PLACEMENT_WAIT / 2, "the shutdown waited for the placement"
    assert read_lines(probe_log) == []
