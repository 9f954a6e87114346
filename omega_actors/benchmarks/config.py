"""``python run.py bench config``: an in-place config change against a cold restart.

On the tcp base (one process per actor), with a running tree of 50 workers:

- ``apply_ms_p50``: apply a change to one child (its arguments), the whole
  path of ``python run.py config apply``: validate, diff, apply in place,
  commit to the state repository. The health window is set to 0 here, since
  it is a wait the operator chooses, not work;
- ``rollback_ms_p50``: return to the previous commit through the same path;
- ``restart_all_ms_p50``: the baseline, measured in the same run: stop the
  whole tree and start it again from the same config;
- ``apply_over_restart_all``: the ratio (lower is better).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..reload import Reloader, ReloadSettings
from ..reload.apply import boot_commit, parse
from ..runtime import Runtime
from ..storage.state_repository import StateRepository

WORKERS = 50
Progress = Callable[[str], None] | None


def tree_toml(tag: str) -> str:
    lines = ["[tree]", "intensity = 5"]
    for index in range(WORKERS):
        lines += ["[[tree.children]]", f'id = "w{index:02d}"', 'start = "omega_actors.actors.demo:Counter"']
        lines.append(f"args = {{ start = {1 if (index == 0 and tag == 'b') else 0} }}")
    return "\n".join(lines) + "\n"


def run(quick: bool = False, progress: Progress = None) -> dict[str, float]:
    say = progress or (lambda text: None)
    rounds = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="omega-bench-config-") as scratch:
        root = Path(scratch)
        config_dir = root / "config"
        config_dir.mkdir()
        system = f'[system]\nbase = "tcp"\nadmin_port = 0\ndata_dir = "{root / "data"}"\nlog_level = "WARNING"\n'
        (config_dir / "system.toml").write_text(system + "\n[reload]\nhealth_window = 0.0\n")
        (config_dir / "tree.toml").write_text(tree_toml("a"))
        with StateRepository(root / "state") as repo:
            head, _ = boot_commit(repo, config_dir, "bench")
            config = parse(repo.files(head), str(config_dir))
            say(f"tcp: cold restarts of a tree of {WORKERS} workers, {rounds} rounds")
            restart_all = [_cold_restart_ms(config) for _ in range(rounds)]
            say(f"tcp: apply and rollback of a one-child change, {rounds} rounds")
            apply, rollback = _apply_and_rollback_ms(config, repo, rounds)
    result = {
        "apply_ms_p50": round(statistics.median(apply), 1),
        "rollback_ms_p50": round(statistics.median(rollback), 1),
        "restart_all_ms_p50": round(statistics.median(restart_all), 1),
        "workers": WORKERS,
    }
    result["apply_over_restart_all"] = round(result["apply_ms_p50"] / result["restart_all_ms_p50"], 3)
    return result


def _cold_restart_ms(config) -> float:  # type: ignore[no-untyped-def]
    runtime = Runtime.start(config.require_tree(), config.system, config.root_id)
    began = time.perf_counter()
    runtime.shutdown()
    runtime = Runtime.start(config.require_tree(), config.system, config.root_id)
    elapsed = (time.perf_counter() - began) * 1000
    runtime.shutdown()
    return elapsed


def _apply_and_rollback_ms(config, repo: StateRepository, rounds: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    runtime = Runtime.start(config.require_tree(), config.system, config.root_id)
    try:
        reloader = Reloader(runtime, repo, ReloadSettings(health_window=0.0), "bench")
        changed = {**repo.files(), "tree.toml": tree_toml("b").encode()}
        apply, rollback = [], []
        for _ in range(rounds):
            began = time.perf_counter()
            outcome = reloader.apply(changed, "bench")
            apply.append((time.perf_counter() - began) * 1000)
            assert outcome.status == "applied" and outcome.changes == ("~ app/w00 (start)",), outcome
            began = time.perf_counter()
            outcome = reloader.rollback(None, "bench")
            rollback.append((time.perf_counter() - began) * 1000)
            assert outcome.status == "applied", outcome
        return apply, rollback
    finally:
        runtime.shutdown()
