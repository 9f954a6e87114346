"""``run.py config``: check a config directory, and change the running system through its state repository.

::

    python run.py config check [DIR]             # validate a config directory
    python run.py config apply PATH --why "..."  # validate, apply in place, watch, commit or roll back
    python run.py config rollback [REV]          # default: the commit before the last
    python run.py config history [--json]        # applied, rollback, rejected, rolled_back, interrupted

``apply`` and ``rollback`` attach to the system that ``run.py start`` runs
(see :mod:`omega_actors.app.running`) and go through
:class:`omega_actors.reload.Reloader`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..app.running import attach_reloader
from ..errors import OmegaError
from ..reload import (
    ChangeOutcome,
    ChangeStatus,
    check_sections,
    reload_settings,
    state_path,
)
from ..reload.apply import files_to_apply
from ..runtime import load_config
from ..storage.state_repository import StateRepository
from ._options import DEFAULT_CONFIG, add_config_option


def add_parsers(commands: Any) -> None:
    config = commands.add_parser("config", help="config directory tools")
    actions = config.add_subparsers(title="config commands", required=True)
    check = actions.add_parser("check", help="validate a config directory")
    check.add_argument("directory", nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(handler=check_directory)
    apply = actions.add_parser("apply", help="apply a config file or directory to the running system")
    apply.add_argument("path", help="a directory (the whole config) or one *.toml file (replaces its namesake)")
    _change_options(apply)
    apply.set_defaults(handler=apply_change)
    rollback = actions.add_parser("rollback", help="return the running system to an earlier commit")
    rollback.add_argument("rev", nargs="?", help="a commit (default: the one before the last)")
    _change_options(rollback)
    rollback.set_defaults(handler=roll_back)
    history = actions.add_parser("history", help="the applied commits and failed attempts, newest first")
    add_config_option(history)
    history.add_argument("--json", action="store_true")
    history.set_defaults(handler=show_history)


def _change_options(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser, help="the config directory the system was started with")
    parser.add_argument("--why", default="", help="why (recorded in the commit)")
    parser.add_argument("--who", default="", help="who or what (default: user@host)")
    parser.add_argument("--window", type=float, help="override [reload] health_window (seconds)")
    parser.add_argument("--json", action="store_true")


def check_directory(args: argparse.Namespace) -> int:
    config = load_config(args.directory)
    others = check_sections(config)
    if "router" in config.tables and config.tree is None:
        print(f"{args.directory}: ok ({config.system.base} base, a [router] table)")
    else:
        tree = config.require_tree()
        print(f"{args.directory}: ok ({config.system.base} base, root {config.root_id!r} with {len(tree.children)} children)")
    for name in others:
        print(f"note: [{name}] ({config.sources[name]}) is read by no part of omega_actors: your application's own section")
    return 0


def apply_change(args: argparse.Namespace) -> int:
    with attach_reloader(args.config, who=args.who, window=args.window) as reloader:
        files, origins = files_to_apply(Path(args.path), reloader.repo)
        outcome = reloader.apply(files, args.why, origins)
    return _report(outcome, args.json)


def roll_back(args: argparse.Namespace) -> int:
    with attach_reloader(args.config, who=args.who, window=args.window) as reloader:
        outcome = reloader.rollback(args.rev, args.why)
    return _report(outcome, args.json)


def _report(outcome: ChangeOutcome, as_json: bool) -> int:
    if as_json:
        print(json.dumps(outcome.to_dict()))
    else:
        commit = (outcome.commit or "")[:12]
        print(f"{outcome.status} {commit}" + (f": {outcome.reason}" if outcome.reason else ""))
        for change in outcome.changes:
            print(f"  {change}")
    return {ChangeStatus.APPLIED: 0, ChangeStatus.UNCHANGED: 0, ChangeStatus.ROLLED_BACK: 1}.get(outcome.status, 2)


def show_history(args: argparse.Namespace) -> int:
    local = load_config(args.config)
    path = state_path(local, reload_settings(local))
    if not (path / ".git").exists():
        raise OmegaError(f"no state repository at {path}; `python run.py start` creates it")
    with StateRepository(path) as repo:
        items = repo.history()
    if args.json:
        print(json.dumps([item.to_dict() for item in items]))
        return 0
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.time))
        line = f"{item.sha[:12]}  {when}  {item.outcome:<12} {item.who}: {item.why}"
        print(line + (f"  [{item.reason}]" if item.reason else ""))
        for change in item.changes:
            print(f"      {change}")
    return 0
