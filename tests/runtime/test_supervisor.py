"""Supervisor semantics on real actor systems, observed through the probes' own log."""

from __future__ import annotations

import os
import signal
import time

import pytest

from omega_actors.errors import RuntimeStartError, SupervisorError
from omega_actors.runtime import (
    BRUTAL_KILL,
    AutoShutdown,
    Backoff,
    ChildSpec,
    Restart,
    Start,
    Strategy,
    Supervisor,
    SupervisorSpec,
)

from .conftest import alive, assert_all_gone, wait_until
from .probes import Boom, Hang, Ping, Pong, Probe, Quit, read_lines


def probe(id: str, log: str, **overrides: object) -> ChildSpec:
    kwargs = {key: overrides.pop(key) for key in ("fail_start", "stop_delay") if key in overrides}
    return Probe.child_spec(id, log, **kwargs, **overrides)  # type: ignore[arg-type]


def lines_after(log: str, count: int, runtime: object, n: int) -> list[str]:
    """Wait for ``n`` new lines after the first ``count``, and return them."""
    wait_until(lambda: len(read_lines(log)) >= count + n, runtime, what=f"{n} new log lines")  # type: ignore[arg-type]
    return read_lines(log)[count:]


def child(runtime: object, path: str, id: str) -> object:
    return next(info for info in runtime.which_children(path) if info.id == id)  # type: ignore[attr-defined]


def test_children_start_in_order_and_stop_in_reverse_order(start_runtime, base, probe_log):
    tree = SupervisorSpec(children=tuple(probe(id, probe_log) for id in ("a", "b", "c")))
    runtime = start_runtime(tree, base)
    assert read_lines(probe_log) == ["start app/a", "start app/b", "start app/c"]
    runtime.shutdown()
    assert read_lines(probe_log)[3:] == ["stop app/c shutdown", "stop app/b shutdown", "stop app/a shutdown"]


def test_a_crashed_worker_is_restarted_and_its_supervisor_knows_why(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("w", probe_log),)), base)
    before = runtime.ask(runtime.address_of("app/w"), Ping())
    runtime.tell(runtime.address_of("app/w"), Boom())
    assert lines_after(probe_log, 1, runtime, 2) == ["stop app/w crash", "start app/w"]
    info = wait_until(lambda: (c := child(runtime, "app", "w")).restarts == 1 and c, runtime)
    assert info.state == "running"
    assert "ZeroDivisionError: boom" in info.last_exit and "probes.Boom" in info.last_exit
    after = runtime.ask(runtime.address_of("app/w"), Ping())
    assert isinstance(after, Pong) and after.path == "app/w"
    if base == "tcp":
        assert after.pid != before.pid, "a new instance runs in a new process"


def test_one_for_all_restarts_every_child_after_stopping_the_others_in_reverse(start_runtime, base, probe_log):
    tree = SupervisorSpec(strategy=Strategy.ONE_FOR_ALL, children=tuple(probe(i, probe_log) for i in "abc"))
    runtime = start_runtime(tree, base)
    runtime.tell(runtime.address_of("app/b"), Boom())
    assert lines_after(probe_log, 3, runtime, 6) == [
        "stop app/b crash", "stop app/c shutdown", "stop app/a shutdown",
        "start app/a", "start app/b", "start app/c",
    ]  # fmt: skip


def test_rest_for_one_restarts_the_child_and_those_started_after_it(start_runtime, base, probe_log):
    tree = SupervisorSpec(strategy=Strategy.REST_FOR_ONE, children=tuple(probe(i, probe_log) for i in "abcd"))
    runtime = start_runtime(tree, base)
    runtime.tell(runtime.address_of("app/b"), Boom())
    assert lines_after(probe_log, 4, runtime, 6) == [
        "stop app/b crash", "stop app/d shutdown", "stop app/c shutdown",
        "start app/b", "start app/c", "start app/d",
    ]  # fmt: skip
    assert child(runtime, "app", "a").restarts == 0


def test_a_transient_child_restarts_after_a_crash_but_not_after_a_normal_exit(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(intensity=5, children=(probe("t", probe_log, restart="transient"),)), base)
    runtime.tell(runtime.address_of("app/t"), Boom())
    assert lines_after(probe_log, 1, runtime, 2) == ["stop app/t crash", "start app/t"]
    runtime.tell(runtime.address_of("app/t"), Quit())
    assert lines_after(probe_log, 3, runtime, 1) == ["stop app/t normal"]
    info = wait_until(lambda: (c := child(runtime, "app", "t")).state == "undefined" and c, runtime)
    assert info.last_exit == "normal" and info.address is None


