"""The TOML config loader: valid files build frozen specs; bad files are
rejected with the file, the full key, the bad value and what is accepted."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from omega_actors.errors import ConfigError
from omega_actors.runtime.backoff import Backoff
from omega_actors.runtime.child_spec import (
    BRUTAL_KILL,
    DEFAULT_WORKER_SHUTDOWN,
    INFINITY,
    ChildSpec,
    ChildType,
    Restart,
    Start,
)
from omega_actors.runtime.config import Config, load_config
from omega_actors.runtime.supervisor import Supervisor
from omega_actors.runtime.supervisor_spec import (
    DEFAULT_INTENSITY,
    DEFAULT_PERIOD,
    AutoShutdown,
    Strategy,
    SupervisorSpec,
)
from omega_actors.runtime.system import SystemConfig

from .sample_actors import Counter, Echo, Greeter, Outer

MODULE = "tests.runtime.sample_actors"
PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "config"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(directory: Path, text: str, name: str = "tree.toml") -> ConfigError:
    """Write one file, load the directory, and return the ConfigError it must raise."""
    write(directory, name, text)
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value


def assert_error(error: ConfigError, file: str, key: str | None, *fragments: str) -> None:
    assert error.file is not None and error.file.endswith(file), error.file
    assert error.key == key, str(error)
    message = str(error)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- A valid two-file config ---------------------------------------------------

SYSTEM_TOML = """
    [system]
    base = "simple"
    bind = "127.0.0.1"
    admin_port = 0
    data_dir = "state"
    intensity = 2
    period = 10.0
    ask_timeout = 3.5
    log_level = "DEBUG"
"""

TREE_TOML = f"""
    [tree]
    id = "root"
    strategy = "rest_for_one"
    intensity = 3
    period = 20.0
    auto_shutdown = "any_significant"

    [[tree.children]]
    id = "counter"
    start = "{MODULE}:Counter"
    args = {{ start = 10 }}
    restart = "transient"
    shutdown = "brutal_kill"
    name = "counter.main"

    [[tree.children]]
    id = "greeter"
    start = "{MODULE}:Greeter"
    args = {{ greeting = "hello", punctuation = "?" }}
    restart = "temporary"
    shutdown = 2.5
    significant = true

    [[tree.children]]
    id = "echo"
    start = "{MODULE}:Echo"
    shutdown = "infinity"

    [[tree.children]]
    id = "pool"
    type = "supervisor"
    strategy = "one_for_all"
    intensity = 4
    period = 8.0
    shutdown = 30

      [tree.children.backoff]
      initial = 0.5
      maximum = 4.0
      multiplier = 3.0
      jitter = 0.1
      reset_after = 15.0

      [[tree.children.children]]
      id = "worker-1"
      start = "{MODULE}:Counter"

      [[tree.children.children]]
      id = "worker-2"
      start = "{MODULE}:Outer.Inner"
      restart = "transient"
