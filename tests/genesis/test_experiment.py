"""Whole experiments, end to end: real git, real processes, pytest as the command; merge on a branch or roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omega_actors.errors import GenesisError
from omega_actors.genesis import Experiment, Sandboxes, admit, new_experiment_id
from omega_actors.genesis.database import ExperimentDatabase
from omega_actors.genesis.experiment import BRANCH_PREFIX

from .conftest import (
    BRAIN_TOML,
    CALC,
    TEST_CALC,
    branches,
    config_request,
    diff_of,
    git,
    head,
    patch_request,
    request_for,
    snapshot,
)

EXTRA_TEST = "from calc import add\n\n\ndef test_add_negative():\n    assert add(-2, -3) == -5\n"


def run_all(experiment: Experiment) -> dict[str, Any]:
    """Every step, in order, as the actor runs them; the outcome. The sandbox is discarded if a step raises."""
    try:
        for _, step in experiment.steps():
            step()
    except BaseException:
        experiment.discard()
        raise
    return experiment.outcome()


def genesis_branches(repository: Path) -> list[str]:
    return [name for name in branches(repository) if name.startswith(BRANCH_PREFIX)]


def test_a_patch_adding_a_passing_test_succeeds_and_is_committed_on_its_branch_leaving_the_work_tree_alone(
    project: Path, sandboxes: Sandboxes
) -> None:
    diff = diff_of(project, {"tests/test_extra.py": EXTRA_TEST})
    request = patch_request(project, diff, protected=[])
    base, files_before, status_before = head(project), snapshot(project, skip=project / ".git"), git(project, "status", "--porcelain")
    experiment_id = new_experiment_id()
    admit(request, sandboxes)

    outcome = run_all(Experiment(experiment_id, request, sandboxes))

    assert (outcome["status"], outcome["recommendation"]) == ("success", "merge"), outcome["reasons"]
    assert outcome["baseline"]["tests_passed"] == 2 and outcome["candidate"]["tests_passed"] == 3
    assert outcome["broken"] == [] and outcome["experiment_id"] == experiment_id
    branch = f"genesis/{experiment_id}"
    assert outcome["merged"]["branch"] == branch and genesis_branches(project) == [branch]
    assert git(project, "rev-parse", branch).strip() == outcome["merged"]["commit"]
    assert git(project, "rev-parse", f"{branch}^").strip() == base
    assert git(project, "show", f"{branch}:tests/test_extra.py") == EXTRA_TEST
    assert git(project, "diff", "--name-only", base, branch).split() == ["tests/test_extra.py"]
    assert f"Genesis-Experiment: {experiment_id}" in git(project, "log", "-1", "--format=%B", branch)
    # the requester's repository: same HEAD, same branch checked out, same files, same (clean) status, no stray index
    assert head(project) == base and git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert snapshot(project, skip=project / ".git") == files_before
    assert git(project, "status", "--porcelain") == status_before == ""
    assert not list((project / ".git").glob("genesis-*.index"))
    assert not (sandboxes.root / experiment_id).exists() and sandboxes.existing() == []


def test_a_patch_that_breaks_a_passing_test_fails_is_rolled_back_and_names_the_broken_test(
    project: Path, sandboxes: Sandboxes
) -> None:
    diff = diff_of(project, {"calc/__init__.py": CALC.replace("return a + b", "return a - b")})
    request = patch_request(project, diff)
    base = head(project)
    admit(request, sandboxes)
    experiment_id = new_experiment_id()

    outcome = run_all(Experiment(experiment_id, request, sandboxes))

    assert (outcome["status"], outcome["recommendation"]) == ("failed", "rollback")
    assert [name for name in outcome["broken"] if name.endswith("::test_add")] == outcome["broken"] != []
    assert any("test_add" in reason and "now fail" in reason for reason in outcome["reasons"]), outcome["reasons"]
    assert outcome["merged"] == {} and genesis_branches(project) == []
    assert head(project) == base and (project / "calc" / "__init__.py").read_text() == CALC
    assert not (sandboxes.root / experiment_id).exists()


def test_admit_refuses_a_patch_that_does_not_apply_before_any_sandbox_exists(project: Path, sandboxes: Sandboxes) -> None:
    stale = diff_of(project, {"calc/__init__.py": CALC.replace("a * b", "b * a")})
    git(project, "rm", "-q", "calc/__init__.py")
    git(project, *("commit", "-q", "-m", "calc moves out"))

    with pytest.raises(GenesisError, match="does not apply") as caught:
        admit(patch_request(project, stale), sandboxes)
    assert caught.value.key == "change.diff"
    assert sandboxes.existing() == []


def test_admit_refuses_a_patch_touching_tests_with_the_default_protected_paths(project: Path, sandboxes: Sandboxes) -> None:
    diff = diff_of(project, {"tests/test_calc.py": TEST_CALC.replace("== 5", "== 5 or True")})
    request = patch_request(project, diff)
    assert request.validation.protected == ("tests/",)

    with pytest.raises(GenesisError, match="protected") as caught:
        admit(request, sandboxes)
    assert "tests/test_calc.py" in str(caught.value) and caught.value.key == "change.diff"
    assert sandboxes.existing() == []


def test_admit_refuses_a_repository_or_base_that_does_not_exist(project: Path, sandboxes: Sandboxes, tmp_path: Path) -> None:
    diff = diff_of(project, {"calc/extra.py": "X = 1\n"})
    (tmp_path / "plain").mkdir()

    with pytest.raises(GenesisError) as no_repository:
        admit(patch_request(tmp_path / "plain", diff), sandboxes)
    assert no_repository.value.key == "change.repository"
    with pytest.raises(GenesisError) as no_base:
        admit(request_for({"kind": "patch", "repository": str(project), "diff": diff, "base": "no-such-branch"}), sandboxes)
    assert no_base.value.key == "change.base"
    assert sandboxes.existing() == []


def test_admit_accepts_a_valid_config_change_of_a_state_repository(state_repository: Path, sandboxes: Sandboxes) -> None:
    admit(config_request(state_repository, {"brain.toml": "[brain]\nsimilarity_weight = 0.5\n"}), sandboxes)


def test_admit_refuses_an_invalid_tree_value_naming_the_key(state_repository: Path, sandboxes: Sandboxes) -> None:
    tree = (state_repository / "config" / "tree.toml").read_text().replace('"one_for_one"', '"sideways"')

    with pytest.raises(GenesisError) as caught:
        admit(config_request(state_repository, {"tree.toml": tree}), sandboxes)
    assert caught.value.key == "change.files" and "strategy" in str(caught.value)
    assert sandboxes.existing() == []


@pytest.mark.parametrize(("brain", "key"), [
    ("[brain]\nsimilarity_weight = -1.0\n", "similarity_weight"),
    ('[brain]\nskill_weight = "high"\n', "skill_weight"),
    ("[brain]\nsimilarity_wieght = 0.5\n", "similarity_wieght"),
])  # fmt: skip
def test_admit_refuses_an_invalid_brain_value_naming_the_key(
    state_repository: Path, sandboxes: Sandboxes, brain: str, key: str
) -> None:
    with pytest.raises(GenesisError) as caught:
        admit(config_request(state_repository, {"brain.toml": brain}), sandboxes)
    assert caught.value.key == "change.files" and key in str(caught.value)
    assert sandboxes.existing() == []


# (No braces: the command's parts are format strings.) Reads the sandbox's brain.toml and reports one passing JUnit test per tenth of similarity_weight.
JUNIT_FROM_CONFIG = """
import sys, tomllib
weight = tomllib.load(open(sys.argv[1] + "/config/brain.toml", "rb"))["brain"]["similarity_weight"]
cases = "".join('<testcase classname="weights" name="w%d"/>' % i for i in range(round(weight * 10)))
open(sys.argv[2], "w").write('<testsuites><testsuite name="w">' + cases + '</testsuite></testsuites>')
"""


def test_a_config_change_that_improves_its_target_is_committed_on_its_branch(state_repository: Path, sandboxes: Sandboxes) -> None:
    new_brain = BRAIN_TOML.replace("similarity_weight = 0.3", "similarity_weight = 0.5")
    request = config_request(state_repository, {"brain.toml": new_brain},
                             command=["{python}", "-c", JUNIT_FROM_CONFIG, "{sandbox}", "{junit}"])  # fmt: skip
    base = head(state_repository)
    admit(request, sandboxes)
    experiment_id = new_experiment_id()

    outcome = run_all(Experiment(experiment_id, request, sandboxes))

    assert (outcome["status"], outcome["recommendation"]) == ("success", "merge"), outcome["reasons"]
    assert (outcome["baseline"]["tests_passed"], outcome["candidate"]["tests_passed"]) == (3, 5)
    assert outcome["change"]["files"] == {"brain.toml": new_brain}
    branch = f"genesis/{experiment_id}"
    assert git(state_repository, "show", f"{branch}:config/brain.toml") == new_brain
    assert git(state_repository, "diff", "--name-only", base, branch).split() == ["config/brain.toml"]
    assert head(state_repository) == base and (state_repository / "config" / "brain.toml").read_text() == BRAIN_TOML
    assert git(state_repository, "status", "--porcelain") == ""


def test_a_run_whose_command_exceeds_its_timeout_fails_with_a_reason_naming_the_limit(project: Path, sandboxes: Sandboxes) -> None:
    diff = diff_of(project, {"calc/__init__.py": CALC + "\n\nZERO = 0\n"})
    request = patch_request(project, diff, command=["{python}", "-c", "while True: pass"], timeout=2, cpu_seconds=600)
    experiment_id = new_experiment_id()

    outcome = run_all(Experiment(experiment_id, request, sandboxes))

    assert (outcome["status"], outcome["recommendation"]) == ("failed", "rollback")
    assert any("limit" in reason for reason in outcome["reasons"]), outcome["reasons"]
    assert any("wall-clock" in reason for reason in outcome["reasons"]), outcome["reasons"]
    assert outcome["merged"] == {} and genesis_branches(project) == []
    assert not (sandboxes.root / experiment_id).exists()


def test_the_outcome_reports_sandbox_creation_rollback_and_overhead_timings(project: Path, sandboxes: Sandboxes) -> None:
    diff = diff_of(project, {"calc/__init__.py": CALC + "\n\nZERO = 0\n"})
    request = patch_request(project, diff, command=["{python}", "-c", "pass"])

    outcome = run_all(Experiment(new_experiment_id(), request, sandboxes))

    timings = outcome["timings"]
    for key in ("sandbox_create_ms", "rollback_ms", "overhead_ms", "total_ms", "apply_ms", "grade_ms",
                "baseline-1_command_ms", "baseline-2_command_ms", "candidate_command_ms"):  # fmt: skip
        assert key in timings and timings[key] >= 0, (key, timings)
    commands = sum(value for key, value in timings.items() if key.endswith("_command_ms"))
    assert timings["overhead_ms"] == pytest.approx(timings["total_ms"] - commands)


# ---------------------------------------------------------------- PostgreSQL


def databases(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


@pytest.fixture
def experiment_database(postgres_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    database = ExperimentDatabase(new_experiment_id(), tmp_path / "db.sqlite3", postgres_url)
    yield database
    database.drop()


def test_an_experiment_database_is_created_as_genesis_id_and_dropped(experiment_database: ExperimentDatabase, postgres_url: str) -> None:
    name = experiment_database.name
    assert name.startswith("genesis_g") and name not in databases(postgres_url)

    env = experiment_database.fresh()

    assert name in databases(postgres_url)
    assert set(env) == {"OMEGA_DATABASE_URL"} and f"dbname={name}" in env["OMEGA_DATABASE_URL"]
    assert name in databases(env["OMEGA_DATABASE_URL"])  # the handed URL connects
    experiment_database.drop()
    assert name not in databases(postgres_url)


def test_fresh_hands_the_command_a_url_without_the_servers_password(postgres_url: str, tmp_path: Path) -> None:
    with_password = postgres_url.replace("postgresql://", "postgresql://root:s3cret-pw@")
    database = ExperimentDatabase(new_experiment_id(), tmp_path / "db.sqlite3", with_password)
    try:
        env = database.fresh()
    finally:
        database.drop()

    assert "s3cret-pw" not in env["OMEGA_DATABASE_URL"] and "password" not in env["OMEGA_DATABASE_URL"]
    assert database.name not in databases(postgres_url)


def test_fresh_empties_the_database_before_each_run(experiment_database: ExperimentDatabase) -> None:
    import psycopg

    url = experiment_database.fresh()["OMEGA_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE left_behind (x int)")
    url = experiment_database.fresh()["OMEGA_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as connection:
        assert connection.execute("SELECT to_regclass('left_behind')").fetchone() == (None,)


def test_an_experiment_on_postgres_gives_its_command_the_database_and_drops_it_at_the_end(
    project: Path, sandboxes: Sandboxes, postgres_url: str
) -> None:
    use = ("import os, psycopg\nwith psycopg.connect(os.environ['OMEGA_DATABASE_URL'], autocommit=True) as c:\n"
           "    c.execute('CREATE TABLE runs (x int)')\n")  # fmt: skip
    diff = diff_of(project, {"calc/__init__.py": CALC + "\n\nZERO = 0\n"})
    experiment_id = new_experiment_id()
    experiment = Experiment(experiment_id, patch_request(project, diff, command=["{python}", "-c", use]), sandboxes,
                            database_url=postgres_url)  # fmt: skip

    outcome = run_all(experiment)

    assert outcome["logs"] == {}, outcome["logs"]
    assert all(result.ok for result in experiment.results.values())
    assert f"genesis_{experiment_id}" not in databases(postgres_url)
    assert not (sandboxes.root / experiment_id).exists()
