"""The host's lifecycle, where its phases meet the actor's hooks (see omega_actors/runtime/_thespian/host.py)."""

from __future__ import annotations

from omega_actors.runtime import (
    Actor,
    ChildSpec,
    ExitReason,
    Start,
    Supervisor,
    SupervisorSpec,
)

from .conftest import wait_until
from .probes import append_line, read_lines, reason_word


class StopsAtOnce(Actor):
    """Ends itself in ``started()``: a start that succeeded, then a normal exit."""

    def __init__(self, log: str) -> None:
        self.log = log

    def started(self) -> None:
        self.stop()

    def stopping(self, reason: ExitReason) -> None:
        append_line(self.log, f"stop {self.path} {reason_word(reason)}")


class ReportsThenFails(Supervisor):
    """Has no children, so it reports Started inside ``started()``; then that hook raises."""

    def __init__(self, spec: SupervisorSpec, log: str) -> None:
        super().__init__(spec)
        self.log = log

    def started(self) -> None:
        super().started()
        raise RuntimeError("failing after Started went out")

    def stopping(self, reason: ExitReason) -> None:
        append_line(self.log, f"stop {self.path} {reason_word(reason)}")


def test_an_instance_that_stops_in_started_has_started_and_then_stops_normally(start_runtime, base, probe_log):
    spec = ChildSpec("quick", Start.of(StopsAtOnce, probe_log), restart="transient")
    runtime = start_runtime(SupervisorSpec(children=(spec,)), base)
    info = wait_until(lambda: (c := runtime.which_children("app")[0]).last_exit and c, runtime)
    assert (info.state, info.last_exit, info.restarts) == ("undefined", "normal", 0)
    assert read_lines(probe_log) == ["stop app/quick normal"]


def test_a_hook_that_fails_after_started_was_reported_ends_the_instance_without_its_stopping_hook(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(), base)
    spec = ChildSpec("eager", Start.of(ReportsThenFails, SupervisorSpec(), probe_log), restart="temporary")
    runtime.start_child("app", spec)  # it did report Started: the start succeeded
    wait_until(lambda: not runtime.which_children("app"), runtime, what="the temporary child to be dropped")
    assert read_lines(probe_log) == [], "stopping() runs only for an instance whose start hooks returned"
