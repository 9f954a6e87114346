"""``run.py bench SUITE [--json] [--quick]``: one benchmark, its figures as one JSON line (see docs/benchmarks.md).

Each suite compares against a baseline measured in the same run and reports
ratios as well as absolute figures.
"""

from __future__ import annotations

import argparse
import json
from types import ModuleType
from typing import Any

from ..benchmarks import (
    brain,
    cluster,
    config,
    genesis,
    router,
    runtime,
    skeleton,
    sync,
)

SUITES: dict[str, ModuleType] = {"runtime": runtime, "config": config, "brain": brain, "sync": sync, "router": router,
                                 "skeleton": skeleton, "genesis": genesis, "cluster": cluster}


def add_parsers(commands: Any) -> None:
    bench = commands.add_parser("bench", help="run a benchmark and print JSON")
    bench.add_argument("suite", choices=tuple(SUITES))
    bench.add_argument("--json", action="store_true", help="print only the JSON result line")
    bench.add_argument("--quick", action="store_true", help="fewer rounds (for smoke tests)")
    bench.set_defaults(handler=run_benchmark)


def run_benchmark(args: argparse.Namespace) -> int:
    result = SUITES[args.suite].run(quick=args.quick, progress=None if args.json else print)
    print(json.dumps(result))
    return 0
