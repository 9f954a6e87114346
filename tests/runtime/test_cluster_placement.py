"""Where children with requirements go: the pure ``Placements`` against a model, then the runtime on one node."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omega_actors.errors import RuntimeStartError
from omega_actors.runtime import SupervisorSpec
from omega_actors.runtime.cluster import Placements
from omega_actors.runtime.cluster_config import NODE_CAPABILITY, ClusterConfig

from .conftest import wait_until
from .probes import Boom, Ping, Pong, Probe, Quit

# --- model -------------------------------------------------------------------

NODES = ["a", "b", "c", "d", "e"]
KEYS = ["app/k0", "app/k1", "app/k2", "app/k3", "app/sup/k4"]


def model_satisfies(capabilities: dict[str, Any], requires: dict[str, Any]) -> bool:
    """Each required name is advertised with an equal value of the same type (True is not 1)."""
    return all(name in capabilities and type(capabilities[name]) is type(value) and capabilities[name] == value for name, value in requires.items())


def model_choice(placed: dict[str, str], key: str, requires: dict[str, Any], avoid: tuple[str, ...], live: dict[str, dict[str, Any]]) -> str | None:
    """The least-loaded satisfying node, skipping ``avoid`` if any other will do; ties go to the smallest name."""
    candidates = sorted(node for node, capabilities in live.items() if model_satisfies(capabilities, requires))
    preferred = [node for node in candidates if node not in avoid] or candidates
    if not preferred:
        return None
    loads = Counter(node for other, node in placed.items() if other != key)
    return min(preferred, key=lambda node: (loads[node], node))


# --- strategies --------------------------------------------------------------

capabilities = st.fixed_dictionaries({}, optional={"role": st.sampled_from(["x", "y"]), "gpu": st.booleans()})
# gpu = 1 is a requirement no node meets: the nodes advertise booleans.
requirements = st.fixed_dictionaries({}, optional={"role": st.sampled_from(["x", "y"]), "gpu": st.sampled_from([True, False, 1])})
live_maps = st.dictionaries(st.sampled_from(NODES), capabilities, max_size=len(NODES))
avoids = st.lists(st.sampled_from(NODES), max_size=3, unique=True).map(tuple)


class PlacementsAgainstAModel(RuleBasedStateMachine):
    """``Placements`` must place, release and forget as a plain dict of key -> node with the rule above."""

    def __init__(self) -> None:
        super().__init__()
        self.placements = Placements()
        self.model: dict[str, str] = {}

    @rule(key=st.sampled_from(KEYS), requires=requirements, avoid=avoids, live=live_maps)
    def choose(self, key: str, requires: dict[str, Any], avoid: tuple[str, ...], live: dict[str, dict[str, Any]]) -> None:
        loads_before = Counter(node for other, node in self.model.items() if other != key)
        candidates = [node for node, caps in live.items() if model_satisfies(caps, requires)]
        node = self.placements.choose(key, dict(requires), avoid, {name: dict(caps) for name, caps in live.items()})
        if not candidates:
            assert node is None, f"no live node satisfies {requires}, yet {node!r} was chosen"
            return  # the key's earlier placement, if any, stays as it was
        assert node is not None, f"{candidates} satisfy {requires}, yet nothing was chosen"
        assert node in live and model_satisfies(live[node], requires)
        assert node not in avoid or all(candidate in avoid for candidate in candidates)
        preferred = [c for c in candidates if c not in avoid] or candidates
        least = min(loads_before[c] for c in preferred)
        assert loads_before[node] == least, f"{node} had load {loads_before[node]}, but {least} was the least among {preferred}"
        assert node == min(c for c in preferred if loads_before[c] == least), "a tie goes to the smallest name"
        assert node == model_choice(self.model, key, requires, avoid, live)
        self.model[key] = node

    @rule(key=st.sampled_from(KEYS), node=st.sampled_from(NODES))
    def release_any(self, key: str, node: str) -> None:
        self.placements.release(key, node)
        if self.model.get(key) == node:
            del self.model[key]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def release_where_placed(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        self.placements.release(key, self.model.pop(key))

    @rule(node=st.sampled_from(NODES))
    def forget(self, node: str) -> None:
        self.placements.forget(node)
        self.model = {key: where for key, where in self.model.items() if where != node}

    @invariant()
    def loads_count_the_placed_children(self) -> None:
        assert self.placements.loads() == dict(Counter(self.model.values()))
        assert self.placements.placed == self.model


TestPlacementsBehaveLikeTheModel = PlacementsAgainstAModel.TestCase
TestPlacementsBehaveLikeTheModel.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


# --- plain examples ----------------------------------------------------------


def test_six_children_spread_over_two_equal_members_three_on_each():
    placements = Placements()
    live = {"a": {"role": "x"}, "b": {"role": "x"}}
    chosen = [placements.choose(f"app/w{i}", {"role": "x"}, (), live) for i in range(6)]
    assert chosen == ["a", "b", "a", "b", "a", "b"]
    assert placements.loads() == {"a": 3, "b": 3}


def test_gpu_true_is_met_neither_by_gpu_1_nor_by_the_string_true():
    placements = Placements()
    assert placements.choose("app/w", {"gpu": True}, (), {"a": {"gpu": 1}, "b": {"gpu": "true"}}) is None
    assert placements.choose("app/w", {"gpu": True}, (), {"a": {"gpu": 1}, "c": {"gpu": True}}) == "c"


def test_a_node_to_avoid_is_still_chosen_when_it_is_the_only_one_that_fits():
    placements = Placements()
    live = {"a": {"role": "x"}, "b": {"role": "y"}}
    assert placements.choose("app/w", {"role": "x"}, ("a",), live) == "a"
    assert placements.choose("app/v", {}, ("a",), live) == "b"


def test_choosing_again_for_a_placed_child_replaces_its_placement_rather_than_adding_one():
    placements = Placements()
    live = {"a": {}, "b": {}}
    assert placements.choose("app/w", {}, (), live) == "a"
    assert placements.choose("app/w", {}, ("a",), live) == "b"
    assert placements.loads() == {"b": 1}


def test_a_release_by_a_node_the_child_is_not_on_changes_nothing():
    placements = Placements()
    assert placements.choose("app/w", {}, (), {"a": {}}) == "a"
    placements.release("app/w", "b")
    placements.release("app/other", "a")
    assert placements.placed == {"app/w": "a"}
    assert placements.loads() == {"a": 1}


def test_forgetting_a_node_frees_its_load_and_leaves_the_others():
    placements = Placements()
    live = {"a": {}, "b": {}}
    for i in range(4):
        placements.choose(f"app/w{i}", {}, (), live)
    placements.forget("a")
    assert placements.loads() == {"b": 2}
    assert placements.choose("app/w9", {}, (), live) == "a", "the forgotten node is the least loaded again"


# --- the runtime, on one node --------------------------------------------------


def start_one_node(start_runtime, tree: SupervisorSpec, **cluster: Any):
    """A simple-base runtime whose node has these ``[cluster]`` settings."""
    return start_runtime(tree, cluster=ClusterConfig(**cluster))


def local_load(runtime) -> int:
    (this,) = [member for member in runtime.members().members if member.this]
    return this.load


def test_a_child_that_requires_what_this_node_advertises_starts_here_and_answers(start_runtime, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("w", probe_log, requires={"role": "x"}),))
    runtime = start_one_node(start_runtime, tree, capabilities={"role": "x"})
    reply = runtime.ask(runtime.address_of("app/w"), Ping())
    assert isinstance(reply, Pong) and reply.path == "app/w"
    assert local_load(runtime) == 1


def test_a_child_whose_requirement_no_member_meets_fails_the_start_and_names_the_requirement(start_runtime, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("w", probe_log, requires={"role": "y"}),))
    with pytest.raises(RuntimeStartError) as failure:
        start_one_node(start_runtime, tree, capabilities={"role": "x"}, placement_wait=0.2)
    message = str(failure.value)
    assert "failed_to_start_child w" in message
    assert "no_placement: no member that is up has role = 'y' (waited 0.2 s)" in message


def test_a_lone_node_lists_itself_as_the_only_member_and_the_leader(start_runtime, probe_log):
    runtime = start_one_node(start_runtime, SupervisorSpec(), node="edge-1", capabilities={"role": "x", "gpu": True})
    members = runtime.members()
    assert members.leader is True
    (member,) = members.members
    assert (member.node, member.this, member.up, member.load) == ("edge-1", True, True, 0)
    assert member.capabilities == {"role": "x", "gpu": True, NODE_CAPABILITY: "edge-1"}


def test_a_locally_placed_child_that_restarts_still_counts_once(start_runtime, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("w", probe_log, requires={"role": "x"}),))
    runtime = start_one_node(start_runtime, tree, capabilities={"role": "x"})
    first = runtime.address_of("app/w")
    runtime.tell(first, Boom())
    wait_until(lambda: [c for c in runtime.which_children("app") if c.id == "w" and c.restarts == 1 and c.state == "running"], runtime, what="w to restart")
    assert isinstance(runtime.ask(runtime.address_of("app/w"), Ping()), Pong)
    assert local_load(runtime) == 1


def test_a_locally_placed_child_that_ends_for_good_no_longer_counts_toward_its_nodes_load(start_runtime, probe_log):
    tree = SupervisorSpec(children=(Probe.child_spec("w", probe_log, requires={"role": "x"}, restart="temporary"),))
    runtime = start_one_node(start_runtime, tree, capabilities={"role": "x"})
    assert local_load(runtime) == 1
    runtime.tell(runtime.address_of("app/w"), Quit())
    wait_until(lambda: not runtime.which_children("app"), runtime, what="the temporary child to be dropped")
    assert wait_until(lambda: local_load(runtime) == 0, runtime, timeout=2, what="the load to drop to 0")


def test_a_leader_name_that_does_not_resolve_counts_as_unreachable_rather_than_crashing() -> None:
    from omega_actors.runtime.cluster import accepts

    assert accepts("no-such-host.invalid", 1900) is False
