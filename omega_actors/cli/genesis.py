"""``python run.py genesis``: run an experiment in a sandbox, and read Genesis' records.

::

    python run.py genesis request experiment.toml [--json]    # runs it to a verdict; exit 0 merge, 1 rollback, 2 refused
    python run.py genesis request brain.toml --apply-to config    # and, on merge, `config apply` it to the running system
    python run.py genesis list [--json]
    python run.py genesis show g0123456789ab [--json]

``request`` starts the Genesis tree (the service, the experiments'
supervisor) for the one experiment, sends the request (TOML or JSON; see
:mod:`omega_actors.genesis.request`), follows its steps, prints the verdict
and shuts the tree down. Paths in the request are relative to the current
directory. Records go to ``<data-dir>/genesis.sqlite3``; ``list`` and
``show`` read them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from ..errors import OmegaError

DEFAULT_DATA_DIR = ".omega/genesis"
DEFAULT_SANDBOXES = Path(__file__).resolve().parents[2] / "sandboxes"


def add_parsers(commands: Any) -> None:
    genesis = commands.add_parser("genesis", help="try a risky change in a sandbox, graded against its baseline")
    actions = genesis.add_subparsers(dest="genesis_command", required=True)
    request = actions.add_parser("request", help="run one experiment request (TOML or JSON) to a verdict")
    request.add_argument("file", type=Path)
    _common(request)
    request.add_argument("--sandboxes", type=Path, default=DEFAULT_SANDBOXES, help="where sandboxes are made (default: the repository's sandboxes/)")
    request.add_argument("--database-url", default=os.environ.get("OMEGA_DATABASE_URL", ""),
                         help="PostgreSQL for each experiment's genesis_<id> database (default: $OMEGA_DATABASE_URL; none: SQLite)")
    request.add_argument("--base", choices=("simple", "tcp"), default="tcp", help="actor system base (default: tcp)")
    request.add_argument("--apply-to", metavar="CONFIG", type=Path,
                         help="on merge of a config change: apply it to the system started from CONFIG (`run.py start "
                              "--config CONFIG`), through `config apply`; its state repository must be the request's")
    request.set_defaults(handler=run_request)
    listing = actions.add_parser("list", help="the latest experiments, newest first")
    _common(listing)
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="one experiment: request, timings, metrics, outcome")
    show.add_argument("experiment_id")
    _common(show)
    show.set_defaults(handler=run_show)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help=f"Genesis' records (default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--json", action="store_true")


def load_request(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise OmegaError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise OmegaError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
    return _absolute(data)


def _absolute(data: dict[str, Any]) -> dict[str, Any]:
    """Paths relative to the current directory, made absolute: the service may run in another process."""
    for table, key in (("change", "repository"), ("validation", "dataset")):
        section = data.get(table)
        if isinstance(section, dict) and isinstance(section.get(key), str) and section[key]:
            section[key] = str(Path(section[key]).resolve())
    return data


def run_request(args: argparse.Namespace) -> int:
    # Genesis (grading, replay, the brain it tests) is imported when a command runs, not by every command.
    from ..app.genesis import apply_merged, run_experiment

    request = load_request(args.file)
    record = run_experiment(request, args.data_dir, args.sandboxes, args.database_url, args.base,
                            None if args.json else _step)  # fmt: skip
    if args.apply_to is not None and record.get("recommendation") == "merge":
        record["applied"] = apply_merged(record, args.apply_to)
    if args.json:
        print(json.dumps(record))
    else:
        _print_record(record)
    if record.get("status") == "rejected":
        return 2
    return 0 if record.get("recommendation") == "merge" and record.get("applied", {}).get("status", "applied") == "applied" else 1


def _step(experiment_id: str, step: str) -> None:
    print(f"{experiment_id}: {step or 'requested'} done", file=sys.stderr, flush=True)


def run_list(args: argparse.Namespace) -> int:
    from ..genesis.records import Records

    records = Records(args.data_dir / "genesis.sqlite3")
    try:
        rows = records.list()
    finally:
        records.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no experiments in {args.data_dir}")
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["requested_at"]))
        print(f"{row['id']}  {when}  {row['experiment_type']:<12} {row['status']:<16} {row['recommendation'] or '-':<9} "
              f"{row['requester']}: {row['description'][:60]}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ..genesis.records import Records

    records = Records(args.data_dir / "genesis.sqlite3")
    try:
        record = records.get(args.experiment_id)
    finally:
        records.close()
    if record is None:
        print(f"genesis show: no experiment {args.experiment_id!r} in {args.data_dir}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(record))
    else:
        _print_record(record)
    return 0


def _print_record(record: dict[str, Any]) -> None:
    if record.get("status") == "rejected":
        print(f"rejected: {record['reason']}")
        return
    outcome = record.get("outcome", {})
    print(f"{record['id']}: {record['status']}, recommendation {record.get('recommendation') or '-'}")
    for reason in outcome.get("reasons", []) or [outcome.get("reason", "")]:
        if reason:
            print(f"  {reason}")
    for name, value in outcome.get("candidate", {}).items():
        before = outcome.get("baseline", {}).get(name)
        print(f"  {name}: {before if before is None else round(before, 4)} -> {round(value, 4)}")
    merged = outcome.get("merged") or {}
    if merged:
        print(f"  merged on branch {merged['branch']} ({merged['commit'][:12]}) of {merged['repository']}")
    applied = record.get("applied")
    if applied:
        print(f"  config apply: {applied['status']}" + (f" ({applied['reason']})" if applied.get("reason") else ""))
    timings = record.get("timings", {})
    if timings:
        keys = ("sandbox_create_ms", "overhead_ms", "rollback_ms", "total_ms")
        print("  " + ", ".join(f"{key} {timings[key]:.0f}" for key in keys if key in timings))
