"""`run.py start --node/--leader/--capability` refusals, and `run.py bench cluster`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import run_py


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


@pytest.mark.tcp
@pytest.mark.slow
def test_the_cluster_benchmark_prints_one_json_line_with_remote_local_and_failover_figures() -> None:
    result = run_py("bench", "cluster", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    figures = json.loads(lines[0])
    for key in ("remote_create_ms_p50", "local_create_ms_p50", "failover_ms_p50", "heartbeat_interval_ms"):
        assert figures[key] > 0, figures
    assert figures["heartbeat_interval_ms"] == 250.0  # the defaults
