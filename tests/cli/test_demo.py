"""``python run.py`` (the fleet demo) and ``run.py eval`` as a user runs them, on real processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from omega_actors.sim.browser import check_in_browser, find_chromium
from tests.cli.process import ROOT, run_py

DATASET = ROOT / "tests" / "data" / "movielens_small"


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.tcp
def test_the_demo_with_chaos_loses_nothing_and_writes_a_report_that_renders(tmp_path: Path) -> None:
    result = run_py("--tvs", "24", "--days", "2", "--items", "120", "--chaos", "--seed", "3",
                    "--data", str(tmp_path / "run"), "--report", str(tmp_path / "report"), timeout=900)
    summary = last_json(result)
    assert "hit rate@10, federated brains" in result.stdout  # the summary table
    assert summary["faults_injected"] >= 1 and summary["restarts"] >= 1
    assert summary["acked_observations_lost"] == 0 and summary["acked_deltas_lost"] == 0
    assert summary["raw_events_sent"] == 0
    assert 0 < summary["push_bytes_p99"] <= 1024 and 0 < summary["pull_bytes_p99"] <= 5120
    page = Path(summary["report"])
    assert page == tmp_path / "report" / "report.html"
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("OMEGA_REQUIRE_BROWSER") == "1":
            pytest.fail("OMEGA_REQUIRE_BROWSER=1 but chromium is not on PATH")
        pytest.skip("chromium is not on PATH: the report was written but not rendered")
    rendered = check_in_browser(page, chromium)
    assert set(rendered["plots"]) == {"plot-quality", "plot-latency", "plot-bytes", "plot-timeline"}
    assert all(points > 0 for points in rendered["plots"].values()), rendered["plots"]
    assert rendered["non_blank"]


@pytest.mark.slow
@pytest.mark.tcp
def test_eval_on_the_shipped_dataset_beats_item_knn_within_the_caps_and_sends_no_raw_event(tmp_path: Path) -> None:
    figures = last_json(run_py("eval", "--movielens", str(DATASET), "--json", "--data", str(tmp_path / "run"), timeout=900))
    assert figures["users"] == 399
    assert figures["recall10_federated"] >= figures["recall10_itemknn"] > figures["recall10_popularity"]
    assert figures["push_bytes_max"] <= 1024 and figures["pull_bytes_max"] <= 5120
    assert figures["raw_events_sent"] == 0 and figures["pushes"] > 0 and figures["pulls"] > 0
    assert figures["acked_observations_lost"] == 0 and figures["acked_deltas_lost"] == 0


def test_eval_names_a_missing_dataset_file(tmp_path: Path) -> None:
    result = run_py("eval", "--movielens", str(tmp_path), "--json", timeout=120)
    assert result.returncode == 2
    assert "movies.csv" in result.stderr


def test_a_bad_fleet_size_is_refused_with_the_option_named() -> None:
    result = run_py("demo", "--tvs", "0", timeout=120)
    assert result.returncode == 2 and "--tvs" in result.stderr
