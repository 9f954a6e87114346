"""``python run.py`` as a user runs it: the README's main job, status, stop and checks."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .runtime.conftest import assert_all_gone, wait_until

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config with its data directory under tmp_path."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    system = (config / "system.toml").read_text().replace('data_dir = ".omega"', f'data_dir = "{tmp_path / "data"}"')
    (config / "system.toml").write_text(system)
    return config


def test_the_shipped_config_checks_out():
    result = run_py("config", "check")
    assert result.returncode == 0, result.stderr
    assert "config: ok (tcp base, root 'app' with 5 children)" in result.stdout


def test_a_bad_config_is_reported_with_file_key_and_value(tmp_path):
    (tmp_path / "tree.toml").write_text('[tree]\nstrategy = "one_for_none"\n')
    result = run_py("config", "check", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path / 'tree.toml'}: tree.strategy: expected one of 'one_for_one', 'one_for_all', 'rest_for_one'; got 'one_for_none'" in result.stderr


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


@pytest.mark.slow
def test_the_runtime_benchmark_prints_its_keys_as_json():
    result = run_py("bench", "runtime", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("pingpong_ratio_simple", "pingpong_ratio_tcp", "restart_ms_simple_p50", "restart_ms_tcp_p50", "create_ms_tcp_p50"):
        assert figures[key] > 0, key


@pytest.mark.slow
def test_the_sync_benchmark_prints_sizes_within_the_caps_and_positive_rates():
    result = run_py("bench", "sync", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["push_bytes_p99"] <= 1024 and figures["patterns_per_push_p50"] >= 60
    assert figures["pull_bytes_p99"] <= 5120
    for key in ("decode_only_per_s", "ingest_per_s_sqlite", "publish_ms"):
        assert figures[key] > 0, key
