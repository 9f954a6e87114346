"""``python run.py route`` and ``route stats`` as a user runs them, against a real chat-completions server."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.cli.process import ROOT, run_py
from tests.router.chat_server import ChatServer


@pytest.fixture
def router_config(tmp_path: Path) -> Path:
    """The shipped config/router, with its data directory under tmp_path."""
    config = tmp_path / "router"
    shutil.copytree(ROOT / "config" / "router", config)
    system = (config / "system.toml").read_text().replace('data_dir = ".omega"', f'data_dir = "{tmp_path / "data"}"')
    (config / "system.toml").write_text(system)
    return config


def point_small_at(config: Path, server: ChatServer) -> None:
    settings = (config / "router.toml").read_text().replace("http://127.0.0.1:11434/v1", server.url)
    (config / "router.toml").write_text(settings)


def route(config: Path, *args: str) -> dict:
    result = run_py("route", *args, "--config", str(config), "--json", timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_the_shipped_router_config_checks_out() -> None:
    result = run_py("config", "check", "config/router")
    assert result.returncode == 0, result.stderr
    assert "config/router: ok (tcp base, a [router] table)" in result.stdout


def test_route_prints_the_layer_the_reason_the_answer_and_the_cost(router_config: Path) -> None:
    with ChatServer() as server:
        point_small_at(router_config, server)
        result = run_py("route", "what should I watch now?", "--config", str(router_config), timeout=300)
        assert result.returncode == 0, result.stderr
        for line in ("answer:   intent: recommend", "layer:    L3 tiny", "private: local layers only", "policy:   prefer local",
                     "attempt:  L3 tiny", "cost:     0 tokens, 0.200 J"):
            assert line in result.stdout
        question = route(router_config, "who wrote hamlet")
        assert (question["layer"], question["answer"]) == ("L4 small", "qwen2.5:1.5b-instruct says: who wrote hamlet")
        assert server.requests == {"qwen2.5:1.5b-instruct": 1}


def test_energy_options_reach_the_policy(router_config: Path) -> None:
    with ChatServer() as server:
        point_small_at(router_config, server)
        low = route(router_config, "who wrote hamlet", "--on-battery", "--battery", "15")
        assert low["plan"] == ["L3 tiny"] and low["answer"] is None and "L2-L3 only" in low["policy"]
        clean = route(router_config, "fix this python function", "--carbon", "40")
        assert "40 g/kWh" in clean["policy"]
        assert server.requests == {"qwen2.5:1.5b-instruct": 1}  # L6 is not configured: the code task ends at L4


def test_an_unreachable_endpoint_is_a_failed_attempt_not_a_crash(router_config: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and that nothing listens on now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = (router_config / "router.toml").read_text().replace("http://127.0.0.1:11434/v1", f"http://127.0.0.1:{port}/v1")
    (router_config / "router.toml").write_text(settings)
    result = route(router_config, "who wrote hamlet")
    assert result["answer"] is None
    assert "cannot connect" in result["attempts"][0]["error"] or "refused" in result["attempts"][0]["error"].lower()


def test_route_stats_shows_the_ledger_that_routing_committed(router_config: Path) -> None:
    route(router_config, "volume up")
    route(router_config, "what should I watch now?")
    stats = json.loads(run_py("route", "stats", "--config", str(router_config), "--json").stdout)
    calls = {row["layer"]: row["calls"] for row in stats["layers"]}
    assert calls == {"L2 rules": 1, "L3 tiny": 1}
    assert stats["total"]["calls"] == 2 and stats["commit"] and len(stats["history"]) == 2
    text = run_py("route", "stats", "--config", str(router_config))
    assert "L3 tiny" in text.stdout and "total" in text.stdout


def test_a_bad_router_config_names_the_file_key_and_value(router_config: Path) -> None:
    settings = (router_config / "router.toml").read_text().replace("tiny_only_below_pct = 20.0", "tiny_only_below_pct = 120.0")
    (router_config / "router.toml").write_text(settings)
    result = run_py("route", "volume up", "--config", str(router_config))
    assert result.returncode == 2
    assert f"{router_config / 'router.toml'}: router.energy.tiny_only_below_pct: expected a number >= 0.0 and <= 100.0; got 120.0" in result.stderr


def test_the_router_benchmark_prints_its_keys_and_beats_always_cloud_on_cost() -> None:
    result = run_py("bench", "router", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("decision_us_p50", "share_local", "cost_vs_always_cloud", "compiled_hit_rate", "tasks"):
        assert key in figures
    assert 0 < figures["cost_vs_always_cloud"] < 1 and 0 < figures["share_local"] <= 1 and figures["answered_rate"] > 0.9
