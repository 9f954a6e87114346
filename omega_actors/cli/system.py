"""``run.py run|start|status|stop``: run a supervision tree, look at it, stop it.

::

    python run.py run [--forever] [--chaos N]    # start config/'s tree and show it live, with faults
    python run.py start [--node NAME --leader HOST:PORT --capability KEY=VALUE]   # the operated system
    python run.py status [--json]                # the live tree of the running system
    python run.py stop                           # stop the running system in order

``run`` starts the tree of the config directory as it is; ``start`` boots
from the state repository (see :mod:`omega_actors.app.running`), so that
``config apply`` can change it. Both record themselves where ``status``,
``stop`` and ``config apply`` find them.
"""

from __future__ import annotations

import argparse
import json
import logging.config
import os
import random
import signal
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..actors.demo import Poison
from ..app.running import attach, boot, run_file, write_run_record
from ..errors import OmegaError
from ..reload import check_sections
from ..runtime import Runtime, SystemConfig, TreeNode, load_config, render_text, to_json
from ..runtime.cluster_config import parse_capability
from ..runtime.logs import logging_config
from ..runtime.messages import Members
from ._options import add_base_option, add_config_option, with_base


def add_parsers(commands: Any) -> None:
    run = commands.add_parser("run", help="start the tree from the config directory and show it live, with faults")
    add_config_option(run)
    run.add_argument("--seconds", type=float, default=20.0, help="how long to run (default: 20)")
    run.add_argument("--forever", action="store_true", help="run until Ctrl-C, SIGTERM or `run.py stop`")
    run.add_argument("--chaos", type=float, default=3.0, help="inject a fault every N seconds; 0 disables (default: 3)")
    add_base_option(run)
    run.set_defaults(handler=run_tree)

    start = commands.add_parser("start", help="run the system from the state repository's last good commit until stopped")
    add_config_option(start, help="config directory; imported on first start")
    add_base_option(start)
    start.add_argument("--node", help="this node's name in a cluster (overrides [cluster] node)")
    start.add_argument("--leader", metavar="HOST:PORT", help="join the cluster led by this admin (overrides [cluster] leader)")
    start.add_argument("--capability", action="append", default=[], metavar="KEY=VALUE",
                       help="a capability this node advertises, e.g. role=constellation or gpu=true (repeatable)")  # fmt: skip
    start.set_defaults(handler=start_system)

    status = commands.add_parser("status", help="print the live tree of the running system")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=show_status)

    stop = commands.add_parser("stop", help="stop the running system in order")
    add_config_option(stop)
    stop.set_defaults(handler=stop_system)


# run