"""


@pytest.fixture
def two_files(tmp_path: Path) -> Config:
    write(tmp_path, "system.toml", SYSTEM_TOML)
    write(tmp_path, "tree.toml", TREE_TOML)
    return load_config(tmp_path)


def test_the_system_table_builds_the_system_config_and_admin_port_zero_means_pick_a_free_port(two_files: Config) -> None:
    assert two_files.system == SystemConfig(
        base="simple",
        bind="127.0.0.1",
        admin_port=None,
        data_dir="state",
        intensity=2,
        period=10.0,
        ask_timeout=3.5,
        log_level="DEBUG",
    )


def test_the_tree_table_builds_the_root_supervisor_flags_and_takes_a_custom_root_id(two_files: Config) -> None:
    tree = two_files.require_tree()
    assert two_files.root_id == "root"
    assert tree.strategy is Strategy.REST_FOR_ONE
    assert tree.intensity == 3
    assert tree.period == 20.0
    assert tree.auto_shutdown is AutoShutdown.ANY_SIGNIFICANT
    assert tree.backoff is None
    assert [child.id for child in tree.children] == ["counter", "greeter", "echo", "pool"]


def test_worker_children_get_restart_shutdown_significant_name_and_args_as_keyword_arguments(two_files: Config) -> None:
    counter, greeter, echo, _ = two_files.require_tree().children
    assert counter == ChildSpec(
        id="counter",
        start=Start(f"{MODULE}:Counter", (), {"start": 10}),
        restart=Restart.TRANSIENT,
        shutdown=BRUTAL_KILL,
        name="counter.main",
    )
    assert counter.start.args == ()
    assert counter.start.kwargs == {"start": 10}
    assert counter.start.actor_class() is Counter
    assert counter.type is ChildType.WORKER
    assert counter.significant is False

    assert greeter.start == Start.of(Greeter, greeting="hello", punctuation="?")
    assert greeter.restart is Restart.TEMPORARY
    assert greeter.shutdown == 2.5
    assert greeter.significant is True
    assert greeter.name is None

    assert echo.start == Start.of(Echo)
    assert echo.shutdown == INFINITY
    assert echo.restart is Restart.PERMANENT


def test_a_supervisor_child_carries_its_own_spec_with_backoff_and_nested_children(two_files: Config) -> None:
    pool = two_files.require_tree().children[3]
    assert pool.type is ChildType.SUPERVISOR
    assert pool.is_supervisor
    assert pool.start.actor_class() is Supervisor
    assert pool.shutdown == 30.0
    assert isinstance(pool.shutdown, float)
    assert pool.restart is Restart.PERMANENT
    (spec,) = pool.start.args
    assert pool.start.kwargs == {}
    assert isinstance(spec, SupervisorSpec)
    assert spec.strategy is Strategy.ONE_FOR_ALL
    assert spec.intensity == 4
    assert spec.period == 8.0
    assert spec.auto_shutdown is AutoShutdown.NEVER
    assert spec.backoff == Backoff(initial=0.5, maximum=4.0, multiplier=3.0, jitter=0.1, reset_after=15.0)
    assert spec.children == (
        Counter.child_spec("worker-1"),
        Outer.Inner.child_spec("worker-2", restart="transient"),
    )


def test_the_loaded_config_and_every_spec_in_it_are_frozen(two_files: Config) -> None:
    tree = two_files.require_tree()
    pool_spec = tree.children[3].start.args[0]
    for target, attribute in [
        (two_files, "tree"),
        (two_files.system, "bind"),
        (tree, "intensity"),
        (tree.children[0], "restart"),
        (tree.children[0].start, "target"),
        (pool_spec, "children"),
        (pool_spec.backoff, "jitter"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(target, attribute, None)
    assert isinstance(tree.children, tuple)
    assert isinstance(pool_spec.children, tuple)


def test_sources_name_the_file_each_table_came_from(two_files: Config, tmp_path: Path) -> None:
    assert dict(two_files.sources) == {
        "system": str(tmp_path / "system.toml"),
        "tree": str(tmp_path / "tree.toml"),
    }


def test_keys_left_out_take_the_otp_defaults_and_the_root_id_defaults_to_app(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tree.toml",
        f"""
        [tree]

        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"

        [[tree.children]]
        id = "sub"
        type = "supervisor"
        """,
    )
    config = load_config(tmp_path)
    assert config.root_id == "app"
    assert config.system == SystemConfig()
    tree = config.require_tree()
    assert tree.strategy is Strategy.ONE_FOR_ONE
    assert tree.intensity == DEFAULT_INTENSITY == 1
    assert tree.period == DEFAULT_PERIOD == 5.0
    assert tree.auto_shutdown is AutoShutdown.NEVER
    assert tree.backoff is None
    assert tree.dynamic is False
    assert tree.max_children is None

    counter, sub = tree.children
    assert counter.restart is Restart.PERMANENT
    assert counter.shutdown == DEFAULT_WORKER_SHUTDOWN == 5.0
    assert counter.significant is False
    assert counter.name is None
    assert counter.start.kwargs == {}

    assert sub.type is ChildType.SUPERVISOR
    assert sub.restart is Restart.PERMANENT
    assert sub.shutdown == INFINITY
    (sub_spec,) = sub.start.args
    assert sub_spec.children == ()
    assert sub_spec.strategy is Strategy.ONE_FOR_ONE
    assert sub_spec.intensity == 1
    assert sub_spec.period == 5.0
    assert sub_spec.backoff is None


def test_a_worker_without_restart_or_shutdown_takes_its_class_defaults_which_the_file_may_override(tmp_path: Path) -> None:
    # child_spec.py and Actor: "each actor class carries its own defaults; a spec
    # or a config file only overrides them".
    write(
        tmp_path,
        "tree.toml",
        f"""
        [tree]

        [[tree.children]]
        id = "defaults"
        start = "{MODULE}:TransientWorker"

        [[tree.children]]
        id = "overridden"
        start = "{MODULE}:TransientWorker"
        restart = "permanent"
        shutdown = 1.5
        """,
    )
    defaults, overridden = load_config(tmp_path).require_tree().children
    assert overridden.restart is Restart.PERMANENT
    assert overridden.shutdown == 1.5
    assert (defaults.restart, defaults.shutdown) == (Restart.TRANSIENT, BRUTAL_KILL)


def test_a_partial_backoff_table_takes_the_backoff_defaults_for_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "tree.toml", "[tree.backoff]\ninitial = 1.0\n")
    assert load_config(tmp_path).require_tree().backoff == Backoff(initial=1.0)


def test_a_config_with_only_a_system_table_has_no_tree_and_require_tree_names_tree(tmp_path: Path) -> None:
    write(tmp_path, "system.toml", "[system]\nbase = \"tcp\"\n")
    config = load_config(tmp_path)
    assert config.tree is None
    assert config.system.base == "tcp"
    assert config.root_id == "app"
    assert dict(config.sources) == {"system": str(tmp_path / "system.toml")}
    with pytest.raises(ConfigError) as caught:
        config.require_tree()
    assert caught.value.key == "tree"
    assert "no [tree] table" in str(caught.value)


def test_admin_port_other_than_zero_is_kept_as_given(tmp_path: Path) -> None:
    write(tmp_path, "system.toml", "[system]\nadmin_port = 1900\n")
    assert load_config(tmp_path).system.admin_port == 1900


def test_a_non_loopback_bind_is_accepted_with_allow_remote_and_a_cluster_secret(tmp_path: Path) -> None:
    write(tmp_path, "system.toml", "[system]\nbind = \"0.0.0.0\"\nallow_remote = true\n")
    write(tmp_path, "cluster.toml", '[cluster]\nnode = "a"\nsecret_file = "/etc/omega/cluster.key"\n')
    system = load_config(tmp_path).system
    assert system.bind == "0.0.0.0"
    assert system.allow_remote is True
    assert system.cluster.secret_file == "/etc/omega/cluster.key"


def test_a_non_loopback_bind_without_a_cluster_secret_is_refused_even_with_allow_remote(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nbind = "10.1.2.3"\nallow_remote = true\n', name="system.toml")
    assert_error(error, "system.toml", "system.bind", "bind = '10.1.2.3'", "needs [cluster] secret_file")


def test_a_cluster_table_gives_the_node_its_name_leader_and_capabilities(tmp_path: Path) -> None:
    write(tmp_path, "cluster.toml", '[cluster]\nnode = "edge-1"\nleader = "127.0.0.1:1900"\ncapabilities = { role = "constellation", gpu = true }\nheartbeat_interval = 0.1\nheartbeat_misses = 3\n')
    cluster = load_config(tmp_path).system.cluster
    assert (cluster.node, cluster.leader) == ("edge-1", "127.0.0.1:1900")
    assert cluster.advertised() == {"role": "constellation", "gpu": True, "omega.node": "edge-1"}
    assert cluster.heartbeat_timeout == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ('node = "a.b"', "cluster.node", "letters, digits, '_' or '-'"),
        ('leader = "nohost"', "cluster.leader", "'HOST:PORT'"),
        ('leader = "h:99999"', "cluster.leader", "'HOST:PORT'"),
        ("capabilities = { gpu = [1] }", "cluster.capabilities.gpu", "a string, finite number or boolean"),
        ('capabilities = { "omega.node" = "x" }', "cluster.capabilities", "not 'omega.node'"),
        ("heartbeat_misses = 0", "cluster.heartbeat_misses", "from 2 to 100"),
        ("heartbeat_interval = -1", "cluster.heartbeat_interval", "positive"),
        ("heartbeats = 3", "cluster.heartbeats", "unknown key 'heartbeats'"),
    ],
)
def test_a_bad_cluster_key_names_the_file_key_value_and_what_is_accepted(tmp_path: Path, line: str, key: str, expected: str) -> None:
    assert_error(load_error(tmp_path, f"[cluster]\n{line}\n", name="cluster.toml"), "cluster.toml", key, expected)


def test_a_child_may_require_capabilities_of_its_node(tmp_path: Path) -> None:
    write(tmp_path, "tree.toml", '[tree]\n[[tree.children]]\nid = "agg"\nstart = "tests.runtime.probes:Probe"\nargs = { log = "x" }\nrequires = { role = "constellation" }\n')
    child = load_config(tmp_path).require_tree().children[0]
    assert dict(child.requires) == {"role": "constellation"}
    assert hash(child) == hash(child)  # specs stay hashable values


def test_files_other_than_toml_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "[tre]\nnot toml at all = = =\n")
    write(tmp_path, "tree.toml", "[tree]\nid = \"main\"\n")
    assert load_config(tmp_path).root_id == "main"


# --- Errors: where, what, and what is accepted -----------------------------------


def test_an_error_reads_file_then_key_then_message(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[tree]\nintensity = -1\n")
    assert error.file == str(tmp_path / "tree.toml")
    assert str(error) == f"{tmp_path / 'tree.toml'}: tree.intensity: {error.detail}"
    assert "got -1" in error.detail


@pytest.mark.parametrize(("name", "meant"), [("tre", "tree"), ("trees", "tree"), ("systen", "system"), ("clustr", "cluster")])
def test_a_table_one_typo_from_a_runtime_section_is_refused_with_a_did_you_mean_hint(tmp_path: Path, name: str, meant: str):
    error = load_error(tmp_path, f"[{name}]\nstrategy = \"one_for_one\"\n")
    expected = (f"[{name}] is one typo away", f"did you mean [{meant}]?", "[system], [cluster], [tree]")
    assert_error(error, "tree.toml", name, *expected)


def test_a_top_level_key_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "tree = 5\n")
    assert_error(error, "tree.toml", "tree", "expected a table ([tree])", "got int 5")


def test_the_same_table_in_two_files_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "[tree]\nid = \"one\"\n")
    write(tmp_path, "b.toml", "[tree]\nid = \"two\"\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert_error(caught.value, "b.toml", "tree", f"[tree] is already defined in {tmp_path / 'a.toml'}", "one file")


def test_an_unknown_key_in_a_child_suggests_the_closest_accepted_key(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [tree]

        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"

        [[tree.children]]
        id = "pool"
        type = "supervisor"
        stratgy = "one_for_all"
        """,
    )
    assert_error(
        error,
        "tree.toml",
        "tree.children[1].stratgy",
        "unknown key 'stratgy'",
        "did you mean 'strategy'?",
        "expected one of: id, type, start, args, restart, shutdown, significant, name, requires, strategy,",
    )


