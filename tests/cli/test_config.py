"""`run.py config check|apply|rollback|history` as an operator runs them, against a started system, kill -9 included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from omega_actors.storage.state_repository import StateRepository
from tests.cli.process import ROOT, run_py
from tests.runtime.conftest import assert_all_gone, pids_of, wait_until

TREE = '[tree]\nintensity = 5\n\n[[tree.children]]\nid = "a"\nstart = "tests.reload.actors:Worker"\n'
WITH_B = TREE + '\n[[tree.children]]\nid = "b"\nstart = "tests.reload.actors:Worker"\nargs = { tag = "v2" }\n'
WITH_C = TREE + '\n[[tree.children]]\nid = "c"\nstart = "tests.reload.actors:Worker"\n'


@pytest.fixture
def operated(tmp_path: Path):
    """A config directory, and a way to start the system from it that is always cleaned up."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "system.toml").write_text(f'[system]\nbase = "tcp"\nadmin_port = 0\ndata_dir = "{tmp_path / "data"}"\n')
    (config / "tree.toml").write_text(TREE)
    started: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], set[int]]:
        process = subprocess.Popen(
            [sys.executable, "run.py", "start", "--config", str(config)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        started.append(process)
        line = process.stdout.readline()  # type: ignore[union-attr]
        while line.startswith("note:"):
            line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("started on commit"), line + process.stdout.read()  # type: ignore[union-attr]
        return process, set(pids_of(status(config)))

    yield config, start
    for process in started:
        if process.poll() is None:
            run_py("stop", "--config", str(config))
            process.wait(60)
        process.stdout.close()  # type: ignore[union-attr]


def status(config: Path):  # type: ignore[no-untyped-def]
    result = run_py("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    return _tree(json.loads(result.stdout))


def _tree(data: dict):  # type: ignore[no-untyped-def]
    from omega_actors.runtime.introspection import TreeNode

    return TreeNode(
        id=data["id"], path=data["path"], type=data["type"], state=data["state"], restarts=data.get("restarts", 0),
        pid=data.get("pid"), children=tuple(_tree(child) for child in data.get("children", ())),
    )  # fmt: skip


def app_children(config: Path) -> list[str]:
    node = status(config).find("app")
    return [child.id for child in node.children if child.state == "running"]


def write_tree(tmp_path: Path, text: str, name: str = "tree.toml") -> Path:
    edit = tmp_path / "edits" / name
    edit.parent.mkdir(exist_ok=True)
    edit.write_text(text)
    return edit


def apply_in_background(config: Path, edit: Path, window: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "run.py", "config", "apply", str(edit), "--config", str(config), "--window", str(window), "--json"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def repo_of(open_repo, config: Path) -> StateRepository:  # type: ignore[no-untyped-def]
    return open_repo(config.parent / "data" / "state")


@pytest.mark.tcp
@pytest.mark.slow
def test_apply_rollback_and_history_work_against_a_started_system(operated, tmp_path, open_repo):
    config, start = operated
    start()
    applied = run_py("config", "apply", str(write_tree(tmp_path, WITH_B)), "--config", str(config), "--window", "0.5", "--why", "add b", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["changes"] == ["+ app/b"]
    assert app_children(config) == ["a", "b"]
    bad = run_py("config", "apply", str(write_tree(tmp_path, TREE.replace("intensity = 5", "intensity = -1"))), "--config", str(config))
    assert bad.returncode == 2 and "tree.intensity: expected a whole number >= 0; got -1" in bad.stdout
    back = run_py("config", "rollback", "--config", str(config), "--window", "0.5")
    assert back.returncode == 0, back.stderr + back.stdout
    assert app_children(config) == ["a"]
    history = json.loads(run_py("config", "history", "--config", str(config), "--json").stdout)
    assert [(item["outcome"], item["on_main"]) for item in history] == [
        ("rollback", True), ("rejected", False), ("applied", True), ("initial", True),
    ]  # fmt: skip
    assert history[2]["why"] == "add b"


@pytest.mark.tcp
@pytest.mark.slow
def test_a_killed_apply_is_repaired_by_the_next_one(operated, tmp_path, open_repo):
    config, start = operated
    start()
    repo = repo_of(open_repo, config)
    applying = apply_in_background(config, write_tree(tmp_path, WITH_B), window=600)
    # In the middle: the new tree runs, the marker is down, nothing is committed yet.
    wait_until(lambda: repo.pending() is not None and "b" in app_children(config), timeout=60, what="the apply to be in its health window")
    os.kill(applying.pid, signal.SIGKILL)
    applying.wait(30)
    assert len(list(repo.repo.iter_commits("main"))) == 1
    result = run_py("config", "apply", str(write_tree(tmp_path, WITH_C)), "--config", str(config), "--window", "0.2", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    assert app_children(config) == ["a", "c"]
    outcomes = [item["outcome"] for item in json.loads(run_py("config", "history", "--config", str(config), "--json").stdout)]
    assert outcomes == ["applied", "interrupted", "initial"]
    assert repo.pending() is None and not repo.repo.is_dirty(untracked_files=True)


@pytest.mark.tcp
@pytest.mark.slow
def test_a_system_killed_in_the_middle_of_an_apply_comes_back_on_the_last_good_commit(operated, tmp_path, open_repo):
    config, start = operated
    process, pids = start()
    repo = repo_of(open_repo, config)
    good = repo.head()
    applying = apply_in_background(config, write_tree(tmp_path, WITH_B), window=600)
    wait_until(lambda: repo.pending() is not None and "b" in app_children(config), timeout=60, what="the apply to be in its health window")
    pids = pids | set(pids_of(status(config)))
    os.kill(process.pid, signal.SIGKILL)  # the runtime's process: its system goes with it
    assert_all_gone(pids)
    os.kill(applying.pid, signal.SIGKILL)
    applying.wait(30)
    _, new_pids = start()
    assert repo.head() == good and app_children(config) == ["a"]
    assert not new_pids & pids
    history = json.loads(run_py("config", "history", "--config", str(config), "--json").stdout)
    assert [item["outcome"] for item in history] == ["interrupted", "initial"]
    assert repo.pending() is None and not list((config.parent / "data" / "state" / ".git").rglob("*.lock"))


def test_the_shipped_config_checks_out():
    result = run_py("config", "check")
    assert result.returncode == 0, result.stderr
    assert "config: ok (tcp base, root 'app' with 5 children)" in result.stdout


def test_a_bad_config_is_reported_with_file_key_and_value(tmp_path):
    (tmp_path / "tree.toml").write_text('[tree]\nstrategy = "one_for_none"\n')
    result = run_py("config", "check", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path / 'tree.toml'}: tree.strategy: expected one of 'one_for_one', 'one_for_all', 'rest_for_one'; got 'one_for_none'" in result.stderr


def test_config_check_names_a_section_that_nothing_in_omega_reads_and_refuses_a_misspelt_one(tmp_path: Path):
    (tmp_path / "tree.toml").write_text('[tree]\n[library]\nmax_loans = 2\n')
    result = run_py("config", "check", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"note: [library] ({tmp_path / 'tree.toml'}) is read by no part of omega_actors" in result.stdout
    (tmp_path / "brain.toml").write_text("[brian]\ncapacity = 5\n")
    result = run_py("config", "check", str(tmp_path))
    assert result.returncode == 2 and "brian: [brian] is one typo away from [brain]" in result.stderr
