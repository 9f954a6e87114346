"""``python run.py`` (= ``run.py demo``): a fleet of TV brains and a constellation, days of viewing, and faults.

What one run does:

- generates a world (:mod:`.viewers`): a catalogue with titles and genres,
  and viewers with drifting tastes, daypart and mood habits;
- starts the constellation and ``--tvs`` brains on the actor runtime (the
  TVs shared among ``--workers`` processes, SQLite, the in-cluster link);
- plays ``--days`` days, one step per daypart: each brain recommends, the
  viewer watches (or not), the brain learns; due TVs sync; the
  constellation publishes a release; then two more sync rounds stand for
  the rest of the daypart (a real TV syncs every 5-15 minutes, and a
  release is several pages, one per sync);
- with ``--chaos``: each step may ``kill -9`` a worker or a constellation
  process (tcp base), make a worker's handler raise mid-batch, and take
  TVs offline for a while;
- prints a summary, and with ``--report DIR`` writes ``DIR/report.html``.

Quality is the hit rate of the next view: how often what the viewer chose
was in the top 10 the brain showed just before, against a central
popularity ranking of everything watched so far (minus what that viewer
already saw), which is what a TV without a brain could show.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omega_actors.evaluation.fleet import ViewIn
from omega_actors.sim.chaos import Chaos
from omega_actors.sim.driver import FleetOptions, FleetRun
from omega_actors.sim.report import RunRecord, write_report
from omega_actors.sim.viewers import View, World

DAY = 86_400.0
SYNC_ROUND = 1200.0  # simulated seconds between the sync-only rounds of a step: past any TV's interval (5-15 min)


@dataclass(frozen=True)
class DemoOptions:
    directory: Path
    tvs: int = 300
    days: int = 3
    items: int = 500
    workers: int = 2
    base: str = "tcp"
    chaos: bool = False
    seed: int = 1
    report: Path | None = None
    sync_rounds: int = 2  # sync-only rounds after each step's views (a TV pulls one page per sync)


@dataclass
class Tally:
    quality: list[tuple[float, dict[str, float]]]
    events: list[tuple[float, str, str]]  # the chaos's, for the report's timeline
    views: int = 0
    popularity_hits: int = 0


def run_demo(options: DemoOptions, progress: Any = None) -> dict[str, Any]:
    started = time.monotonic()
    world = World.generate(users=options.tvs, items=options.items, seed=options.seed)
    tvs = tuple(f"tv-{n}" for n in range(options.tvs))
    tally = Tally([], [])
    positions: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    seen: dict[str, set[str]] = {tv: set() for tv in tvs}
    steps = options.days * 4
    fleet_options = FleetOptions(tvs, options.directory, options.workers, options.base, k=5,
                                 sync={"interval_min": 300.0, "interval_max": 900.0})
    expected: dict[str, list[str]] = {tv: [] for tv in tvs}
    with FleetRun(fleet_options, world.catalogue) as fleet:
        chaos = Chaos(fleet, random.Random(options.seed), options.chaos, events=tally.events)
        for step in range(steps):
            day, part = divmod(step, 4)
            views = [v for v in world.views(day) if _part(v) == part]
            day_time = day + (part + 1) / 4
            pop_hits = _popularity_hits(views, counts, seen, tvs)
            batch = []
            for view in views:
                tv = tvs[view.viewer]
                batch.append(ViewIn(tv, positions[tv], view.media_id, view.watch_fraction, view.daypart, view.mood))
                positions[tv] += 1
                expected[tv].append(view.media_id)
            faults = chaos.before_step(step, day_time, len(batch))
            now = views[-1].timestamp if views else step * DAY / 4
            down = chaos.down(step)
            result = fleet.step(batch, now, faults=faults, offline=down)
            fleet.publish()
            for round_ in range(1, options.sync_rounds + 1):  # the rest of the daypart: TVs sync on their interval
                fleet.step((), now + round_ * SYNC_ROUND, recommend=False, offline=down)
            tally.views += len(batch)
            tally.popularity_hits += pop_hits
            if result.recommended:
                tally.quality.append((day_time, {"federated brains": result.hits / result.recommended,
                                                 "central popularity": pop_hits / max(len(batch), 1)}))
            chaos.restarts(day_time)
            if progress:
                progress(step + 1, steps, tally.views, fleet.ledger.retries, len(fleet.faults))
        restarts = fleet.restarts()
    losses = fleet.losses(expected)
    summary = _summary(options, fleet, tally, restarts, losses, time.monotonic() - started)
    if options.report is not None:
        summary["report"] = str(write_report(options.report, _record(options, fleet, tally, summary)))
    return summary


def _part(view: View) -> int:
    return ("morning", "afternoon", "evening", "late_night").index(view.daypart)


def _popularity_hits(views: Sequence[View], counts: Counter[str], seen: dict[str, set[str]], tvs: Sequence[str]) -> int:
    """Hits of a central popularity top 10 (by views before this step), minus what each viewer saw."""
    ranking = [media for media, _ in counts.most_common()]
    hits = 0
    for view in views:
        tv = tvs[view.viewer]
        top = [m for m in ranking[: 10 + len(seen[tv])] if m not in seen[tv]][:10]
        hits += view.media_id in top
    for view in views:
        counts[view.media_id] += 1
        seen[tvs[view.viewer]].add(view.media_id)
    return hits


def _summary(options: DemoOptions, fleet: FleetRun, tally: Tally, restarts: int, losses: dict[str, int],
             seconds: float) -> dict[str, Any]:
    ledger = fleet.ledger
    latency = np.array(ledger.latencies_ms) if ledger.latencies_ms else np.zeros(1)
    return {
        "tvs": options.tvs, "days": options.days, "views": tally.views, "base": options.base,
        "hit_rate_federated": ledger.hits / max(ledger.recommended, 1),
        "hit_rate_popularity": tally.popularity_hits / max(tally.views, 1),
        "recommend_ms_p50": float(np.percentile(latency, 50)), "recommend_ms_p99": float(np.percentile(latency, 99)),
        "push_bytes_p50": _pct(ledger.push_bytes, 50), "push_bytes_p99": _pct(ledger.push_bytes, 99),
        "pull_bytes_p50": _pct(ledger.pull_bytes, 50), "pull_bytes_p99": _pct(ledger.pull_bytes, 99),
        "syncs_ok": ledger.syncs_ok, "syncs_failed": ledger.syncs_failed,
        "raw_events_sent": ledger.frames["raw_events"],
        "faults_injected": len(fleet.faults), "restarts": restarts, "step_retries": ledger.retries,
        **losses, "seconds": round(seconds, 1),
    }


def _pct(values: Sequence[int], q: float) -> int:
    return int(np.percentile(values, q)) if values else 0


def rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, formatted value): the printed table's and the report's."""
    return [
        ("TVs / days / views", f"{summary['tvs']} / {summary['days']} / {summary['views']:,}"),
        ("hit rate@10, federated brains", f"{summary['hit_rate_federated']:.3f}"),
        ("hit rate@10, central popularity", f"{summary['hit_rate_popularity']:.3f}"),
        ("recommend latency p50 / p99", f"{summary['recommend_ms_p50']:.2f} / {summary['recommend_ms_p99']:.2f} ms"),
        ("push bytes p50 / p99 (cap 1024)", f"{summary['push_bytes_p50']} / {summary['push_bytes_p99']}"),
        ("pull bytes p50 / p99 (cap 5120)", f"{summary['pull_bytes_p50']} / {summary['pull_bytes_p99']}"),
        ("syncs ok / failed", f"{summary['syncs_ok']:,} / {summary['syncs_failed']:,}"),
        ("raw events sent", str(summary["raw_events_sent"])),
        ("faults injected / restarts", f"{summary['faults_injected']} / {summary['restarts']}"),
        ("acked observations / deltas lost", f"{summary['acked_observations_lost']} / {summary['acked_deltas_lost']}"),
        ("wall time", f"{summary['seconds']} s"),
    ]


