"""``python run.py skeleton``: map Python packages' public API from source, and ask the map.

::

    python run.py skeleton extract --installed [--db skeleton.db] [--workers N]
    python run.py skeleton extract src/mypkg dist/pkg-1.0-py3-none-any.whl pkg-1.0.tar.gz
    python run.py skeleton show numpy.linalg.norm
    python run.py skeleton query "SELECT path, signature FROM objects WHERE name = 'norm'"
    python run.py skeleton diff old.db new.db [--json]

``extract`` starts the pool (``skeleton`` tree: a coordinator and one worker
process per core, on the tcp base), runs one incremental extraction with a
progress bar, prints what failed and why, and shuts the pool down. Archives
are unpacked into a temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..actors.skeleton import Progress
from ..app.skeleton import extract
from ..errors import SupervisorError
from ..skeleton.diff import diff_stores, format_changes
from ..skeleton.lookup import describe, lookup
from ..skeleton.schedule import Limits
from ..skeleton.sources import installed, open_inputs
from ..skeleton.store import SkeletonStore, query

DEFAULT_DB = "skeleton.db"


def add_parsers(commands: Any) -> None:
    skeleton = commands.add_parser("skeleton", help="map Python packages' public API from source (AST), and query it")
    actions = skeleton.add_subparsers(dest="skeleton_command", required=True)
    extract = actions.add_parser("extract", help="extract installed distributions, source trees, wheels or sdists")
    extract.add_argument("paths", nargs="*", help="source directories, .whl or sdist files")
    extract.add_argument("--installed", nargs="*", metavar="NAME", help="installed distributions (all, or those named)")
    extract.add_argument("--db", default=DEFAULT_DB, help=f"the store (default: {DEFAULT_DB})")
    extract.add_argument("--workers", type=int, help="extractor processes (default: one per core)")
    extract.add_argument("--timeout", type=float, default=30.0, help="seconds a batch may take before its worker is killed (default: 30)")
    extract.add_argument("--full-docs", action="store_true", help="keep whole docstrings, not only their first line")
    extract.add_argument("--base", choices=("simple", "tcp"), default="tcp", help="actor system base (default: tcp)")
    extract.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    extract.set_defaults(handler=run_extract)
    show = actions.add_parser("show", help="one module, class or function by dotted name")
    show.add_argument("name")
    show.add_argument("--db", default=DEFAULT_DB)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)
    query = actions.add_parser("query", help="one read-only SQL statement against the store")
    query.add_argument("sql")
    query.add_argument("--db", default=DEFAULT_DB)
    query.add_argument("--json", action="store_true", help="rows as JSON objects")
    query.set_defaults(handler=run_query)
    diff = actions.add_parser("diff", help="API drift between two stores: removed objects, changed signatures")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=run_diff)


# extract


def run_extract(args: argparse.Namespace) -> int:
    if args.installed is None and not args.paths:
        raise SystemExit("skeleton extract: name PATHs, or --installed [NAME ...]")
    limits = Limits(timeout=_positive("--timeout", args.timeout))
    with open_inputs(args.paths) as packages:
        if args.installed is not None:
            packages += installed(args.installed or None)
        try:
            progress = extract(packages, args.db, workers=args.workers, limits=limits, full_docs=args.full_docs,
                               base=args.base, on_progress=None if args.json else _bar)
        except SupervisorError as exc:  # the coordinator restarted mid-run: exit 1 and say so, as before
            raise SystemExit(f"skeleton extract: {exc}") from None
    summary = _summary(progress, args.db)
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0


def _bar(progress: Any) -> None:
    total = max(progress.files, 1)
    filled = int(30 * progress.done / total)
    rate = progress.done / max(time.time() - progress.started_at, 1e-9)
    line = (f"\r[{'#' * filled}{'.' * (30 - filled)}] {progress.done}/{progress.files} files  "
            f"{progress.packages_done}/{progress.packages} packages  {rate:,.0f} files/s  failed {progress.failed}")
    print(line, end="" if progress.running else "\n", file=sys.stderr, flush=True)


def _summary(progress: Progress, db: str) -> dict[str, Any]:
    with SkeletonStore(db) as store:
        counts = store.counts()
    return {
        "db": str(db), "packages": progress.packages, "files_read": progress.done, "unchanged": progress.unchanged,
        "failed": progress.failed, "workers_lost": progress.workers_lost, "duplicates_ignored": progress.duplicates_ignored,
        "seconds": round(time.time() - progress.started_at, 3), "store": counts,
        "failures": [{"package": p, "path": f, "reason": r} for p, f, r in progress.failures],
    }


def _print_summary(summary: dict[str, Any]) -> None:
    store = summary["store"]
    print(f"{summary['files_read']} files read, {summary['unchanged']} unchanged, {summary['failed']} failed, "
          f"in {summary['seconds']:.1f} s; {summary['workers_lost']} workers lost")
    print(f"{summary['db']}: {store['packages']} packages, {store['modules']} modules, {store['objects']} objects "
          f"({store['public']} public), {store['failed']} files failed in all")
    for failure in summary["failures"]:
        print(f"  failed  {failure['package']}: {failure['path']}: {failure['reason']}")


def _positive(flag: str, value: float) -> float:
    if not value > 0:
        raise SystemExit(f"skeleton extract: {flag} must be a positive number of seconds; got {value}")
    return value


# show, query, diff


def run_show(args: argparse.Namespace) -> int:
    found = lookup(args.db, args.name)
    if found is None:
        print(f"{args.name}: not in {args.db}", file=sys.stderr)
        return 1
    print(json.dumps(found) if args.json else describe(found))
    return 0


def run_query(args: argparse.Namespace) -> int:
    columns, rows = query(args.db, args.sql)
    if args.json:
        print(json.dumps([dict(zip(columns, row)) for row in rows]))
        return 0
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if value is None else str(value) for value in row))
    return 0


def run_diff(args: argparse.Namespace) -> int:
    changes = diff_stores(args.old, args.new)
    print(json.dumps([change.to_dict() for change in changes]) if args.json else format_changes(changes))
    return 1 if any(change.breaking for change in changes) else 0
