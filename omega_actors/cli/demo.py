"""``run.py`` (= ``run.py demo``) and ``run.py eval``: the simulated fleet, for a summary or for the protocol's metrics.

::

    python run.py                                   # = demo: a fleet of TV brains, a constellation, a summary
    python run.py demo --tvs 2000 --days 3 --chaos --report runs/demo
    python run.py eval --movielens DIR [--json] [--chaos]

The simulation itself is :mod:`omega_actors.sim`; this module only reads the
options and prints. It imports the simulation when a command runs: the
simulation loads the brain's model stack (the ONNX runtime, hnswlib), which
``status`` or ``stop`` should not pay for, and which ``run`` and ``start``
should not hand down to every actor process they fork.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._options import checked_counts


def add_demo_options(parser: argparse.ArgumentParser) -> None:
    """The demo's options; the top-level parser takes them too, since ``demo`` is the default command."""
    parser.add_argument("--tvs", type=int, default=300, help="simulated TVs (default: 300)")
    parser.add_argument("--days", type=int, default=3, help="simulated days, four steps each (default: 3)")
    parser.add_argument("--items", type=int, default=500, help="catalogue size (default: 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", help="write DIR/report.html, a self-contained page with plots")
    _fleet_options(parser)


def add_parsers(commands: Any) -> None:
    demo = commands.add_parser("demo", help="a fleet of TV brains with a constellation, days of viewing (the default)")
    add_demo_options(demo)
    demo.set_defaults(handler=demo_command)

    evaluate = commands.add_parser("eval", help="replay a MovieLens-format dataset through the fleet; Recall@10, NDCG@10")
    evaluate.add_argument("--movielens", required=True, help="a directory with ratings.csv and movies.csv")
    evaluate.add_argument("--rounds", type=int, default=24, help="sync rounds the replay is cut into (default: 24)")
    evaluate.add_argument("--k", type=int, default=5, help="k-anonymity of every released pattern (default: 5)")
    _fleet_options(evaluate)
    evaluate.set_defaults(handler=eval_command)


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="worker processes the TVs share (default: 2)")
    parser.add_argument("--base", choices=("simple", "tcp"), default="tcp",
                        help="tcp: one process per actor (default); simple: all in this process")
    parser.add_argument("--chaos", action="store_true", help="kill -9 processes, raise in handlers, take TVs offline")
    parser.add_argument("--data", default=".omega/fleet", help="where the run keeps its TVs and constellation")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")


def demo_command(args: argparse.Namespace) -> int:
    from ..sim.demo import DemoOptions, progress_bar, run_demo, table

    checked_counts(tvs=args.tvs, days=args.days, items=args.items, workers=args.workers)
    options = DemoOptions(Path(args.data), args.tvs, args.days, args.items, args.workers, args.base, args.chaos,
                          args.seed, Path(args.report) if args.report else None)
    if not args.json:
        print(f"omega_actors demo: {args.tvs} TV brains in {args.workers} worker processes, a constellation, "
              f"{args.days} simulated days{' with chaos' if args.chaos else ''} (starting...)", flush=True)
    summary = run_demo(options, None if args.json else progress_bar)
    if not args.json:
        print(table(summary))
        if "report" in summary:
            print(f"report: {summary['report']}")
    print(json.dumps(summary))
    return 0 if summary["acked_observations_lost"] == 0 and summary["acked_deltas_lost"] == 0 else 1


def eval_command(args: argparse.Namespace) -> int:
    from ..sim.evaluate import EvalOptions, run_eval

    checked_counts(rounds=args.rounds, k=args.k, workers=args.workers)
    options = EvalOptions(Path(args.movielens), Path(args.data), args.rounds, args.workers, args.base, args.k, args.chaos)

    def progress(stage: str, done: int, total: int) -> None:
        if not args.json:
            print(f"  {stage} {done}{f'/{total}' if total else ''}", file=sys.stderr, flush=True)

    result = run_eval(options, progress)
    if not args.json:
        for key in ("recall10_federated", "recall10_itemknn", "recall10_popularity", "ndcg10_federated", "ndcg10_itemknn"):
            print(f"  {key:<22} {result[key]:.4f}")
    print(json.dumps(result))
    return 0 if result["acked_observations_lost"] == 0 and result["acked_deltas_lost"] == 0 else 1
