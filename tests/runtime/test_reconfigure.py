"""What changing a tree's spec does, decided without running anything."""

from __future__ import annotations

from omega_actors.runtime import Backoff, ChildSpec, Start, Supervisor, SupervisorSpec
from omega_actors.runtime.reconfigure import diff_trees, plan_level

from .sample_actors import Counter, Echo


def counter(id: str, start: int = 0, **fields: object) -> ChildSpec:
    return ChildSpec(id, Start.of(Counter, start=start), **fields)  # type: ignore[arg-type]


def sup(id: str, spec: SupervisorSpec, **fields: object) -> ChildSpec:
    return Supervisor.child_spec(id, spec, **fields)  # type: ignore[arg-type]


def test_an_unchanged_tree_plans_nothing():
    tree = SupervisorSpec(children=(counter("a"), counter("b")))
    assert plan_level(tree, tree).empty
    assert diff_trees(tree, tree, "app") == []


def test_added_removed_and_changed_children_are_told_apart():
    old = SupervisorSpec(children=(counter("a"), counter("b"), counter("c")))
    new = SupervisorSpec(children=(counter("a", start=5), counter("c", restart="transient"), counter("d")))
    plan = plan_level(old, new)
    assert (plan.remove, plan.restart, plan.update, plan.add) == (("b",), ("a",), ("c",), ("d",))
    assert plan.order == ("a", "c", "d") and not plan.moved and not plan.flags


def test_a_new_name_or_a_new_class_restarts_but_policy_fields_update_in_place():
    base = counter("a")
    assert plan_level(SupervisorSpec(children=(base,)), SupervisorSpec(children=(counter("a", name="n"),))).restart == ("a",)
    other_class = ChildSpec("a", Start.of(Echo))
    assert plan_level(SupervisorSpec(children=(base,)), SupervisorSpec(children=(other_class,))).restart == ("a",)
    policy = counter("a", shutdown=1.0, restart="transient")
    assert plan_level(SupervisorSpec(children=(base,)), SupervisorSpec(children=(policy,))).update == ("a",)


def test_flags_change_without_touching_children():
    old = SupervisorSpec(children=(counter("a"),))
    new = SupervisorSpec(intensity=7, backoff=Backoff(), children=(counter("a"),))
    plan = plan_level(old, new)
    assert plan.flags == ("intensity", "backoff") and not (plan.restart or plan.update or plan.add or plan.remove)


def test_a_nested_supervisor_is_reconfigured_not_restarted():
    inner_old = SupervisorSpec(children=(counter("x"),))
    inner_new = SupervisorSpec(strategy="one_for_all", children=(counter("x"), counter("y")))
    old = SupervisorSpec(children=(sup("pool", inner_old),))
    new = SupervisorSpec(children=(sup("pool", inner_new),))
    assert plan_level(old, new).nested == ("pool",)
    assert [str(change) for change in diff_trees(old, new, "app")] == [
        "^ app/pool (strategy: one_for_one -> one_for_all)",
        "+ app/pool/y",
    ]


def test_a_nested_supervisor_that_turns_dynamic_is_restarted():
    old = SupervisorSpec(children=(sup("pool", SupervisorSpec()),))
    new = SupervisorSpec(children=(sup("pool", SupervisorSpec(dynamic=True)),))
    assert plan_level(old, new).restart == ("pool",)


def test_a_nested_supervisor_whose_own_policy_changes_is_updated_and_reconfigured():
    old = SupervisorSpec(children=(sup("pool", SupervisorSpec(children=(counter("x"),))),))
    new = SupervisorSpec(children=(sup("pool", SupervisorSpec(children=(counter("x", start=1),)), shutdown=3.0),))
    assert plan_level(old, new).update == ("pool",)
    assert [str(c) for c in diff_trees(old, new, "app")] == ["= app/pool (shutdown)", "~ app/pool/x (start)"]


def test_reordered_children_are_reported_as_a_move():
    old = SupervisorSpec(children=(counter("a"), counter("b")))
    new = SupervisorSpec(children=(counter("b"), counter("a")))
    plan = plan_level(old, new)
    assert plan.moved and not plan.empty
    assert [change.kind for change in diff_trees(old, new, "app")] == ["move"]