def run_tree(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_sections(config)  # as start and config apply do: a misspelt [brian] is refused, not ignored
    system = with_base(config.system, args.base)
    _configure_logging(system)
    runtime = Runtime.start(config.require_tree(), system, config.root_id)
    try:
        if runtime.base == "tcp":
            write_run_record(system, runtime)
        _install_sigterm()
        return _show_live(runtime, args)
    except KeyboardInterrupt:
        print("\nstopping in order...")
        return 0
    finally:
        reason = runtime.shutdown()
        run_file(system).unlink(missing_ok=True)
        print(f"stopped: {reason.summary() if reason else 'unknown'}")


def _show_live(runtime: Runtime, args: argparse.Namespace) -> int:
    started = time.monotonic()
    next_fault = started + args.chaos if args.chaos > 0 else float("inf")
    faults = 0
    while args.forever or time.monotonic() - started < args.seconds:
        tree = runtime.tree()
        _draw(tree, runtime, time.monotonic() - started, faults)
        if tree.terminated:
            requested = tree.terminated == "shutdown"  # `run.py stop`, not an escalation
            print(f"the system {'was stopped' if requested else 'ended'}: {tree.terminated}")
            return 0 if requested else 1
        if time.monotonic() >= next_fault:
            faults += _inject_fault(runtime, tree)
            next_fault += args.chaos
        runtime.pump(1.0)
    print(f"ran {args.seconds:g} s, {faults} faults injected, {_restarts(runtime.tree())} restarts")
    return 0


def _draw(tree: TreeNode, runtime: Runtime, elapsed: float, faults: int) -> None:
    header = f"omega_actors on {runtime.base}  {elapsed:5.1f} s  faults injected: {faults}  restarts: {_restarts(tree)}"
    hint = "  (python run.py status | stop)" if runtime.base == "tcp" else ""
    body = render_text(tree)
    if sys.stdout.isatty():
        print("\x1b[H\x1b[2J" + header + hint + "\n\n" + body, flush=True)
    else:
        print(header + "\n" + body + "\n", flush=True)


def _inject_fault(runtime: Runtime, tree: TreeNode) -> int:
    """Crash (or on tcp, kill -9) one running worker under the application root."""
    app = tree.find(runtime.root_id)
    workers = [node for node in (app.walk() if app else []) if node.type == "worker" and node.state == "running"]
    if not workers:
        return 0
    victim = random.choice(workers)
    if runtime.base == "tcp" and victim.pid and random.random() < 0.5:
        os.kill(victim.pid, signal.SIGKILL)
    else:
        runtime.tell(victim.address, Poison())
    return 1


def _restarts(tree: TreeNode) -> int:
    return sum(node.restarts for node in tree.walk())


def _configure_logging(system: SystemConfig) -> None:
    logs = Path(system.data_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.config.dictConfig(logging_config(str(logs / "omega.jsonl"), system.log_level))


def _install_sigterm() -> None:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


# start


def start_system(args: argparse.Namespace) -> int:
    booted = boot(args.config, note=lambda line: print(f"note: {line}", flush=True))
    system = _with_cluster_flags(with_base(booted.config.system, args.base), args)
    _configure_logging(system)
    runtime = Runtime.start(booted.config.require_tree(), system, booted.config.root_id)
    try:
        if runtime.base == "tcp":
            write_run_record(system, runtime, state_dir=str(booted.state_dir))
        print(f"started on commit {booted.commit[:12]} ({runtime.base} base); `python run.py stop` stops it", flush=True)
        if runtime.base == "tcp":
            cluster = system.cluster
            role = f"member of {cluster.leader}" if cluster.leader else "leader"
            print(f"node {cluster.node} ({role}) on {system.bind}:{runtime.admin_port}", flush=True)
        _install_sigterm()
        return _serve(runtime)
    except KeyboardInterrupt:
        return 0
    finally:
        reason = runtime.shutdown()
        run_file(system).unlink(missing_ok=True)
        print(f"stopped: {reason.summary() if reason else 'unknown'}", flush=True)


def _with_cluster_flags(system: SystemConfig, args: argparse.Namespace) -> SystemConfig:
    """``--node``, ``--leader`` and ``--capability`` override the [cluster] table."""
    cluster = system.cluster
    changes: dict[str, Any] = {}
    if args.node is not None:
        changes["node"] = args.node
    if args.leader is not None:
        changes["leader"] = args.leader
    if args.capability:
        changes["capabilities"] = {**cluster.capabilities, **dict(parse_capability(item) for item in args.capability)}
    return replace(system, cluster=replace(cluster, **changes)) if changes else system


def _serve(runtime: Runtime) -> int:
    while True:
        runtime.pump(1.0)
        ended = runtime.terminated()
        if ended:
            print(f"the system {'was stopped' if ended == 'shutdown' else 'ended'}: {ended}", flush=True)
            return 0 if ended == "shutdown" else 1


# status and stop: attach to the system a `run` or `start` started


def show_status(args: argparse.Namespace) -> int:
    runtime, _ = attach(args.config)
    try:
        tree = runtime.tree()
        members = None if tree.terminated else _members_or_none(runtime)
    finally:
        runtime.close()
    if args.json:
        data = json.loads(to_json(tree))
        if members is not None:
            data["cluster"] = {"leader": members.leader, "members": [asdict(member) for member in members.members]}
        print(json.dumps(data))
    else:
        print(render_text(tree))
        if members is not None and len(members.members) > 1:
            print(_render_members(members))
    return 1 if tree.terminated else 0


def _members_or_none(runtime: Runtime) -> Members | None:
    try:
        return runtime.members()
    except OmegaError:  # the cluster actor is restarting: the tree is still worth showing
        return None


def _render_members(members: Members) -> str:
    lines = ["cluster" + (" (this node leads)" if members.leader else "") + ":"]
    for member in members.members:
        caps = ", ".join(f"{key}={value}" for key, value in sorted(member.capabilities.items()) if key != "omega.node")
        where = "this node" if member.this else member.admin
        state = "up" if member.up else "DOWN"
        lines.append(f"  {member.node:<16} {state:<5} {where:<22} placed={member.load}  {caps}")
    return "\n".join(lines)


def stop_system(args: argparse.Namespace) -> int:
    runtime, _ = attach(args.config)
    reason = runtime.shutdown()
    print(f"stopped: {reason.summary() if reason else 'no answer'}")
    return 0