def test_a_supervisor_key_on_a_worker_child_is_an_unknown_key(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"
        intensity = 3
        """,
    )
    assert_error(error, "tree.toml", "tree.children[0].intensity", "unknown key 'intensity'", "expected one of: id, type, start")


def test_an_unknown_key_in_the_root_tree_is_named(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[tree]\nperiod_s = 5\n")
    assert_error(error, "tree.toml", "tree.period_s", "unknown key 'period_s'", "did you mean 'period'?", "expected one of: id, strategy")


def test_an_unknown_key_in_the_system_table_is_named(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[system]\nbse = \"tcp\"\n", name="system.toml")
    assert_error(error, "system.toml", "system.bse", "unknown key 'bse'", "did you mean 'base'?", "expected one of: base, bind")


def test_a_bad_restart_value_lists_the_restart_types(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "echo"
        start = "{MODULE}:Echo"

        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"
        restart = "always"
        """,
    )
    assert_error(
        error, "tree.toml", "tree.children[1].restart", "got 'always'", "'permanent', 'transient', 'temporary'"
    )


@pytest.mark.parametrize(("toml_value", "shown"), [("-1", "got -1"), ('"forever"', "got 'forever'"), ("inf", "got inf")])
def test_a_bad_shutdown_value_lists_what_shutdown_accepts(tmp_path: Path, toml_value: str, shown: str) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"
        shutdown = {toml_value}
        """,
    )
    assert_error(
        error, "tree.toml", "tree.children[0].shutdown", shown, "a number of seconds >= 0, 'brutal_kill' or 'infinity'"
    )


def test_a_bad_strategy_on_a_nested_supervisor_child_names_its_full_key(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"

        [[tree.children]]
        id = "pool"
        type = "supervisor"
        strategy = "one_for_some"
        """,
    )
    assert_error(
        error,
        "tree.toml",
        "tree.children[1].strategy",
        "got 'one_for_some'",
        "'one_for_one', 'one_for_all', 'rest_for_one'",
    )


