"""parse_request: every field checked, every refusal names its field (GenesisError.key)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.errors import GenesisError
from omega_actors.genesis.request import (
    METRICS,
    ConfigChange,
    ExperimentRequest,
    PatchChange,
    Validation,
    parse_request,
)

COMMAND = ["{python}", "-m", "omega_actors.genesis.replay", "--config", "{sandbox}/config",
           "--episodes", "{episodes}", "--out", "{rankings}"]  # fmt: skip
DIFF = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
ACCEPTED_METRICS = "recall_at_10, ndcg_at_10, tests_passed, duration_s, peak_rss_mb"


def config_request() -> dict[str, Any]:
    return {
        "experiment_type": "experimental",
        "description": "rank by taste only",
        "risk_level": "high",
        "estimated_impact": "+10% Recall@10",
        "rollback_plan": "delete the sandbox",
        "change": {
            "kind": "config",
            "repository": ".omega/state",
            "files": {"router.toml": "[router]\n", "brain.toml": "[brain]\nsimilarity_weight = 0.0\n"},
        },
        "validation": {
            "command": list(COMMAND),
            "metrics": ["recall_at_10", "duration_s"],
            "targets": ["recall_at_10"],
            "dataset": "tests/data/movielens_small",
        },
    }


def patch_request() -> dict[str, Any]:
    return {
        "experiment_type": "local",
        "description": "a faster loop",
        "risk_level": "low",
        "estimated_impact": "-20% duration",
        "rollback_plan": "revert the commit",
        "change": {"kind": "patch", "repository": "/srv/repo", "base": "main", "diff": DIFF},
        "validation": {
            "command": ["{python}", "-m", "pytest", "--junitxml={junit}"],
            "metrics": ["tests_passed", "duration_s"],
        },
    }


def without(data: dict[str, Any], dotted: str) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    table = result
    for part in parents:
        table = table[part]
    del table[last]
    return result


def with_value(data: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    result = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    table = result
    for part in parents:
        table = table[part]
    table[last] = value
    return result


def refused(data: object, requester: str | None = None) -> GenesisError:
    try:
        parse_request(data, requester)
    except GenesisError as error:
        return error
    pytest.fail(f"parse_request accepted a request it must refuse: {data!r}")


# ---------------------------------------------------------------- valid requests


def test_a_valid_config_change_request_parses_into_its_fields_with_the_files_sorted_by_name() -> None:
    request = parse_request(config_request())

    assert request.experiment_type == "experimental"
    assert request.description == "rank by taste only"
    assert request.risk_level == "high"
    assert request.estimated_impact == "+10% Recall@10"
    assert request.rollback_plan == "delete the sandbox"
    assert request.requester == "cli"
    assert request.extra == {}
    assert request.change == ConfigChange(
        repository=".omega/state",
        files=(("brain.toml", "[brain]\nsimilarity_weight = 0.0\n"), ("router.toml", "[router]\n")),
        base="HEAD",
    )
    assert request.change.kind == "config"
    assert request.validation == Validation(
        command=tuple(COMMAND),
        metrics=("recall_at_10", "duration_s"),
        targets=("recall_at_10",),
        regression_threshold=0.05,
        timeout=300.0,
        cpu_seconds=300,
        memory_mb=2048,
        protected=("tests/",),
        dataset="tests/data/movielens_small",
        users=60,
    )


def test_a_valid_patch_request_parses_and_its_targets_default_to_every_metric() -> None:
    request = parse_request(patch_request())

    assert request.experiment_type == "local"
    assert request.risk_level == "low"
    assert request.change == PatchChange(repository="/srv/repo", diff=DIFF, base="main")
    assert request.change.kind == "patch"
    assert request.validation.command == ("{python}", "-m", "pytest", "--junitxml={junit}")
    assert request.validation.metrics == ("tests_passed", "duration_s")
    assert request.validation.targets == ("tests_passed", "duration_s")
    assert request.validation.regression_threshold == 0.05
    assert request.validation.protected == ("tests/",)
    assert request.validation.dataset == ""
    assert (request.validation.timeout, request.validation.cpu_seconds, request.validation.memory_mb) == (300.0, 300, 2048)
    assert request.validation.users == 60


def test_explicit_limits_and_protected_paths_are_kept_as_given() -> None:
    data = patch_request()
    data["validation"].update(regression_threshold=0, timeout=2.5, cpu_seconds=10, memory_mb=64, users=3,
                              protected=[])  # fmt: skip

    validation = parse_request(data).validation

    assert validation.regression_threshold == 0.0
    assert validation.timeout == 2.5
    assert validation.cpu_seconds == 10
    assert validation.memory_mb == 64
    assert validation.users == 3
    assert validation.protected == ()


def test_the_metric_table_lists_which_metrics_are_better_higher_and_which_need_a_dataset() -> None:
    assert {name: (m.higher_is_better, m.needs_dataset) for name, m in METRICS.items()} == {
        "recall_at_10": (True, True),
        "ndcg_at_10": (True, True),
        "tests_passed": (True, False),
        "duration_s": (False, False),
        "peak_rss_mb": (False, False),
    }


# ---------------------------------------------------------------- missing fields


@pytest.mark.parametrize("field", [
    "experiment_type", "description", "risk_level", "estimated_impact", "rollback_plan", "change", "validation",
    "validation.command", "validation.metrics",
])  # fmt: skip
def test_a_request_missing_a_required_field_is_refused_and_the_error_names_that_field(field: str) -> None:
    error = refused(without(config_request(), field))

    assert error.key == field
    assert str(error).startswith(f"{field}: ")
    assert "missing" in error.detail or "got nothing" in error.detail


def test_a_patch_request_without_its_diff_is_refused_and_names_change_diff() -> None:
    error = refused(without(patch_request(), "change.diff"))

    assert error.key == "change.diff"
    assert error.detail == "missing; expected text"


def test_a_request_without_a_rollback_plan_is_refused_and_names_the_field() -> None:
    error = refused(without(config_request(), "rollback_plan"))

    assert error.key == "rollback_plan"
    assert str(error) == "rollback_plan: missing; expected text"


@pytest.mark.parametrize("value", ["", "   ", 7, "x" * 2001])
def test_a_description_that_is_blank_not_text_or_too_long_is_refused(value: object) -> None:
    assert refused(with_value(config_request(), "description", value)).key == "description"


@pytest.mark.parametrize(("field", "value"), [("experiment_type", "global-ish"), ("risk_level", "extreme")])
def test_a_choice_outside_its_accepted_values_is_refused_listing_them(field: str, value: str) -> None:
    error = refused(with_value(config_request(), field, value))

    assert error.key == field
    accepted = "local, global, experimental" if field == "experiment_type" else "low, medium, high"
    assert error.detail == f"expected one of {accepted}; got {value!r}"


@pytest.mark.parametrize("data", [None, [], "request", 3])
def test_a_request_that_is_not_a_table_is_refused_under_the_key_request(data: object) -> None:
    assert refused(data).key == "request"


# ---------------------------------------------------------------- metrics, targets, dataset


def test_an_unknown_metric_is_refused_naming_the_metric_and_listing_the_accepted_ones() -> None:
    error = refused(with_value(config_request(), "validation.metrics", ["duration_s", "recall@10"]))

    assert error.key == "validation.metrics"
    assert error.detail == f"unknown metric 'recall@10'; expected one of: {ACCEPTED_METRICS}"


def test_an_unknown_target_is_refused_under_validation_targets() -> None:
    error = refused(with_value(config_request(), "validation.targets", ["speed"]))

    assert error.key == "validation.targets"
    assert "'speed'" in error.detail


def test_a_target_that_is_not_among_the_metrics_is_refused() -> None:
    data = with_value(patch_request(), "validation.metrics", ["duration_s"])
    data["validation"]["targets"] = ["tests_passed"]

    error = refused(data)

    assert error.key == "validation.targets"
    assert error.detail == "'tests_passed' is a target but not among the metrics ['duration_s']"


def test_a_metric_named_twice_is_refused() -> None:
    error = refused(with_value(patch_request(), "validation.metrics", ["duration_s", "duration_s"]))

    assert error.key == "validation.metrics"
    assert "named twice" in error.detail


@pytest.mark.parametrize("metric", ["recall_at_10", "ndcg_at_10"])
def test_a_ranking_metric_without_a_dataset_is_refused_under_validation_dataset(metric: str) -> None:
    data = without(config_request(), "validation.dataset")
    data["validation"]["metrics"] = [metric]
    data["validation"]["targets"] = [metric]

    error = refused(data)

    assert error.key == "validation.dataset"
    assert "recall_at_10 and ndcg_at_10 need recorded episodes" in error.detail


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("part", ["{home}/x", "{}", "{0}", "{python.real}", "{sandbox[0]}"])
def test_an_unknown_placeholder_in_the_command_is_refused_listing_the_accepted_ones(part: str) -> None:
    error = refused(with_value(patch_request(), "validation.command", ["{python}", part]))

    assert error.key == "validation.command"
    assert "unknown placeholder" in error.detail
    assert error.detail.endswith("expected one of: {python}, {sandbox}, {junit}, {rankings}, {episodes}, {catalogue}")


def test_an_unbalanced_brace_in_the_command_is_refused_and_says_how_to_write_a_literal_brace() -> None:
    error = refused(with_value(patch_request(), "validation.command", ["{python"]))

    assert error.key == "validation.command"
    assert "write {{ and }} for literal braces" in error.detail


def test_every_known_placeholder_and_doubled_braces_are_accepted_in_the_command() -> None:
    command = ["{python}", "{sandbox}/x", "--junitxml={junit}", "{rankings}", "{episodes}", "{catalogue}", "{{literal}}"]

    assert parse_request(with_value(patch_request(), "validation.command", command)).validation.command == tuple(command)


@pytest.mark.parametrize("part", ["{python:{bogus}}", "{python!x}", "{sandbox:>{junit}}"])
def test_a_placeholder_with_a_conversion_or_format_spec_is_refused_because_the_command_cannot_be_formatted(
    part: str,
) -> None:
    # The experiment formats each part with str.format(python=..., sandbox=Path, ...): "{python:{bogus}}" raises
    # KeyError, "{python!x}" and "{sandbox:>{junit}}" raise ValueError/TypeError there, after the request was admitted.
    try:
        parse_request(with_value(patch_request(), "validation.command", ["{python}", part]))
    except GenesisError as error:
        assert error.key == "validation.command"
        return
    pytest.fail(f"BUG (request.py _check_placeholders): {part!r} is accepted, but only the field name is checked, "
                "not the conversion or the format spec (which may hold a nested unknown placeholder); "
                "the command then fails to format in Experiment.run")  # fmt: skip


@pytest.mark.parametrize("command", [[], ["ok", ""], "python -m x", ["ok", 3]])
def test_a_command_that_is_not_a_non_empty_list_of_non_empty_text_is_refused(command: object) -> None:
    assert refused(with_value(patch_request(), "validation.command", command)).key == "validation.command"


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, 2, 1.0000001, True, "0.1"])
def test_a_regression_threshold_outside_zero_to_one_or_not_a_number_is_refused(value: object) -> None:
    error = refused(with_value(patch_request(), "validation.regression_threshold", value))

    assert error.key == "validation.regression_threshold"
    assert error.detail == f"expected a number from 0 to 1; got {value!r}"


@pytest.mark.parametrize(("field", "value"), [("cpu_seconds", 1.5), ("memory_mb", 63), ("users", 0), ("timeout", 0.0)])
def test_limits_outside_their_range_or_not_whole_are_refused(field: str, value: object) -> None:
    assert refused(with_value(patch_request(), f"validation.{field}", value)).key == f"validation.{field}"


@pytest.mark.parametrize("field", ["regression_threshold", "timeout", "cpu_seconds", "memory_mb", "users"])
def test_a_number_too_large_for_a_float_is_refused_with_a_genesis_error(field: str) -> None:
    # JSON (an event payload) has no integer limit: json.loads("1" + "0" * 400) is a valid int.
    data = with_value(patch_request(), f"validation.{field}", 10**400)
    try:
        parse_request(data)
    except GenesisError as error:
        assert error.key == f"validation.{field}"
        return
    except OverflowError as error:
        pytest.fail(f"BUG (request.py _number): validation.{field} = 10**400 raises OverflowError ({error}) "
                    "instead of GenesisError; math.isfinite/float() overflow on huge ints")  # fmt: skip
    pytest.fail(f"validation.{field} = 10**400 was accepted")


# ---------------------------------------------------------------- unknown fields, file names, requester


@pytest.mark.parametrize(("field", "key"), [
    ("colour", "colour"), ("change.colour", "change.colour"), ("validation.colour", "validation.colour"),
])  # fmt: skip
def test_an_unknown_field_is_refused_and_names_it(field: str, key: str) -> None:
    error = refused(with_value(config_request(), field, "blue"))

    assert error.key == key
    assert error.detail.startswith("unknown field 'colour'; expected one of: ")


def test_a_config_change_may_not_carry_a_diff_nor_a_patch_change_files() -> None:
    assert refused(with_value(config_request(), "change.diff", DIFF)).key == "change.diff"
    assert refused(with_value(patch_request(), "change.files", {"brain.toml": ""})).key == "change.files"


@pytest.mark.parametrize("name", ["../x.toml", "a/b.toml", "/etc/x.toml", "brain.json", ".toml", "brain.toml\n"])
def test_a_config_file_name_that_is_not_a_plain_toml_name_is_refused(name: str) -> None:
    error = refused(with_value(config_request(), "change.files", {name: "[brain]\n"}))

    assert error.key == "change.files"
    assert error.detail == f"expected a plain file name like brain.toml; got {name!r}"


def test_a_config_change_without_files_or_with_non_text_contents_is_refused() -> None:
    assert refused(with_value(config_request(), "change.files", {})).key == "change.files"
    assert refused(with_value(config_request(), "change.files", {"brain.toml": 1})).key == "change.files.brain.toml"


@pytest.mark.parametrize("base", ["-x", "", "a b", "HEAD;rm", 3])
def test_a_base_that_is_not_a_git_revision_is_refused(base: object) -> None:
    assert refused(with_value(patch_request(), "change.base", base)).key == "change.base"


def test_the_requester_argument_is_validated_and_overrides_the_requester_in_the_request() -> None:
    data = with_value(config_request(), "requester", "tv-3")

    assert parse_request(data).requester == "tv-3"
    assert parse_request(data, requester="agent_7").requester == "agent_7"


@pytest.mark.parametrize("who", ["", "has space", "a.b", "x" * 65, "genesis.*", "ü"])
def test_a_requester_that_is_not_a_subject_token_is_refused(who: str) -> None:
    assert refused(config_request(), requester=who).key == "requester"
    assert refused(with_value(config_request(), "requester", who)).key == "requester"


def test_a_requester_that_is_not_text_is_refused() -> None:
    assert refused(with_value(config_request(), "requester", 7)).key == "requester"


def test_extra_must_be_a_table_and_is_kept() -> None:
    assert parse_request(with_value(config_request(), "extra", {"for": "g0123"})).extra == {"for": "g0123"}
    assert refused(with_value(config_request(), "extra", ["for"])).key == "extra"


# ---------------------------------------------------------------- round trip


def test_a_config_request_round_trips_through_to_dict() -> None:
    data = config_request()
    data["requester"] = "tv-1"
    data["extra"] = {"improvement": "g0123456789ab", "n": 2}
    data["validation"].update(regression_threshold=0.1, timeout=12.5, cpu_seconds=20, memory_mb=512, users=7,
                              protected=["tests/", "omega_actors/genesis/"])  # fmt: skip
    request = parse_request(data)

    assert parse_request(request.to_dict()) == request
    assert request.to_dict()["change"]["files"] == data["change"]["files"]


def test_a_patch_request_round_trips_through_to_dict() -> None:
    request = parse_request(patch_request())

    again = parse_request(request.to_dict())

    assert again == request
    assert isinstance(again.change, PatchChange)


# ---------------------------------------------------------------- never any other exception

_FIELDS = ["experiment_type", "description", "risk_level", "estimated_impact", "rollback_plan", "change", "validation",
           "requester", "extra", "kind", "repository", "base", "files", "diff", "command", "metrics", "targets",
           "regression_threshold", "timeout", "cpu_seconds", "memory_mb", "protected", "dataset", "users"]  # fmt: skip
_WORDS = ["config", "patch", "local", "global", "experimental", "low", "high", "HEAD", "brain.toml", "../x.toml",
          "recall_at_10", "duration_s", "tests_passed", "{python}", "{bogus}", "{", "tests/", "cli"]  # fmt: skip
_keys = st.sampled_from(_FIELDS) | st.text(max_size=12)
# Integers within TOML's 64-bit range: the overflow above 1e308 has its own test.
_simple = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
           | st.sampled_from(_WORDS))  # fmt: skip
_values = st.recursive(_simple, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
                       max_leaves=25)  # fmt: skip


def _outcome(data: object) -> None:
    try:
        result = parse_request(data)
    except GenesisError as error:
        assert error.detail
        return
    assert isinstance(result, ExperimentRequest)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=10))
def test_parse_request_on_an_arbitrary_table_returns_a_request_or_raises_genesis_error_and_nothing_else(
    data: dict[str, Any],
) -> None:
    _outcome(data)


_PATHS = ["experiment_type", "description", "risk_level", "estimated_impact", "rollback_plan", "change", "validation",
          "requester", "extra", "change.kind", "change.repository", "change.base", "change.files", "change.diff",
          "change.files.brain.toml", "validation.command", "validation.metrics", "validation.targets",
          "validation.regression_threshold", "validation.timeout", "validation.cpu_seconds", "validation.memory_mb",
          "validation.protected", "validation.dataset", "validation.users", "validation.extra_field"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.sampled_from(_PATHS), st.none() | _values), min_size=1, max_size=3))
def test_parse_request_on_a_valid_request_with_arbitrary_fields_replaced_returns_a_request_or_raises_genesis_error(
    patch: bool, replacements: list[tuple[str, object]],
) -> None:
    data = patch_request() if patch else config_request()
    for path, value in replacements:
        *parents, last = path.split(".", 2) if path.startswith("change.files.") else path.split(".")
        table: Any = data
        for part in parents:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict):
            if value is None:
                table.pop(last, None)
            else:
                table[last] = value
    _outcome(data)
