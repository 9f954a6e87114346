"""``run.py bench SUITE [--json] [--quick]``: one benchmark, its figures as one JSON line (see docs/benchmarks.md).

Each suite compares against a baseline measured in the same run and reports
ratios as well as absolute figures. A figure that misses its target says so
in a ``..._target_met`` key; then the command names it on stderr and exits 1
(after printing the JSON), so a regression cannot pass unseen. A suite is imported when it is asked
for: each loads what it measures (the brain's model, griffe, a raw Thespian
baseline), which every other command would otherwise pay for at start.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from .. import benchmarks

SUITES = ("runtime", "config", "brain", "sync", "router", "skeleton", "genesis", "cluster")


def add_parsers(commands: Any) -> None:
    bench = commands.add_parser("bench", help="run a benchmark and print JSON")
    bench.add_argument("suite", choices=SUITES)
    bench.add_argument("--json", action="store_true", help="print only the JSON result line")
    bench.add_argument("--quick", action="store_true", help="fewer rounds (for smoke tests)")
    bench.set_defaults(handler=run_benchmark)


def run_benchmark(args: argparse.Namespace) -> int:
    suite = importlib.import_module(f"{benchmarks.__name__}.{args.suite}")
    result = suite.run(quick=args.quick, progress=None if args.json else print)
    print(json.dumps(result))
    missed = [key for key, value in result.items() if key.endswith("_target_met") and value is False]
    for key in missed:
        print(f"bench {args.suite}: {key.removesuffix('_target_met')} missed its target", file=sys.stderr)
    return 1 if missed else 0