def test_a_bad_strategy_two_levels_down_names_the_whole_path(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        [[tree.children]]
        id = "outer"
        type = "supervisor"

          [[tree.children.children]]
          id = "inner"
          type = "supervisor"
          strategy = "all_for_one"
        """,
    )
    assert_error(error, "tree.toml", "tree.children[0].children[0].strategy", "got 'all_for_one'", "'rest_for_one'")


def test_a_negative_intensity_on_the_root_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[tree]\nintensity = -1\n")
    assert_error(error, "tree.toml", "tree.intensity", "expected a whole number >= 0", "got -1")


def test_a_negative_intensity_on_a_supervisor_child_names_the_child(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[tree.children]]\nid = "pool"\ntype = "supervisor"\nintensity = -3\n')
    assert_error(error, "tree.toml", "tree.children[0].intensity", "expected a whole number >= 0", "got -3")


def test_a_negative_intensity_in_the_system_table_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[system]\nintensity = -2\n", name="system.toml")
    assert_error(error, "system.toml", "system.intensity", "expected a whole number >= 0", "got -2")


@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ("tests.runtime.no_such_module:Counter", ("cannot import 'tests.runtime.no_such_module:Counter'", "no_such_module")),
        (f"{MODULE}:NoSuchClass", (f"cannot import '{MODULE}:NoSuchClass'", "NoSuchClass")),
        (f"{MODULE}:NotAnActor", (f"'{MODULE}:NotAnActor' is not a subclass of omega_actors.runtime.Actor",)),
        (f"{MODULE}.Counter", (f"expected 'package.module:ClassName'; got '{MODULE}.Counter'",)),
    ],
)
def test_a_start_target_that_cannot_be_imported_is_named(tmp_path: Path, target: str, fragments: tuple[str, ...]) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "w"\nstart = "{target}"\n')
    assert_error(error, "tree.toml", "tree.children[0].start", *fragments)


def test_a_start_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[tree.children]]\nid = "w"\nstart = 42\n')
    assert_error(error, "tree.toml", "tree.children[0].start", "expected 'package.module:Class'", "got int 42")


@pytest.mark.parametrize(
    ("cls", "args", "fragment"),
    [
        ("Counter", "{ begin = 1 }", "unexpected keyword argument 'begin'"),
        ("Greeter", "{ punctuation = '.' }", "missing a required argument: 'greeting'"),
        ("Echo", "{ text = 'x' }", "unexpected keyword argument 'text'"),
    ],
)
def test_args_that_do_not_fit_the_class_signature_are_refused(tmp_path: Path, cls: str, args: str, fragment: str) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "w"\nstart = "{MODULE}:{cls}"\nargs = {args}\n')
    assert_error(error, "tree.toml", "tree.children[0].args", f"arguments do not fit {MODULE}:{cls}", fragment)


def test_args_that_are_not_a_table_are_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "w"\nstart = "{MODULE}:Counter"\nargs = [10]\n')
    assert_error(error, "tree.toml", "tree.children[0].args", "expected a table of keyword arguments", "got list [10]")


def test_a_worker_without_start_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[tree.children]]\nid = "w"\nname = "w"\n')
    assert_error(error, "tree.toml", "tree.children[0].start", "a worker child needs start = 'package.module:Class'")


def test_a_child_without_an_id_is_refused(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f'[[tree.children]]\nid = "a"\nstart = "{MODULE}:Counter"\n\n[[tree.children]]\nstart = "{MODULE}:Counter"\n',
    )
    assert_error(error, "tree.toml", "tree.children[1].id", "every child needs an id")


def test_a_malformed_child_id_is_refused_with_the_accepted_characters(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "two words"\nstart = "{MODULE}:Counter"\n')
    assert_error(error, "tree.toml", "tree.children[0].id", "got 'two words'", "letters, digits, '_' or '-'")


def test_a_malformed_name_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "w"\nstart = "{MODULE}:Counter"\nname = "a name"\n')
    assert_error(error, "tree.toml", "tree.children[0].name", "got 'a name'", "letters, digits, '_', '.', ':' or '-'")


def test_duplicate_child_ids_name_the_second_child(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Counter"

        [[tree.children]]
        id = "counter"
        start = "{MODULE}:Echo"
        """,
    )
    assert_error(error, "tree.toml", "tree.children[1].id", "duplicate child id 'counter'")