def table(summary: dict[str, Any]) -> str:
    lines = rows(summary)
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in lines)


def _record(options: DemoOptions, fleet: FleetRun, tally: Tally, summary: dict[str, Any]) -> RunRecord:
    return RunRecord(
        title=f"omega_actors demo: {options.tvs} TVs, {options.days} days{' with chaos' if options.chaos else ''}",
        summary=tuple(rows(summary)),
        quality=tuple((t, dict(values)) for t, values in tally.quality),
        latency_ms=tuple(float(x) for x in fleet.ledger.latencies_ms),
        push_bytes=tuple(int(x) for x in fleet.ledger.push_bytes),
        pull_bytes=tuple(int(x) for x in fleet.ledger.pull_bytes),
        events=tuple(tally.events),
        notes=("Quality is the hit rate of the next view: was the chosen item in the top 10 shown just before? "
               "The federated brains learn on the TV and sync ~1 KB deltas; the central popularity ranking sees every view.",),
    )


def progress_bar(step: int, steps: int, views: int, retries: int, faults: int) -> None:
    filled = int(30 * step / steps)
    line = f"\r[{'#' * filled}{'.' * (30 - filled)}] step {step}/{steps}  views {views:,}  faults {faults}"
    print(line, end="" if step < steps else "\n", file=sys.stderr, flush=True)
