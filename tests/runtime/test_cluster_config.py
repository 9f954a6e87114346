"""The ``[cluster]`` table: validation, the capabilities a node advertises, and what satisfies a requirement."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.errors import SpecError
from omega_actors.runtime.cluster_config import (
    DEFAULT_NODE,
    NODE_CAPABILITY,
    ClusterConfig,
    child_lease,
    leader_address,
    parse_capability,
    satisfies,
    start_allowance,
)


def spec_error(**fields: Any) -> SpecError:
    with pytest.raises(SpecError) as failure:
        ClusterConfig(**fields)
    return failure.value


# --- ClusterConfig -----------------------------------------------------------


def test_the_defaults_make_a_cluster_of_one_named_local():
    config = ClusterConfig()
    assert (config.node, config.leader, dict(config.capabilities), config.secret_file) == (DEFAULT_NODE, None, {}, None)
    assert (config.heartbeat_interval, config.heartbeat_misses, config.placement_wait) == (0.25, 4, 30.0)


def test_a_full_table_is_kept_as_given():
    config = ClusterConfig(
        node="edge-1", leader="10.0.0.5:1900", capabilities={"role": "constellation", "gpu": True, "cores": 8, "ram.gb": 15.5},
        secret_file="/etc/omega/cluster.key", heartbeat_interval=0.5, heartbeat_misses=100, placement_wait=1,
    )  # fmt: skip
    assert config.node == "edge-1"
    assert config.leader == "10.0.0.5:1900"
    assert dict(config.capabilities) == {"role": "constellation", "gpu": True, "cores": 8, "ram.gb": 15.5}
    assert (config.heartbeat_misses, config.placement_wait) == (100, 1)


@pytest.mark.parametrize("node", ["a.b", "", "has space", "-leading-dash", "x" * 65, "édge", 7, None])
def test_a_node_name_that_is_not_a_subject_token_is_refused(node: object):
    error = spec_error(node=node)
    assert error.key == "node"
    assert "expected 1-64 letters, digits, '_' or '-'" in error.detail
    assert repr(node) in error.detail


@pytest.mark.parametrize("node", ["a", "edge-1", "_x", "0", "x" * 64])
def test_a_node_name_of_letters_digits_underscores_and_dashes_is_accepted(node: str):
    assert ClusterConfig(node=node).node == node


@pytest.mark.parametrize(
    "leader",
    ["nohost", "10.0.0.5", ":1900", "host:", "host:port", "host:0", "host:65536", "host:-1", "host: 1900", "a:1:2", "[::1]:1900", 1900, ""],
)
def test_a_leader_that_is_not_host_colon_port_is_refused(leader: object):
    error = spec_error(leader=leader)
    assert error.key == "leader"
    assert "expected 'HOST:PORT' of the leader's admin" in error.detail
    assert repr(leader) in error.detail


def test_a_leader_port_of_superscript_digits_is_refused_as_a_spec_error():
    assert spec_error(leader="host:²").key == "leader"


def test_leader_address_splits_host_and_port():
    assert leader_address("10.0.0.5:1900") == ("10.0.0.5", 1900)
    assert leader_address("leader.lan:65535") == ("leader.lan", 65535)


@pytest.mark.parametrize(
    ("capabilities", "key"),
    [
        ({"gpu": [1]}, "capabilities.gpu"),
        ({"gpu": None}, "capabilities.gpu"),
        ({"role": {"nested": "table"}}, "capabilities.role"),
        ({"when": b"bytes"}, "capabilities.when"),
    ],
)
def test_a_capability_value_that_is_not_a_string_number_or_boolean_is_refused(capabilities: dict[str, Any], key: str):
    error = spec_error(capabilities=capabilities)
    assert error.key == key
    assert "expected a string, finite number or boolean" in error.detail


@pytest.mark.parametrize("name", [NODE_CAPABILITY, "has space", "1starts-with-digit", "", "x" * 65, 5])
def test_a_capability_name_that_is_reserved_or_malformed_is_refused(name: object):
    error = spec_error(capabilities={name: "x"})
    assert error.key == "capabilities"
    assert "not 'omega.node'" in error.detail


def test_capabilities_that_are_not_a_table_are_refused():
    error = spec_error(capabilities=["role=x"])
    assert error.key == "capabilities"
    assert "expected a table" in error.detail


@pytest.mark.parametrize("secret_file", ["", 5])
def test_a_secret_file_that_is_not_a_path_is_refused(secret_file: object):
    assert spec_error(secret_file=secret_file).key == "secret_file"


@pytest.mark.parametrize("misses", [0, 1, 101, -1, True, False, 1.5, "4"])
def test_heartbeat_misses_outside_2_to_100_or_not_a_whole_number_is_refused(misses: object):
    error = spec_error(heartbeat_misses=misses)
    assert error.key == "heartbeat_misses"
    assert "expected a whole number from 2 to 100" in error.detail


@pytest.mark.parametrize("key", ["heartbeat_interval", "placement_wait"])
@pytest.mark.parametrize("seconds", [0, -1, math.inf, math.nan, True, "1", None])
def test_a_number_of_seconds_that_is_not_positive_and_finite_is_refused(key: str, seconds: object):
    error = spec_error(**{key: seconds})
    assert error.key == key
    assert "expected a positive, finite number of seconds" in error.detail


def test_the_heartbeat_timeout_is_the_interval_times_the_misses():
    assert ClusterConfig(heartbeat_interval=0.1, heartbeat_misses=3).heartbeat_timeout == pytest.approx(0.3)
    assert ClusterConfig().heartbeat_timeout == pytest.approx(1.0)


def test_a_node_advertises_its_capabilities_and_its_name_under_omega_node():
    config = ClusterConfig(node="edge-1", capabilities={"role": "x", "gpu": True})
    assert config.advertised() == {"role": "x", "gpu": True, NODE_CAPABILITY: "edge-1"}
    assert NODE_CAPABILITY not in config.capabilities, "advertising does not change the configured capabilities"
    assert ClusterConfig().advertised() == {NODE_CAPABILITY: DEFAULT_NODE}


# --- parse_capability --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu=true", ("gpu", True)),
        ("gpu=false", ("gpu", False)),
        ("cores=8", ("cores", 8)),
        ("offset=-3", ("offset", -3)),
        ("ram.gb=15.5", ("ram.gb", 15.5)),
        ("ratio=-0.25", ("ratio", -0.25)),
        ("whole=2.", ("whole", 2.0)),
        ("role=constellation", ("role", "constellation")),
        ("gpu=TRUE", ("gpu", "TRUE")),
        ("big=1e5", ("big", "1e5")),
        ("half=.5", ("half", ".5")),
        ("eq=a=b", ("eq", "a=b")),
    ],
)
def test_a_command_line_capability_of_true_false_or_a_decimal_number_is_typed_and_any_other_stays_a_string(text: str, expected: tuple[str, Any]):
    name, value = parse_capability(text)
    assert (name, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["novalue", "=x", ""])
def test_a_command_line_capability_without_a_name_and_an_equals_sign_is_refused(text: str):
    with pytest.raises(SpecError) as failure:
        parse_capability(text)
    assert failure.value.key == "capability"
    assert "expected KEY=VALUE" in failure.value.detail


@pytest.mark.parametrize("text", [f"{NODE_CAPABILITY}=edge-1", "has space=x", "9lives=x"])
def test_a_command_line_capability_with_a_reserved_or_malformed_name_is_refused(text: str):
    with pytest.raises(SpecError) as failure:
        parse_capability(text)
    assert failure.value.key == "capability"


# --- satisfies ---------------------------------------------------------------


def test_no_requirements_are_met_by_any_node():
    assert satisfies({}, {})
    assert satisfies({"role": "x"}, {})


def test_a_requirement_the_node_does_not_advertise_is_not_met():
    assert not satisfies({}, {"role": "x"})
    assert not satisfies({"gpu": True}, {"role": "x"})


def test_a_requirement_is_met_by_an_equal_value_and_every_requirement_must_be():
    caps = {"role": "x", "gpu": True, "cores": 8}
    assert satisfies(caps, {"role": "x"})
    assert satisfies(caps, {"role": "x", "gpu": True, "cores": 8})
    assert not satisfies(caps, {"role": "y"})
    assert not satisfies(caps, {"role": "x", "gpu": False})


@pytest.mark.parametrize(
    ("have", "want"),
    [(1, True), (True, 1), (0, False), (False, 0), ("true", True), (1.0, 1), (1, 1.0), ("8", 8)],
)
def test_values_of_different_types_never_meet_each_other(have: object, want: object):
    assert not satisfies({"k": have}, {"k": want})


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(lambda name: name != NODE_CAPABILITY)
values = st.one_of(st.text(max_size=10), st.integers(), st.booleans())
capability_tables = st.dictionaries(names, values, max_size=6)


@given(capability_tables)
def test_any_valid_capabilities_meet_themselves_and_the_empty_requirement(capabilities: dict[str, Any]):
    checked = dict(ClusterConfig(capabilities=capabilities).capabilities)
    assert checked == capabilities
    assert satisfies(checked, checked)
    assert satisfies(checked, {})


def test_a_cluster_config_is_a_hashable_value_and_refuses_non_finite_capabilities() -> None:
    config = ClusterConfig(capabilities={"role": "x", "gpu": True})
    assert hash(config) == hash(ClusterConfig(capabilities={"gpu": True, "role": "x"}))
    with pytest.raises(SpecError) as caught:
        ClusterConfig(capabilities={"load": float("nan")})
    assert caught.value.key == "capabilities.load"


def test_a_childs_lease_ends_one_interval_before_its_supervisor_replaces_it() -> None:
    config = ClusterConfig(heartbeat_interval=0.25, heartbeat_misses=4)
    assert child_lease(config.heartbeat_interval, config.heartbeat_misses) == pytest.approx(config.heartbeat_timeout - 0.25)
    assert start_allowance(0.75) == 10.0 and start_allowance(5.0) == 20.0