def test_duplicate_child_ids_in_a_nested_supervisor_name_the_nested_key(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "pool"
        type = "supervisor"

          [[tree.children.children]]
          id = "w"
          start = "{MODULE}:Counter"

          [[tree.children.children]]
          id = "w"
          start = "{MODULE}:Counter"
        """,
    )
    assert_error(error, "tree.toml", "tree.children[0].children[1].id", "duplicate child id 'w'")


def test_significant_with_a_permanent_restart_is_a_bad_combination(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [tree]
        auto_shutdown = "any_significant"

        [[tree.children]]
        id = "w"
        start = "{MODULE}:Counter"
        significant = true
        """,
    )
    assert_error(
        error, "tree.toml", "tree.children[0].significant", "bad combination", "restart = 'permanent' with significant = true", "transient or temporary"
    )


def test_significant_under_auto_shutdown_never_is_a_bad_combination(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f"""
        [[tree.children]]
        id = "w"
        start = "{MODULE}:Counter"
        restart = "transient"
        significant = true
        """,
    )
    assert_error(
        error,
        "tree.toml",
        "tree.children[0].significant",
        "bad combination",
        "auto_shutdown = 'never' with significant = true",
        "'any_significant' or 'all_significant'",
    )


def test_significant_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        f'[tree]\nauto_shutdown = "all_significant"\n[[tree.children]]\nid = "w"\nstart = "{MODULE}:Counter"\n'
        'restart = "temporary"\nsignificant = "yes"\n',
    )
    assert_error(error, "tree.toml", "tree.children[0].significant", "expected true or false", "got 'yes'")