def test_a_temporary_child_is_never_restarted_and_its_spec_is_dropped(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("tmp", probe_log, restart="temporary"), probe("p", probe_log))), base)
    runtime.tell(runtime.address_of("app/tmp"), Boom())
    wait_until(lambda: [c.id for c in runtime.which_children("app")] == ["p"], runtime)
    assert read_lines(probe_log)[2:] == ["stop app/tmp crash"]


def test_exceeding_the_restart_intensity_stops_all_children_and_escalates(start_runtime, base, probe_log):
    inner = SupervisorSpec(intensity=1, period=3600, children=(probe("x", probe_log), probe("y", probe_log)))
    runtime = start_runtime(SupervisorSpec(intensity=5, children=(Supervisor.child_spec("inner", inner),)), base)
    runtime.tell(runtime.address_of("app/inner/x"), Boom())
    assert lines_after(probe_log, 2, runtime, 2) == ["stop app/inner/x crash", "start app/inner/x"]
    runtime.tell(runtime.address_of("app/inner/x"), Boom())
    # The second restart in the period is one too many: inner stops y, exits, and app restarts it.
    assert lines_after(probe_log, 4, runtime, 4) == [
        "stop app/inner/x crash", "stop app/inner/y shutdown", "start app/inner/x", "start app/inner/y",
    ]  # fmt: skip
    info = wait_until(lambda: (c := child(runtime, "app", "inner")).restarts == 1 and c, runtime)
    assert info.last_exit == "shutdown: reached_max_restart_intensity"
    assert child(runtime, "app/inner", "x").restarts == 0, "a restarted supervisor starts from its spec"


def test_when_the_root_gives_up_the_system_ends_and_says_why(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(intensity=0, children=(probe("w", probe_log),)), base)
    runtime.tell(runtime.address_of("app/w"), Boom())
    reason = wait_until(runtime.terminated, runtime)
    assert reason == "shutdown: reached_max_restart_intensity"
    assert read_lines(probe_log) == ["start app/w", "stop app/w crash"]
    assert all(node.state != "running" for node in runtime.tree().children)


def test_a_start_failure_at_boot_stops_the_started_children_and_fails_the_start(start_runtime, base, probe_log):
    tree = SupervisorSpec(children=(probe("ok", probe_log), probe("bad", probe_log, fail_start=True), probe("never", probe_log)))
    with pytest.raises(RuntimeStartError, match="failed_to_start_child bad: .*RuntimeError: refusing to start"):
        start_runtime(tree, base)
    assert read_lines(probe_log) == ["start app/ok", "stop app/ok shutdown"]


def test_start_child_and_terminate_child_follow_otp(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log),)), base)
    runtime.start_child("app", probe("b", probe_log, restart="transient"))
    assert [c.id for c in runtime.which_children("app")] == ["a", "b"]
    with pytest.raises(SupervisorError, match="already_started"):
        runtime.start_child("app", probe("b", probe_log))
    with pytest.raises(SupervisorError, match="running"):
        runtime.delete_child("app", "b")
    runtime.terminate_child("app", "b")
    assert child(runtime, "app", "b").state == "undefined", "terminate_child keeps the spec"
    with pytest.raises(SupervisorError, match="already_present"):
        runtime.start_child("app", probe("b", probe_log))
    runtime.restart_child("app", "b")
    assert child(runtime, "app", "b").state == "running"
    runtime.terminate_child("app", "b")
    runtime.delete_child("app", "b")
    with pytest.raises(SupervisorError, match="not_found"):
        runtime.terminate_child("app", "b")
    counts = runtime.count_children("app")
    assert (counts.specs, counts.active, counts.workers, counts.supervisors) == (1, 1, 1, 0)
    assert read_lines(probe_log) == ["start app/a", "start app/b", "stop app/b shutdown", "start app/b", "stop app/b shutdown"]


def test_a_dynamic_supervisor_takes_children_up_to_max_children(start_runtime, base, probe_log):
    pool = SupervisorSpec(dynamic=True, max_children=2)
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("pool", pool),)), base)
    runtime.start_child("app/pool", probe("w1", probe_log))
    runtime.start_child("app/pool", probe("w2", probe_log))
    with pytest.raises(SupervisorError, match=r"max_children \(2\) reached"):
        runtime.start_child("app/pool", probe("w3", probe_log))
    runtime.terminate_child("app/pool", "w1")
    assert [c.id for c in runtime.which_children("app/pool")] == ["w2"], "a dynamic child is forgotten when terminated"
    runtime.start_child("app/pool", probe("w3", probe_log))
    with pytest.raises(SupervisorError, match="dynamic"):
        runtime.restart_child("app/pool", "w2")


