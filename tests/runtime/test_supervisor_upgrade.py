"""A running tree takes a new spec in place: only what changed is touched."""

from __future__ import annotations

from omega_actors.runtime import ChildSpec, Supervisor, SupervisorSpec

from .probes import Add, GetTag, Probe, read_lines


def probe(id: str, log: str, tag: str = "", **fields: object) -> ChildSpec:
    return Probe.child_spec(id, log, tag=tag, **fields)  # type: ignore[arg-type]


def states(runtime) -> dict[str, tuple[str, int]]:
    return {node.path: (node.state, node.restarts) for node in runtime.tree().walk() if node.path.startswith("app/")}


def test_only_changed_children_restart_and_added_ones_start_in_order(start_runtime, base, probe_log):
    old = SupervisorSpec(children=(probe("a", probe_log), probe("b", probe_log), probe("c", probe_log)))
    runtime = start_runtime(old, base)
    new = SupervisorSpec(
        intensity=4,
        children=(probe("a", probe_log), probe("c", probe_log, tag="v2"), probe("d", probe_log), probe("e", probe_log)),
    )
    outcome = runtime.reconfigure(new)
    assert outcome.ok, outcome.error
    assert read_lines(probe_log)[3:] == [
        "stop app/b shutdown", "stop app/c shutdown", "start app/c", "start app/d", "start app/e",
    ]  # fmt: skip
    assert list(outcome.changes) == ["- app/b", "^ app (intensity)", "~ app/c", "+ app/d", "+ app/e"]
    assert runtime.ask(runtime.address_of("app/c"), GetTag()) == "v2"
    assert [info.id for info in runtime.which_children()] == ["a", "c", "d", "e"]
    assert runtime.current_spec() == new


def test_a_changed_child_keeps_its_name_mail_and_checkpoint(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log, name="counter"),)), base)
    assert runtime.ask("counter", Add(5)) == 5
    outcome = runtime.reconfigure(SupervisorSpec(children=(probe("a", probe_log, tag="v2", name="counter"),)))
    assert outcome.ok, outcome.error
    assert runtime.ask("counter", Add(1)) == 6  # the new instance started from the last checkpoint
    assert runtime.ask("counter", GetTag()) == "v2"


def test_policy_changes_and_flags_restart_nothing(start_runtime, base, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log),)), base)
    new = SupervisorSpec(strategy="one_for_all", period=9, children=(probe("a", probe_log, shutdown=1.0, restart="transient"),))
    outcome = runtime.reconfigure(new)
    assert outcome.ok and list(outcome.changes) == ["^ app (strategy, period)", "= app/a"]
    assert read_lines(probe_log) == ["start app/a"]
    assert runtime.current_spec() == new
    assert runtime.tree().find("app").strategy == "one_for_all"


def test_a_nested_supervisor_is_changed_below_without_restarting(start_runtime, base, probe_log):
    inner = SupervisorSpec(children=(probe("x", probe_log),))
    runtime = start_runtime(SupervisorSpec(children=(Supervisor.child_spec("pool", inner),)), base)
    pool_pid = runtime.tree().find("app/pool").pid
    new_inner = SupervisorSpec(children=(probe("x", probe_log, tag="v2"), probe("y", probe_log)))
    outcome = runtime.reconfigure(SupervisorSpec(children=(Supervisor.child_spec("pool", new_inner),)))
    assert outcome.ok and list(outcome.changes) == ["~ app/pool/x", "+ app/pool/y"]
    assert runtime.tree().find("app/pool").pid == pool_pid and states(runtime)["app/pool"] == ("running", 0)
    assert runtime.ask(runtime.address_of("app/pool/x"), GetTag()) == "v2"


def test_a_failed_start_stops_the_change_and_the_old_spec_repairs_it(start_runtime, base, probe_log):
    old = SupervisorSpec(children=(probe("a", probe_log), probe("b", probe_log)))
    runtime = start_runtime(old, base)
    bad = SupervisorSpec(children=(probe("a", probe_log, tag="v2", fail_start=True), probe("b", probe_log, tag="v2"), probe("c", probe_log)))
    outcome = runtime.reconfigure(bad)
    assert not outcome.ok and outcome.error.startswith("app/a: ") and "refusing to start" in outcome.error
    assert runtime.ask(runtime.address_of("app/b"), GetTag()) == ""  # not reached
    repaired = runtime.reconfigure(old)
    assert repaired.ok, repaired.error
    assert runtime.current_spec() == old
    assert {path: state for path, (state, _) in states(runtime).items()} == {"app/a": "running", "app/b": "running"}
    assert runtime.ask(runtime.address_of("app/a"), GetTag()) == ""


def test_a_bad_spec_or_a_dynamic_flip_is_refused_and_changes_nothing(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(probe("a", probe_log),)))
    outcome = runtime.reconfigure(SupervisorSpec(dynamic=True))
    assert not outcome.ok and "dynamic cannot change in place" in outcome.error
    assert read_lines(probe_log) == ["start app/a"]


def test_a_dynamic_supervisor_keeps_its_children_and_takes_new_flags(start_runtime, probe_log):
    pool = Supervisor.child_spec("pool", SupervisorSpec(dynamic=True))
    runtime = start_runtime(SupervisorSpec(children=(pool,)))
    runtime.start_child("app/pool", probe("w", probe_log))
    new_pool = Supervisor.child_spec("pool", SupervisorSpec(dynamic=True, max_children=3))
    outcome = runtime.reconfigure(SupervisorSpec(children=(new_pool,)))
    assert outcome.ok and list(outcome.changes) == ["^ app/pool (max_children)"]
    assert [info.id for info in runtime.which_children("app/pool")] == ["w"]