def test_a_supervisor_child_given_start_is_refused(tmp_path: Path) -> None:
    error = load_error(
        tmp_path, f'[[tree.children]]\nid = "pool"\ntype = "supervisor"\nstart = "{MODULE}:Counter"\n'
    )
    assert_error(error, "tree.toml", "tree.children[0].start", "a supervisor child takes supervisor keys", "not start or args")


def test_a_supervisor_child_given_args_names_the_args_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[tree.children]]\nid = "pool"\ntype = "supervisor"\nargs = { start = 1 }\n')
    assert_error(error, "tree.toml", "tree.children[0].args", "a supervisor child takes supervisor keys", "not start or args")


def test_an_unknown_child_type_lists_the_types(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[[tree.children]]\nid = "w"\ntype = "actor"\nstart = "{MODULE}:Counter"\n')
    assert_error(error, "tree.toml", "tree.children[0].type", "got 'actor'", "'worker', 'supervisor'")


def test_root_children_that_are_not_an_array_of_tables_are_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[tree]\nchildren = "counter"\n')
    assert_error(error, "tree.toml", "tree.children", "expected an array of tables ([[tree.children]])", "got str 'counter'")


def test_children_written_as_a_single_table_instead_of_an_array_are_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[tree.children]\nid = "w"\nstart = "{MODULE}:Counter"\n')
    assert_error(error, "tree.toml", "tree.children", "expected an array of tables ([[tree.children]])", "got dict")


def test_nested_children_that_are_not_an_array_of_tables_name_the_nested_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[tree.children]]\nid = "pool"\ntype = "supervisor"\nchildren = [1, 2]\n')
    assert_error(
        error,
        "tree.toml",
        "tree.children[0].children",
        "expected an array of tables ([[tree.children[0].children]])",
        "got list [1, 2]",
    )