def test_a_bad_child_spec_is_refused_without_harming_the_supervisor(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log),)), base)
    spec = probe("b", probe_log)
    object.__setattr__(spec, "restart", "sometimes")  # as a hostile peer could send it
    with pytest.raises(SupervisorError, match="restart: expected one of 'permanent', 'transient', 'temporary'; got 'sometimes'"):
        runtime.start_child("app", spec)
    with pytest.raises(SupervisorError, match="bad combination"):
        runtime.start_child("app", ChildSpec("s", Start.of(Probe, probe_log), restart=Restart.TRANSIENT, significant=True))
    assert [c.id for c in runtime.which_children("app")] == ["a"]


def test_brutal_kill_skips_the_stopping_hook(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("soft", probe_log), probe("hard", probe_log, shutdown=BRUTAL_KILL))), base)
    runtime.terminate_child("app", "hard")
    runtime.terminate_child("app", "soft")
    assert read_lines(probe_log) == ["start app/soft", "start app/hard", "stop app/soft shutdown"]


@pytest.mark.tcp
def test_a_child_that_does_not_stop_in_time_is_killed(start_runtime, probe_log):
    slow = probe("slow", probe_log, stop_delay=3600.0, shutdown=0.2)
    runtime = start_runtime(SupervisorSpec(children=(slow,)), "tcp")
    pid = child(runtime, "app", "slow").pid
    runtime.terminate_child("app", "slow")
    assert read_lines(probe_log) == ["start app/slow", "stop app/slow shutdown"]
    assert_all_gone({pid})
    assert "killed" in child(runtime, "app", "slow").last_exit


def test_any_significant_child_exiting_shuts_its_supervisor_down(start_runtime, base, probe_log):
    job = SupervisorSpec(
        auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        children=(probe("helper", probe_log), probe("main", probe_log, restart="transient", significant=True)),
    )
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("job", job, restart="transient"),)), base)
    runtime.tell(runtime.address_of("app/job/main"), Quit())
    wait_until(lambda: child(runtime, "app", "job").state == "undefined", runtime)
    assert child(runtime, "app", "job").last_exit == "shutdown: auto_shutdown"
    assert read_lines(probe_log)[2:] == ["stop app/job/main normal", "stop app/job/helper shutdown"]


def test_all_significant_waits_for_the_last_significant_child(start_runtime, base, probe_log):
    job = SupervisorSpec(
        auto_shutdown=AutoShutdown.ALL_SIGNIFICANT,
        children=tuple(probe(i, probe_log, restart="temporary", significant=True) for i in ("s1", "s2")),
    )
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("job", job, restart="transient"),)), base)
    runtime.tell(runtime.address_of("app/job/s1"), Quit())
    wait_until(lambda: [c.id for c in runtime.which_children("app/job")] == ["s2"], runtime)
    assert child(runtime, "app", "job").state == "running"
    runtime.tell(runtime.address_of("app/job/s2"), Boom())
    wait_until(lambda: child(runtime, "app", "job").state == "undefined", runtime)
    assert child(runtime, "app", "job").last_exit == "shutdown: auto_shutdown"


def test_a_checkpoint_survives_a_restart(start_runtime, base, probe_log):
    from .probes import Add

    runtime = start_runtime(SupervisorSpec(children=(probe("counter", probe_log, name="counter"),)), base)
    assert runtime.ask("counter", Add(5)) == 5
    runtime.tell(runtime.address_of("app/counter"), Boom())
    wait_until(lambda: child(runtime, "app", "counter").restarts == 1, runtime)
    assert runtime.ask("counter", Add(1)) == 6


def test_backoff_delays_each_restart_of_a_crash_loop(start_runtime, base, probe_log):
    backoff = Backoff(initial=0.3, maximum=10.0, multiplier=2.0, jitter=0.0, reset_after=3600)
    runtime = start_runtime(SupervisorSpec(intensity=10, backoff=backoff, children=(probe("w", probe_log),)), base)
    crashed = time.monotonic()
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime, "app", "w").restarts == 1, runtime)
    assert time.monotonic() - crashed >= 0.3
    crashed = time.monotonic()
    runtime.tell(runtime.address_of("app/w"), Boom())
    wait_until(lambda: child(runtime, "app", "w").state == "restarting", runtime)
    wait_until(lambda: child(runtime, "app", "w").restarts == 2, runtime)
    assert time.monotonic() - crashed >= 0.6, "the second restart of a streak waits twice as long"


