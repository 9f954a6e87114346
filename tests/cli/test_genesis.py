"""``python run.py genesis request | list | show`` and ``bench genesis``, as a user runs them: real git, real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.cli import test_config
from tests.cli.process import ROOT, run_py
from tests.genesis.conftest import (
    CALC,
    PYTEST_COMMAND,
    TEST_CALC,
    branches,
    diff_of,
    git,
    head,
    init_repository,
)
from tests.runtime.conftest import assert_all_gone

EXTRA_TEST = "from calc import add\n\n\ndef test_add_negative():\n    assert add(-2, -3) == -5\n"
BROKEN_CALC = CALC.replace("return a + b", "return a - b")


# ---------------------------------------------------------------- helpers


def toml_value(value: Any) -> str:
    """A TOML value for a string, number or list of them (a JSON string is a valid TOML basic string)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


def write_request(path: Path, repository: str, diff: str, **validation: Any) -> Path:
    """A patch request file (TOML): pytest as the command, tests_passed the metric, nothing protected; ``validation`` overrides."""
    table = {"command": list(PYTEST_COMMAND), "metrics": ["tests_passed"], "targets": ["tests_passed"], "protected": [],
             "timeout": 300, **validation}  # fmt: skip
    lines = [
        'experiment_type = "experimental"', 'description = "a change tried by the CLI tests"', 'risk_level = "low"',
        'estimated_impact = "one more passing test"', 'rollback_plan = "delete the sandbox"', "",
        "[change]", 'kind = "patch"', f"repository = {toml_value(repository)}", f"diff = {toml_value(diff)}", "",
        "[validation]", *(f"{key} = {toml_value(value)}" for key, value in table.items()),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def genesis(*args: str | Path, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "genesis", *map(str, args)], cwd=cwd, check=False,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def request_cli(request: Path, data: Path, sandboxes: Path, *extra: str, cwd: Path = ROOT, base: str | None = "simple"
                ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    options = ["--data-dir", str(data), "--sandboxes", str(sandboxes), *(["--base", base] if base else [])]
    return genesis("request", request, *options, *extra, cwd=cwd)


def genesis_branches(repository: Path) -> list[str]:
    return [name for name in branches(repository) if name.startswith("genesis/")]


def leftover_entries(sandboxes: Path) -> list[str]:
    """What the sandboxes directory holds besides the shared exports (.base)."""
    return sorted(p.name for p in sandboxes.iterdir() if p.name != ".base") if sandboxes.exists() else []


def processes_mentioning(marker: str) -> set[int]:
    """Live processes whose command line mentions ``marker`` (forked actor processes keep the CLI's command line)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = next((line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")), "")
        except OSError:
            continue
        if marker.encode() in cmdline and "zombie" not in state:
            found.add(int(entry.name))
    return found


def new_project(folder: Path) -> Path:
    return init_repository(folder / "project", {"calc/__init__.py": CALC, "tests/test_calc.py": TEST_CALC})


# ---------------------------------------------------------------- one successful experiment, shared


@pytest.fixture(scope="module")
def succeeded(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    """A patch adding a passing test, requested with ``--json`` on the simple base: the run and its paths."""
    root = tmp_path_factory.mktemp("genesis-success")
    project = new_project(root)
    base = head(project)
    request = write_request(root / "req.toml", str(project), diff_of(project, {"tests/test_extra.py": EXTRA_TEST}))
    data, sandboxes = root / "data", root / "sandboxes"
    result = request_cli(request, data, sandboxes, "--json")
    return {"result": result, "project": project, "base": base, "data": data, "sandboxes": sandboxes}


def test_a_patch_adding_a_passing_test_is_merged_on_its_genesis_branch_and_leaves_no_sandbox(succeeded: Mapping[str, Any]) -> None:
    result, project = succeeded["result"], succeeded["project"]
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["recommendation"]) == ("success", "merge"), record
    experiment_id = record["id"]
    branch = record["outcome"]["merged"]["branch"]
    assert branch == f"genesis/{experiment_id}"
    assert git(project, "rev-parse", "--verify", branch).strip() == record["outcome"]["merged"]["commit"]
    assert git(project, "show", f"{branch}:tests/test_extra.py") == EXTRA_TEST
    assert genesis_branches(project) == [branch]
    assert head(project) == succeeded["base"] and not (project / "tests" / "test_extra.py").exists()
    assert (succeeded["sandboxes"] / ".base").is_dir()
    assert leftover_entries(succeeded["sandboxes"]) == []


def test_list_and_show_read_back_the_experiment_and_show_of_an_unknown_id_fails_with_a_message(
    succeeded: Mapping[str, Any]
) -> None:
    assert succeeded["result"].returncode == 0, succeeded["result"].stderr
    experiment_id = json.loads(succeeded["result"].stdout)["id"]
    data = succeeded["data"]

    listing = genesis("list", "--json", "--data-dir", data)
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [(row["id"], row["status"], row["recommendation"]) for row in rows] == [(experiment_id, "success", "merge")]

    shown = genesis("show", experiment_id, "--json", "--data-dir", data)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["id"] == experiment_id and record["status"] == "success"
    assert record["request"]["change"]["kind"] == "patch"
    assert record["request"]["change"]["repository"] == str(succeeded["project"])
    assert record["request"]["validation"]["metrics"] == ["tests_passed"]
    for key in ("sandbox_create_ms", "overhead_ms", "rollback_ms"):
        assert isinstance(record["timings"][key], (int, float)) and record["timings"][key] >= 0, key
    assert record["outcome"]["merged"]["branch"] == f"genesis/{experiment_id}"
    assert record["outcome"]["candidate"]["tests_passed"] == 3 and record["outcome"]["baseline"]["tests_passed"] == 2

    text = genesis("show", experiment_id, "--data-dir", data)
    assert text.returncode == 0 and f"{experiment_id}: success, recommendation merge" in text.stdout

    missing = genesis("show", "gffffffffffff", "--json", "--data-dir", data)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no experiment 'gffffffffffff'" in missing.stderr and "Traceback" not in missing.stderr


# ---------------------------------------------------------------- failures and refusals


def test_a_patch_that_breaks_a_passing_test_exits_1_recommends_rollback_and_makes_no_branch(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    request = write_request(tmp_path / "req.toml", str(project), diff_of(project, {"calc/__init__.py": BROKEN_CALC}))
    sandboxes = tmp_path / "sandboxes"

    result = request_cli(request, tmp_path / "data", sandboxes, "--json")

    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["recommendation"]) == ("failed", "rollback"), record
    assert record["outcome"]["merged"] == {}
    assert genesis_branches(project) == []
    assert (project / "calc" / "__init__.py").read_text() == CALC
    assert leftover_entries(sandboxes) == []


def test_a_request_with_an_unknown_metric_is_refused_with_exit_2_naming_the_metric_and_its_field(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    diff = diff_of(project, {"tests/test_extra.py": EXTRA_TEST})
    request = write_request(tmp_path / "req.toml", str(project), diff, metrics=["tests_passed", "happiness"], targets=["tests_passed"])
    sandboxes = tmp_path / "sandboxes"

    result = request_cli(request, tmp_path / "data", sandboxes)

    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "'happiness'" in output and "validation.metrics" in output
    assert "Traceback" not in result.stderr
    assert genesis_branches(project) == [] and leftover_entries(sandboxes) == []


def test_a_request_file_that_is_not_valid_toml_is_refused_naming_the_file_without_a_traceback(tmp_path: Path) -> None:
    request = tmp_path / "broken.toml"
    request.write_text('experiment_type = "experimental\n[change\n')

    result = request_cli(request, tmp_path / "data", tmp_path / "sandboxes")

    assert result.returncode != 0
    assert str(request) in result.stderr and "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# ---------------------------------------------------------------- paths, and the default (tcp) base


def test_a_relative_repository_is_resolved_against_the_current_directory(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    write_request(tmp_path / "req.toml", "project", diff_of(project, {"tests/test_extra.py": EXTRA_TEST}))
    sandboxes = tmp_path / "sandboxes"

    result = request_cli(Path("req.toml"), Path("data"), sandboxes, "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["recommendation"]) == ("success", "merge"), record
    assert record["request"]["change"]["repository"] == str(project)
    assert record["outcome"]["merged"]["repository"] == str(project)
    branch = f"genesis/{record['id']}"
    assert genesis_branches(project) == [branch]
    assert git(project, "show", f"{branch}:tests/test_extra.py") == EXTRA_TEST
    assert (tmp_path / "data" / "genesis.sqlite3").is_file() and leftover_entries(sandboxes) == []


@pytest.mark.tcp
def test_on_the_default_tcp_base_each_of_three_requests_succeeds_its_record_agrees_with_the_branches_and_no_process_is_left(
    tmp_path: Path,
) -> None:
    """The experiment actor reports its verdict and then ends, on another path than its exit event: the verdict must win."""
    project = new_project(tmp_path)
    request = write_request(tmp_path / "req.toml", str(project), diff_of(project, {"tests/test_extra.py": EXTRA_TEST}))
    data, sandboxes = tmp_path / "data", tmp_path / "sandboxes"
    records = []
    try:
        for _ in range(3):
            result = request_cli(request, data, sandboxes, "--json", base=None)
            assert result.stdout.startswith("{"), result.stdout + result.stderr
            record = json.loads(result.stdout)
            records.append((record["id"], record["status"], record["recommendation"], record["outcome"].get("reason", ""),
                            f"genesis/{record['id']}" in genesis_branches(project), result.returncode))  # fmt: skip
    finally:
        assert_all_gone(processes_mentioning(str(data)))
    assert [(status, recommendation, reason, branched, code) for _, status, recommendation, reason, branched, code in records] == [
        ("success", "merge", "", True, 0)] * 3, records
    assert sorted(genesis_branches(project)) == sorted(f"genesis/{experiment_id}" for experiment_id, *_ in records)
    assert leftover_entries(sandboxes) == []


# ---------------------------------------------------------------- the benchmark


@pytest.mark.slow
def test_the_genesis_benchmark_prints_one_json_line_of_positive_figures() -> None:
    result = run_py("bench", "genesis", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    figures = json.loads(lines[0])
    for key in ("full_copy_ms_p50", "sandbox_create_ms_p50", "sandbox_remove_ms_p50", "rollback_ms_p50",
                "experiment_overhead_ms_p50", "create_remove_vs_copy"):  # fmt: skip
        value = figures[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, (key, value)


# ---------------------------------------------------------------- --apply-to: a merged config change reaches the running system

operated = test_config.operated  # the fixture: `run.py start` from a config directory, always stopped

SKILL_OFF = "[brain]\nskill_weight = 0.0\n"
REPLAY_COMMAND = ["{python}", "-m", "omega_actors.genesis.replay", "--config", "{sandbox}/config", "--episodes", "{episodes}",
                  "--catalogue", "{catalogue}", "--out", "{rankings}"]  # fmt: skip


def start_from_project_tree(operated: Any) -> tuple[Path, Path]:
    """Start ``operated``'s system on the project's tree (a sandbox cannot import tests.*); its config and state repository."""
    config, start = operated
    shutil.copyfile(ROOT / "config" / "tree.toml", config / "tree.toml")
    start()
    return config, state_dir_of(config)


def state_dir_of(config: Path) -> Path:
    """The state repository of the system started from ``config``, as its run file records it."""
    return Path(json.loads((config.parent / "data" / "run" / "system.json").read_text())["state_dir"])


def write_config_request(path: Path, repository: Path) -> Path:
    """A config request (JSON) turning the skill weight off, graded by Recall@10 on 15 MovieLens users."""
    request = {
        "experiment_type": "global", "description": "rank without the skill term", "risk_level": "medium",
        "estimated_impact": "+Recall@10", "rollback_plan": "config rollback",
        "change": {"kind": "config", "repository": str(repository), "files": {"brain.toml": SKILL_OFF}},
        "validation": {"command": REPLAY_COMMAND, "metrics": ["recall_at_10"],
                       "dataset": str(ROOT / "tests" / "data" / "movielens_small"), "users": 15},
    }  # fmt: skip
    path.write_text(json.dumps(request))
    return path


def config_history(config: Path) -> list[dict[str, Any]]:
    result = run_py("config", "history", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.tcp
@pytest.mark.slow
def test_a_merged_config_change_with_apply_to_is_applied_to_the_running_system_and_committed_on_its_state_repository(
    operated: Any, tmp_path: Path
) -> None:
    config, state = start_from_project_tree(operated)
    request = write_config_request(tmp_path / "req.json", state)

    result = request_cli(request, tmp_path / "genesis", tmp_path / "sandboxes", "--json", "--apply-to", str(config))

    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["recommendation"]) == ("success", "merge"), record
    assert record["applied"]["status"] == "applied", record["applied"]
    newest = config_history(config)[0]
    assert newest["outcome"] == "applied" and record["id"] in newest["why"], newest
    assert newest["commit"] == record["applied"]["commit"] == git(state, "rev-parse", "HEAD").strip()
    assert git(state, "show", "HEAD:config/brain.toml") == SKILL_OFF
    assert leftover_entries(tmp_path / "sandboxes") == []


@pytest.mark.tcp
@pytest.mark.slow
def test_apply_to_a_system_whose_state_repository_is_not_the_requests_is_rejected_naming_both_and_changes_nothing(
    operated: Any, tmp_path: Path
) -> None:
    config, state = start_from_project_tree(operated)
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "clone", "--quiet", "--branch", "main", str(state), str(elsewhere))
    request = write_config_request(tmp_path / "req.json", elsewhere)
    before, head_before = config_history(config), git(state, "rev-parse", "HEAD")

    result = request_cli(request, tmp_path / "genesis", tmp_path / "sandboxes", "--json", "--apply-to", str(config))

    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["recommendation"]) == ("success", "merge"), record
    applied = record["applied"]
    assert applied["status"] == "rejected", applied
    assert str(elsewhere) in applied["reason"] and str(state) in applied["reason"], applied
    assert config_history(config) == before
    assert git(state, "rev-parse", "HEAD") == head_before