def test_invalid_toml_syntax_names_the_file_and_the_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[tree]\nid = "app"\nstrategy = \n')
    assert_error(error, "tree.toml", None, "not valid TOML", "line 3")


def test_a_file_that_is_not_utf8_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "tree.toml").write_bytes(b'[tree]\nid = "caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert_error(caught.value, "tree.toml", None)


def test_an_empty_directory_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.file == str(tmp_path)
    assert caught.value.key is None
    assert f"no *.toml files in {tmp_path}" in str(caught.value)


def test_a_directory_that_does_not_exist_is_refused_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.file == str(missing)
    assert "no *.toml files" in str(caught.value)


def test_a_non_loopback_bind_without_allow_remote_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nbind = "0.0.0.0"\n', name="system.toml")
    assert_error(error, "system.toml", "system.bind", "bind = '0.0.0.0'", "set allow_remote = true", "'127.0.0.1'")


def test_a_bind_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nbind = "localhost:1900"\n', name="system.toml")
    assert_error(error, "system.toml", "system.bind", "expected an IPv4 address", "got 'localhost:1900'")


def test_a_bad_base_lists_the_bases(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nbase = "threads"\n', name="system.toml")
    assert_error(error, "system.toml", "system.base", "expected one of 'simple', 'tcp'", "got 'threads'")


def test_a_base_that_is_not_a_string_is_refused_not_crashed_on(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nbase = ["simple"]\n', name="system.toml")
    assert_error(error, "system.toml", "system.base", "expected one of 'simple', 'tcp'", "got ['simple']")


def test_a_bad_admin_port_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[system]\nadmin_port = 70000\n", name="system.toml")
    assert_error(error, "system.toml", "system.admin_port", "or 0 for a free one", "got 70000")


def test_a_bad_log_level_lists_the_levels(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[system]\nlog_level = "debug"\n', name="system.toml")
    assert_error(error, "system.toml", "system.log_level", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'", "got 'debug'")


@pytest.mark.parametrize(
    ("key", "toml_value", "fragments"),
    [
        ("jitter", "1.5", ("expected a fraction in [0, 1)", "got 1.5")),
        ("multiplier", "0.5", ("expected a number >= 1", "got 0.5")),
        ("initial", "0", ("expected a positive number of seconds", "got 0")),
        ("reset_after", '"soon"', ("expected a positive number of seconds", "got 'soon'")),
    ],
)
def test_a_bad_backoff_value_names_the_backoff_key(tmp_path: Path, key: str, toml_value: str, fragments: tuple[str, ...]) -> None:
    error = load_error(tmp_path, f"[tree]\n\n[tree.backoff]\n{key} = {toml_value}\n")
    assert_error(error, "tree.toml", f"tree.backoff.{key}", *fragments)


def test_a_bad_backoff_value_on_a_supervisor_child_names_the_child(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        '[[tree.children]]\nid = "pool"\ntype = "supervisor"\n\n  [tree.children.backoff]\n  initial = 2.0\n  maximum = 1.0\n',
    )
    assert_error(error, "tree.toml", "tree.children[0].backoff.maximum", "maximum (1.0) must not be below initial (2.0)")


def test_an_unknown_backoff_key_suggests_the_closest(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[tree.backoff]\njiter = 0.1\n")
    assert_error(
        error,
        "tree.toml",
        "tree.backoff.jiter",
        "unknown key 'jiter'",
        "did you mean 'jitter'?",
        "expected one of: initial, maximum, multiplier, jitter, reset_after",
    )


def test_a_backoff_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[tree]\nbackoff = 5\n")
    assert_error(error, "tree.toml", "tree.backoff", "expected a table", "got int 5")


def test_a_malformed_root_id_is_refused_when_the_file_is_loaded(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[tree]\nid = "my app"\n')
    assert_error(error, "tree.toml", "tree.id", "got 'my app'", "letters, digits, '_' or '-'")


def test_a_dynamic_root_with_children_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, f'[tree]\ndynamic = true\n[[tree.children]]\nid = "w"\nstart = "{MODULE}:Counter"\n')
    assert_error(error, "tree.toml", "tree.children", "a dynamic supervisor starts empty", "['w']")


def test_an_error_in_one_file_names_that_file_not_another(tmp_path: Path) -> None:
    write(tmp_path, "system.toml", SYSTEM_TOML)
    error = load_error(tmp_path, '[tree]\nstrategy = "none"\n', name="tree.toml")
    assert_error(error, "tree.toml", "tree.strategy", "got 'none'")


# --- The project's own config -------------------------------------------------------


def test_the_shipped_project_config_loads() -> None:
    if not PROJECT_CONFIG.is_dir() or not any(PROJECT_CONFIG.glob("*.toml")):
        pytest.skip(f"{PROJECT_CONFIG} has no *.toml files yet; nothing shipped to check")
    config = load_config(PROJECT_CONFIG)
    assert all(Path(source).parent == PROJECT_CONFIG for source in config.sources.values())
    if config.tree is not None:
        assert all(isinstance(child, ChildSpec) for child in config.tree.children)


# --- The application's own sections ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class LibrarySettings:
    max_loans: int = 3
    greeting: str = "welcome"

    def __post_init__(self) -> None:
        if isinstance(self.max_loans, bool) or not isinstance(self.max_loans, int) or self.max_loans < 1:
            raise ConfigError(f"expected a whole number >= 1; got {self.max_loans!r}", key="max_loans")


def test_any_other_table_is_the_applications_and_is_kept_with_its_file(tmp_path: Path) -> None:
    write(tmp_path, "tree.toml", TREE_TOML)
    library = write(tmp_path, "library.toml", "[library]\nmax_loans = 2\n\n[router]\nmax_input_chars = 10\n")
    config = load_config(tmp_path)
    assert dict(config.tables) == {"library": {"max_loans": 2}, "router": {"max_input_chars": 10}}
    assert config.sources["library"] == config.sources["router"] == str(library)


def test_a_section_reads_as_the_applications_frozen_settings(tmp_path: Path) -> None:
    write(tmp_path, "library.toml", "[library]\nmax_loans = 2\n")
    assert load_config(tmp_path).section("library", LibrarySettings) == LibrarySettings(max_loans=2)


def test_a_section_no_file_defines_reads_as_the_settings_defaults(tmp_path: Path) -> None:
    write(tmp_path, "tree.toml", TREE_TOML)
    assert load_config(tmp_path).section("library", LibrarySettings) == LibrarySettings()


def test_an_unknown_key_in_a_section_names_its_file_its_key_and_the_closest_accepted(tmp_path: Path) -> None:
    write(tmp_path, "library.toml", "[library]\nmax_loan = 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path).section("library", LibrarySettings)
    assert_error(caught.value, "library.toml", "library.max_loan", "unknown key 'max_loan'",
                 "did you mean 'max_loans'?", "expected one of: max_loans, greeting")  # fmt: skip


def test_a_bad_value_in_a_section_is_located_by_the_settings_own_check(tmp_path: Path) -> None:
    write(tmp_path, "library.toml", "[library]\nmax_loans = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path).section("library", LibrarySettings)
    assert_error(caught.value, "library.toml", "library.max_loans", "expected a whole number >= 1; got 0")


def test_an_application_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "library = 5\n", name="library.toml")
    assert_error(error, "library.toml", "library", "expected a table ([library])", "got int 5")


def test_an_application_section_in_two_files_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "[library]\nmax_loans = 1\n")
    write(tmp_path, "b.toml", "[library]\nmax_loans = 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert_error(caught.value, "b.toml", "library", f"[library] is already defined in {tmp_path / 'a.toml'}")


def test_a_runtime_section_is_not_read_as_an_application_section(tmp_path: Path) -> None:
    write(tmp_path, "tree.toml", TREE_TOML)
    with pytest.raises(ValueError, match=r"\[system\] is the runtime's own section: read config.system"):
        load_config(tmp_path).section("system", LibrarySettings)