@pytest.mark.tcp
def test_a_killed_worker_is_restarted_as_killed(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("w", probe_log),)), "tcp")
    os.kill(child(runtime, "app", "w").pid, signal.SIGKILL)
    info = wait_until(lambda: (c := child(runtime, "app", "w")).restarts == 1 and c, runtime)
    assert info.last_exit.startswith("killed")
    assert read_lines(probe_log) == ["start app/w", "start app/w"]


@pytest.mark.tcp
def test_killing_a_supervisor_process_takes_its_children_with_it(start_runtime, probe_log):
    inner = SupervisorSpec(children=(probe("x", probe_log), probe("y", probe_log)))
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("inner", inner),)), "tcp")
    old = {c.pid for c in runtime.which_children("app/inner")}
    os.kill(child(runtime, "app", "inner").pid, signal.SIGKILL)
    wait_until(lambda: child(runtime, "app", "inner").restarts == 1, runtime)
    assert_all_gone(old)
    assert read_lines(probe_log) == ["start app/inner/x", "start app/inner/y"] * 2


def test_a_dynamic_supervisor_forgets_a_child_it_does_not_restart(start_runtime, base, probe_log):
    pool = SupervisorSpec(dynamic=True, max_children=1)
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("pool", pool),)), base)
    runtime.start_child("app/pool", probe("w", probe_log, restart="transient"))
    runtime.tell(runtime.address_of("app/pool/w"), Quit())
    wait_until(lambda: runtime.which_children("app/pool") == (), runtime)
    runtime.start_child("app/pool", probe("w", probe_log, restart="transient"))  # the id and the slot are free again


def test_terminating_a_child_in_backoff_cancels_its_groups_restart(start_runtime, base, probe_log):
    backoff = Backoff(initial=5.0, maximum=5.0, jitter=0.0)
    tree = SupervisorSpec(Strategy.REST_FOR_ONE, intensity=5, backoff=backoff, children=(probe("a", probe_log), probe("b", probe_log)))
    runtime = start_runtime(tree, base)
    runtime.tell(runtime.address_of("app/a"), Boom())
    wait_until(lambda: child(runtime, "app", "a").state == "restarting", runtime)
    assert child(runtime, "app", "b").state == "undefined", "as in OTP, only the child to retry is restarting"
    runtime.terminate_child("app", "a")
    runtime.restart_child("app", "b")
    assert [(c.id, c.state) for c in runtime.which_children("app")] == [("a", "undefined"), ("b", "running")]


def test_failed_starts_after_a_long_run_keep_the_backoff_growing():
    from omega_actors.runtime import Killed, ManualClock
    from omega_actors.runtime.child_record import ChildRecord

    clock = ManualClock(0.0)
    backoff = Backoff(initial=1.0, maximum=100.0, multiplier=2.0, jitter=0.0, reset_after=60.0)
    supervisor = Supervisor(SupervisorSpec(backoff=backoff, clock=clock))
    record = ChildRecord(probe("w", "log"))
    record.started_at = 0.0
    clock.advance(3600)  # a long, healthy run, then a crash and starts that keep failing
    delays = [supervisor._backoff_delay(record) for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert Killed().abnormal


@pytest.mark.tcp
def test_kill_child_ends_a_hung_child_at_once_and_its_restart_policy_brings_it_back(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log, shutdown=60.0),)), "tcp")
    before = child(runtime, "app", "a")
    runtime.tell(before.address, Hang())
    runtime.kill_child("app", "a", "no answer in 2 s")
    wait_until(lambda: child(runtime, "app", "a").restarts == 1 and child(runtime, "app", "a").state == "running",
               what="the killed child to be restarted")
    after = child(runtime, "app", "a")
    assert after.pid != before.pid and not alive(before.pid)
    assert "no answer in 2 s" in (after.last_exit or "")
    assert "stop app/a" not in " ".join(read_lines(probe_log)), "a killed child runs no stopping hook"
    assert runtime.ask(after.address, Ping()).pid == after.pid


def test_kill_child_refuses_a_child_that_is_not_there_or_not_running(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log),)), base)
    with pytest.raises(SupervisorError, match="not_found"):
        runtime.kill_child("app", "nobody")
    runtime.terminate_child("app", "a")
    with pytest.raises(SupervisorError, match="not_running"):
        runtime.kill_child("app", "a")
