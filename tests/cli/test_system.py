"""``run.py run|start|status|stop`` as a user runs them: the tree live with faults, status and stop from another process."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.process import ROOT, run_py
from tests.runtime.conftest import assert_all_gone, wait_until


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config with its data directory under tmp_path."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    system = (config / "system.toml").read_text().replace('data_dir = ".omega"', f'data_dir = "{tmp_path / "data"}"')
    (config / "system.toml").write_text(system)
    return config


def test_the_main_job_runs_the_tree_injects_faults_and_stops_in_order(project):
    result = run_py("run", "--config", str(project), "--base", "simple", "--seconds", "3", "--chaos", "0.5")
    assert result.returncode == 0, result.stderr
    assert "└─ app [supervisor, one_for_one]  running" in result.stdout
    assert "faults injected" in result.stdout and result.stdout.rstrip().endswith("stopped: shutdown")


@pytest.mark.tcp
@pytest.mark.slow
def test_status_and_stop_reach_a_system_started_by_another_process(project):
    main = subprocess.Popen(
        [sys.executable, "run.py", "run", "--config", str(project), "--forever", "--chaos", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    processes: set[int] = set()
    try:
        run_file = project.parent / "data" / "run" / "system.json"
        wait_until(run_file.exists, timeout=60, what="the run file")
        status = run_py("status", "--json", "--config", str(project))
        assert status.returncode == 0, status.stderr
        tree = json.loads(status.stdout)
        app = next(child for child in tree["children"] if child["id"] == "app")
        assert [child["id"] for child in app["children"]] == ["ticker", "counter", "watcher", "pipeline", "flaky"]
        processes = {node["pid"] for node in _walk(tree) if node["pid"]}
        stop = run_py("stop", "--config", str(project))
        assert stop.returncode == 0 and "stopped: shutdown" in stop.stdout
        assert main.wait(timeout=60) == 0
        assert not run_file.exists()
    finally:
        if main.poll() is None:
            main.send_signal(signal.SIGTERM)
            main.wait(timeout=60)
        main.stdout.close()
        main.stderr.close()
    assert_all_gone(processes)


def _walk(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("children", []) for n in _walk(child))]


def test_status_without_a_running_system_says_so(project):
    result = run_py("status", "--config", str(project))
    assert result.returncode == 2 and "no running system" in result.stderr


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--node", "a.b"], "node: expected 1-64 letters, digits, '_' or '-'; got 'a.b'"),
        (["--leader", "nohost"], "leader: expected 'HOST:PORT'"),
        (["--capability", "gpu"], "capability: expected KEY=VALUE"),
        (["--capability", "omega.node=x"], "not 'omega.node'"),
    ],
)
def test_a_bad_cluster_flag_is_refused_with_what_is_accepted(tmp_path: Path, flags: list[str], expected: str) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "system.toml").write_text(f'[system]\nbase = "tcp"\ndata_dir = "{tmp_path / "data"}"\n')
    (config / "tree.toml").write_text("[tree]\n")
    result = run_py("start", "--config", str(config), *flags, timeout=120)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stdout + result.stderr
