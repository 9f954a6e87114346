"""``python run.py bench genesis``: sandbox cost against a plain copy of the same repository, in the same run.

The repository is a clone of this project (its files, a 23 MB model, its
``.git``), made in a scratch directory so the run touches nothing here.

- ``full_copy_ms_p50``: ``shutil.copytree`` of that repository (the baseline);
- ``sandbox_create_ms_p50`` and ``sandbox_remove_ms_p50``: a sandbox of its
  HEAD (hardlinks into the shared read-only export, HOME, TMPDIR, out/),
  and deleting it; ``export_ms`` is the one-time export of that commit,
  paid by the first sandbox of each commit;
- ``rollback_ms_p50``: rolling back a graded experiment: its sandbox and its
  SQLite database deleted (``rollback_pg_ms_p50`` too, when
  ``OMEGA_DATABASE_URL`` names a PostgreSQL server: ``DROP DATABASE``);
- ``experiment_overhead_ms_p50``: a whole experiment (prepare, baseline
  twice, apply a patch, candidate, grade, rollback) minus the wall time of
  its three command runs (the command is ``python -c pass``).

Targets: ``create_remove_vs_copy`` (create + remove over the full copy)
<= 0.25, and ``rollback_ms_p50`` <= 100.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..genesis.experiment import Experiment
from ..genesis.request import parse_request
from ..genesis.sandbox import Sandboxes, new_experiment_id

Progress = Callable[[str], None] | None
PROJECT = Path(__file__).resolve().parents[2]


def run(quick: bool = False, progress: Progress = None) -> dict[str, object]:
    say = progress or (lambda _: None)
    rounds = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="omega-bench-genesis-") as scratch:
        root = Path(scratch)
        repo = root / "repo"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(PROJECT), str(repo)], check=True)
        files = int(subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.count("\n"))
        size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
        sandboxes = Sandboxes(root / "sandboxes")
        say(f"{files} tracked files, {size / 1e6:.1f} MB with .git; exporting HEAD once ...")
        started = time.perf_counter()
        sandboxes.create(new_experiment_id(), repo).remove()
        export_ms = (time.perf_counter() - started) * 1000
        say("full copy vs sandbox create/remove ...")
        copy, create, remove = _copies(repo, root, sandboxes, rounds)
        say("rollback ...")
        rollback = _rollbacks(repo, sandboxes, rounds, "")
        url = os.environ.get("OMEGA_DATABASE_URL", "")
        rollback_pg = _rollbacks(repo, sandboxes, max(3, rounds // 3), url) if url else []
        say("whole experiments ...")
        overhead = _overheads(repo, sandboxes, max(3, rounds // 3))
    result: dict[str, Any] = {
        "tracked_files": files, "repository_mb": round(size / 1e6, 1), "export_ms": round(export_ms, 1),
        "full_copy_ms_p50": _p50(copy), "sandbox_create_ms_p50": _p50(create), "sandbox_remove_ms_p50": _p50(remove),
        "create_remove_vs_copy": round((_p50(create) + _p50(remove)) / _p50(copy), 3),
        "rollback_ms_p50": _p50(rollback), "experiment_overhead_ms_p50": _p50(overhead),
    }  # fmt: skip
    if rollback_pg:
        result["rollback_pg_ms_p50"] = _p50(rollback_pg)
    return result


def _copies(repo: Path, root: Path, sandboxes: Sandboxes, rounds: int) -> tuple[list[float], list[float], list[float]]:
    copy, create, remove = [], [], []
    for index in range(rounds):
        target = root / f"copy-{index}"
        copy.append(_ms(lambda: shutil.copytree(repo, target, symlinks=True)))
        shutil.rmtree(target)
        experiment_id = new_experiment_id()
        create.append(_ms(lambda: sandboxes.create(experiment_id, repo)))
        box = sandboxes.root / experiment_id
        remove.append(_ms(lambda: shutil.rmtree(box)))
    return copy, create, remove


def _rollbacks(repo: Path, sandboxes: Sandboxes, rounds: int, database_url: str) -> list[float]:
    times = []
    for _ in range(rounds):
        experiment = Experiment(new_experiment_id(), _request(repo), sandboxes, database_url)
        experiment.prepare()
        experiment.run("baseline-1")  # the database and out/ hold something, as after a real run
        times.append(_ms(experiment.discard))
    return times


def _overheads(repo: Path, sandboxes: Sandboxes, rounds: int) -> list[float]:
    overheads = []
    for _ in range(rounds):
        experiment = Experiment(new_experiment_id(), _request(repo), sandboxes)
        for _name, step in experiment.steps():
            step()
        overheads.append(experiment.timings["overhead_ms"])
    return overheads


def _request(repo: Path) -> Any:
    diff = "--- /dev/null\n+++ b/benchmark.txt\n@@ -0,0 +1 @@\n+a new file\n"
    return parse_request({
        "experiment_type": "experimental", "description": "benchmark", "risk_level": "low", "estimated_impact": "none",
        "rollback_plan": "delete the sandbox",
        "change": {"kind": "patch", "repository": str(repo), "diff": diff},
        "validation": {"command": ["{python}", "-c", "pass"], "metrics": ["duration_s"], "protected": []},
    })  # fmt: skip


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _p50(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0
