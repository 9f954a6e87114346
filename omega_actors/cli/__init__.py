"""What ``python run.py`` does: one module per command group.

::

    python run.py                      # = demo: a fleet of TV brains, a constellation, a summary   (demo)
    python run.py eval --movielens DIR [--json] [--chaos]                                          (demo)
    python run.py run | start | status | stop                                                     (system)
    python run.py config check|apply|rollback|history                                             (config)
    python run.py route "TEXT" | route stats                                                      (route)
    python run.py skeleton extract|show|query|diff                                                (skeleton)
    python run.py genesis request|list|show                                                       (genesis)
    python run.py bench SUITE --json                                                              (bench)

Each module adds its parsers (``add_parsers``) and holds the handlers that
read the options and print; what they call lives below: trees and running
systems in :mod:`omega_actors.app`, the demo in :mod:`omega_actors.sim`, the
benchmarks in :mod:`omega_actors.benchmarks`. The CLI is the top of the
house: nothing imports it but ``run.py``. An :class:`~omega_actors.errors.OmegaError`
becomes ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import OmegaError
from . import bench, config, demo, genesis, route, skeleton, system


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except OmegaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="run.py", description="omega_actors: supervised actors on Thespian")
    demo.add_demo_options(top)  # `demo` is the default command: its options work without it too
    top.set_defaults(handler=demo.demo_command)
    commands = top.add_subparsers(title="commands")
    for group in (demo, system, config, route, skeleton, genesis, bench):
        group.add_parsers(commands)
    return top


__all__ = ["main", "parser"]
