"""A supervisor's side of the instance protocol: only its own children's instances speak for them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from omega_actors.errors import DeliveryError
from omega_actors.runtime import Normal, SupervisorSpec
from omega_actors.runtime.messages import (
    ChildExited,
    Exiting,
    StartChild,
    Started,
    Stop,
)

from .conftest import wait_until
from .probes import Probe, read_lines


@dataclass(frozen=True)
class Other:
    """A message no supervisor has a handler for."""


def child(runtime, path, id):
    return next(info for info in runtime.which_children(path) if info.id == id)


def test_a_supervisor_shrugs_off_hostile_messages(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log),)), base)
    app = runtime.address_of("app")
    worker = runtime.address_of("app/w")
    runtime.tell(app, ChildExited(worker))  # a forged exit notice
    runtime.tell(app, Started(pid=1, token=999))  # a report from no child of its
    runtime.tell(app, Stop())  # only its parent may stop it
    runtime.tell(app, StartChild("not a spec"))  # type: ignore[arg-type]
    with pytest.raises(DeliveryError, match="Rejected"):
        runtime.ask(app, Other())
    # The tells and the ask take different routes: wait until all were handled.
    counters = wait_until(lambda: (c := dict(runtime.tree().find("app").counters)).get("rejected") == 2 and c, runtime)
    assert counters["forged_exits"] == 1 and counters["stale_child_messages"] == 1
    info = child(runtime, "app", "w")
    assert (info.state, info.restarts, info.address == worker) == ("running", 0, True)
    assert read_lines(probe_log) == ["start app/w"]


def test_a_forged_exit_report_does_not_hold_up_a_shutdown(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log),)), base)
    app = runtime.address_of("app")
    for token in range(1, 64):  # tokens are random: guessing small ones gets nowhere
        runtime.tell(app, Exiting(Normal(), token))
    runtime.tell(app, Exiting("not a reason", 1))  # type: ignore[arg-type]
    wait_until(lambda: dict(runtime.tree().find("app").counters).get("stale_child_messages", 0) >= 64, runtime)
    assert child(runtime, "app", "w").state == "running"
    runtime.shutdown()
    assert read_lines(probe_log) == ["start app/w", "stop app/w shutdown"]
