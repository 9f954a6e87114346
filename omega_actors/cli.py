"""What ``python run.py`` does.

::

    python run.py                      # = demo: a fleet of TV brains, a constellation, a summary
    python run.py demo --tvs 2000 --days 3 --chaos --report runs/demo
    python run.py eval --movielens DIR [--json] [--chaos]
    python run.py run                  # start config/'s tree and show it live, with faults
    python run.py run --forever        # keep it running (Ctrl-C stops it in order)
    python run.py start                # run the operated system from the state repository
    python run.py start --node b --leader HOST:PORT --capability role=worker   # join a cluster (docs/cluster.md)
    python run.py status [--json]      # the live tree of the running system
    python run.py stop                 # stop the running system in order
    python run.py config check [DIR]   # validate a config directory
    python run.py config apply PATH    # change the running system (validate, apply, watch, commit)
    python run.py config rollback [REV]
    python run.py config history [--json]
    python run.py route "TEXT" [--on-battery --battery PCT --solar-peak --carbon G --json]
    python run.py route stats [--json] # the router's cost ledger and what it learned
    python run.py skeleton extract --installed [--db FILE --workers N]   # public API of packages, from source
    python run.py skeleton show|query|diff ...
    python run.py bench runtime --json # benchmarks (see docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import os
import random
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import genesis_command, route_command, skeleton_command
from .errors import ConfigError, OmegaError
from .runtime import Runtime, TreeNode, load_config, render_text, to_json
from .runtime.cluster_config import parse_capability
from .runtime.logs import logging_config
from .runtime.messages import Members
from .runtime.processes import exists
from .runtime.system import SystemConfig

DEFAULT_CONFIG = "config"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except OmegaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="omega_actors: supervised actors on Thespian")
    _demo_options(parser)  # `demo` is the default command: its options work without it too
    parser.set_defaults(handler=_demo)
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="a fleet of TV brains with a constellation, days of viewing (the default)")
    _demo_options(demo)
    demo.set_defaults(handler=_demo)

    evaluate = commands.add_parser("eval", help="replay a MovieLens-format dataset through the fleet; Recall@10, NDCG@10")
    evaluate.add_argument("--movielens", required=True, help="a directory with ratings.csv and movies.csv")
    evaluate.add_argument("--rounds", type=int, default=24, help="sync rounds the replay is cut into (default: 24)")
    evaluate.add_argument("--k", type=int, default=5, help="k-anonymity of every released pattern (default: 5)")
    _fleet_options(evaluate)
    evaluate.set_defaults(handler=_eval)

    run = commands.add_parser("run", help="start the tree from the config directory and show it live, with faults")
    _run_options(run)
    run.set_defaults(handler=_run)

    start = commands.add_parser(
        "start", help="run the system from the state repository's last good commit until stopped"
    )
    start.add_argument("--config", default=DEFAULT_CONFIG, help="config directory; imported on first start")
    start.add_argument("--base", choices=("simple", "tcp"), help="override [system] base")
    start.add_argument("--node", help="this node's name in a cluster (overrides [cluster] node)")
    start.add_argument("--leader", metavar="HOST:PORT", help="join the cluster led by this admin (overrides [cluster] leader)")
    start.add_argument("--capability", action="append", default=[], metavar="KEY=VALUE",
                       help="a capability this node advertises, e.g. role=constellation or gpu=true (repeatable)")  # fmt: skip
    start.set_defaults(handler=_start)

    status = commands.add_parser("status", help="print the live tree of the running system")
    status.add_argument("--config", default=DEFAULT_CONFIG)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    stop = commands.add_parser("stop", help="stop the running system in order")
    stop.add_argument("--config", default=DEFAULT_CONFIG)
    stop.set_defaults(handler=_stop)

    config = commands.add_parser("config", help="config directory tools")
    config_commands = config.add_subparsers(title="config commands", required=True)
    check = config_commands.add_parser("check", help="validate a config directory")
    check.add_argument("directory", nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(handler=_check)
    apply = config_commands.add_parser("apply", help="apply a config file or directory to the running system")
    apply.add_argument("path", help="a directory (the whole config) or one *.toml file (replaces its namesake)")
    _change_options(apply)
    apply.set_defaults(handler=_apply)
    rollback = config_commands.add_parser("rollback", help="return the running system to an earlier commit")
    rollback.add_argument("rev", nargs="?", help="a commit (default: the one before the last)")
    _change_options(rollback)
    rollback.set_defaults(handler=_rollback)
    history = config_commands.add_parser("history", help="the applied commits and failed attempts, newest first")
    history.add_argument("--config", default=DEFAULT_CONFIG)
    history.add_argument("--json", action="store_true")
    history.set_defaults(handler=_history)

    route_command.add_parser(commands)
    skeleton_command.add_parser(commands)
    genesis_command.add_parser(commands)

    bench = commands.add_parser("bench", help="run a benchmark and print JSON")
    bench.add_argument("suite", choices=("runtime", "config", "brain", "sync", "router", "skeleton", "genesis", "cluster"))
    bench.add_argument("--json", action="store_true", help="print only the JSON result line")
    bench.add_argument("--quick", action="store_true", help="fewer rounds (for smoke tests)")
    bench.set_defaults(handler=_bench)
    return parser


# run


def _change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="the config directory the system was started with")
    parser.add_argument("--why", default="", help="why (recorded in the commit)")
    parser.add_argument("--who", default="", help="who or what (default: user@host)")
    parser.add_argument("--window", type=float, help="override [reload] health_window (seconds)")
    parser.add_argument("--json", action="store_true")


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="worker processes the TVs share (default: 2)")
    parser.add_argument("--base", choices=("simple", "tcp"), default="tcp",
                        help="tcp: one process per actor (default); simple: all in this process")
    parser.add_argument("--chaos", action="store_true", help="kill -9 processes, raise in handlers, take TVs offline")
    parser.add_argument("--data", default=".omega/fleet", help="where the run keeps its TVs and constellation")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tvs", type=int, default=300, help="simulated TVs (default: 300)")
    parser.add_argument("--days", type=int, default=3, help="simulated days, four steps each (default: 3)")
    parser.add_argument("--items", type=int, default=500, help="catalogue size (default: 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", help="write DIR/report.html, a self-contained page with plots")
    _fleet_options(parser)


def _checked_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"expected a whole number >= 1; got {value}", key=f"--{name}")


def _demo(args: argparse.Namespace) -> int:
    from .sim.demo import DemoOptions, progress_bar, run_demo, table

    _checked_counts(tvs=args.tvs, days=args.days, items=args.items, workers=args.workers)
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


def _eval(args: argparse.Namespace) -> int:
    from .sim.evaluate import EvalOptions, run_eval

    _checked_counts(rounds=args.rounds, k=args.k, workers=args.workers)
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


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="config directory (default: config)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to run (default: 20)")
    parser.add_argument("--forever", action="store_true", help="run until Ctrl-C, SIGTERM or `run.py stop`")
    parser.add_argument("--chaos", type=float, default=3.0, help="inject a fault every N seconds; 0 disables (default: 3)")
    parser.add_argument("--base", choices=("simple", "tcp"), help="override [system] base")


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    system = config.system if args.base is None else _with_base(config.system, args.base)
    _configure_logging(system)
    runtime = Runtime.start(config.require_tree(), system, config.root_id)
    run_file = _run_file(system)
    try:
        if runtime.base == "tcp":
            _write_run_file(run_file, runtime)
        _install_sigterm()
        return _show_live(runtime, args)
    except KeyboardInterrupt:
        print("\nstopping in order...")
        return 0
    finally:
        reason = runtime.shutdown()
        run_file.unlink(missing_ok=True)
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
    """Crash (or on tcp, kill -9) one running demo worker under the application root."""
    from .actors.demo import Poison

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


def _with_base(system: SystemConfig, base: str) -> SystemConfig:
    from dataclasses import replace

    return replace(system, base=base)


def _configure_logging(system: SystemConfig) -> None:
    logs = Path(system.data_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.config.dictConfig(logging_config(str(logs / "omega.jsonl"), system.log_level))


def _install_sigterm() -> None:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


# status and stop: attach to the system a `run` started


def _run_file(system: SystemConfig) -> Path:
    return Path(system.data_dir) / "run" / "system.json"


def _write_run_file(path: Path, runtime: Runtime, **extra: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "admin_port": runtime.admin_port, "root_id": runtime.root_id, "base": runtime.base, **extra}
    path.write_text(json.dumps(record))


def _attach(args: argparse.Namespace) -> Runtime:
    return _attach_with_record(args)[0]


def _attach_with_record(args: argparse.Namespace) -> tuple[Runtime, dict[str, Any]]:
    system = load_config(args.config).system
    path = _run_file(system)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise OmegaError(f"no running system: {path} does not exist (start one with `python run.py run --forever`)") from None
    if not exists(record["pid"]):
        path.unlink(missing_ok=True)
        raise OmegaError(f"no running system: process {record['pid']} from {path} has ended")
    return Runtime.connect(record["admin_port"], system, record["root_id"]), record


def _status(args: argparse.Namespace) -> int:
    runtime = _attach(args)
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


def _with_cluster_flags(system: SystemConfig, args: argparse.Namespace) -> SystemConfig:
    """``--node``, ``--leader`` and ``--capability`` override the [cluster] table."""
    from dataclasses import replace

    cluster = system.cluster
    changes: dict[str, Any] = {}
    if args.node is not None:
        changes["node"] = args.node
    if args.leader is not None:
        changes["leader"] = args.leader
    if args.capability:
        changes["capabilities"] = {**cluster.capabilities, **dict(parse_capability(item) for item in args.capability)}
    return replace(system, cluster=replace(cluster, **changes)) if changes else system


def _stop(args: argparse.Namespace) -> int:
    runtime = _attach(args)
    reason = runtime.shutdown()
    print(f"stopped: {reason.summary() if reason else 'no answer'}")
    return 0


# config and bench


def _check(args: argparse.Namespace) -> int:
    from .reload.settings import reload_settings

    config = load_config(args.directory)
    reload_settings(config)
    if "router" in config.tables:
        route_command.router_table(config)
        if config.tree is None:
            print(f"{args.directory}: ok ({config.system.base} base, a [router] table)")
            return 0
    tree = config.require_tree()
    print(f"{args.directory}: ok ({config.system.base} base, root {config.root_id!r} with {len(tree.children)} children)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .benchmarks import brain as brain_bench
    from .benchmarks import cluster as cluster_bench
    from .benchmarks import config as config_bench
    from .benchmarks import genesis as genesis_bench
    from .benchmarks import router as router_bench
    from .benchmarks import runtime as runtime_bench
    from .benchmarks import skeleton as skeleton_bench
    from .benchmarks import sync as sync_bench

    suites = {"runtime": runtime_bench, "config": config_bench, "brain": brain_bench, "sync": sync_bench, "router": router_bench,
              "skeleton": skeleton_bench, "genesis": genesis_bench, "cluster": cluster_bench}
    suite = suites[args.suite]
    result = suite.run(quick=args.quick, progress=None if args.json else print)
    print(json.dumps(result))
    return 0


# start, and changes to the running system


def _start(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .reload.apply import boot_commit, parse
    from .reload.settings import reload_settings, state_path
    from .storage.state_repository import StateRepository

    local = load_config(args.config)
    repo = StateRepository(state_path(local, reload_settings(local)).resolve())
    head, notes = boot_commit(repo, Path(args.config))
    for note in notes:
        print(f"note: {note}")
    config = parse(repo.files(head), f"commit {head[:12]}")
    system = replace(config.system, data_dir=local.system.data_dir)  # runtime files stay where they were looked for
    system = system if args.base is None else _with_base(system, args.base)
    system = _with_cluster_flags(system, args)
    _configure_logging(system)
    runtime = Runtime.start(config.require_tree(), system, config.root_id)
    run_file = _run_file(system)
    try:
        if runtime.base == "tcp":
            _write_run_file(run_file, runtime, state_dir=str(repo.path))
        print(f"started on commit {head[:12]} ({runtime.base} base); `python run.py stop` stops it", flush=True)
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
        run_file.unlink(missing_ok=True)
        print(f"stopped: {reason.summary() if reason else 'unknown'}", flush=True)


def _serve(runtime: Runtime) -> int:
    while True:
        runtime.pump(1.0)
        ended = runtime.terminated()
        if ended:
            print(f"the system {'was stopped' if ended == 'shutdown' else 'ended'}: {ended}", flush=True)
            return 0 if ended == "shutdown" else 1


def _reloader(args: argparse.Namespace) -> tuple[Any, Runtime]:
    from dataclasses import replace

    from .reload import Reloader, reload_settings
    from .reload.apply import parse
    from .storage.state_repository import StateRepository

    runtime, record = _attach_with_record(args)
    try:
        if "state_dir" not in record:
            raise OmegaError("this system was started with `run.py run`, which keeps no state repository; use `run.py start`")
        repo = StateRepository(Path(record["state_dir"]))
        head = repo.head()
        if head is None:
            raise OmegaError(f"{repo.path} has no commit; was the system started with `run.py start`?")
        settings = reload_settings(parse(repo.files(head), f"commit {head[:12]}"))
        if args.window is not None:
            settings = replace(settings, health_window=args.window)
        return Reloader(runtime, repo, settings, args.who), runtime
    except BaseException:
        runtime.close()
        raise


def _apply(args: argparse.Namespace) -> int:
    from .reload.apply import files_to_apply

    reloader, runtime = _reloader(args)
    try:
        files, origins = files_to_apply(Path(args.path), reloader.repo)
        outcome = reloader.apply(files, args.why, origins)
    finally:
        runtime.close()
        reloader.repo.close()
    return _report(outcome, args.json)


def _rollback(args: argparse.Namespace) -> int:
    reloader, runtime = _reloader(args)
    try:
        outcome = reloader.rollback(args.rev, args.why)
    finally:
        runtime.close()
        reloader.repo.close()
    return _report(outcome, args.json)


def _report(outcome: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(outcome.to_dict()))
    else:
        commit = (outcome.commit or "")[:12]
        print(f"{outcome.status} {commit}" + (f": {outcome.reason}" if outcome.reason else ""))
        for change in outcome.changes:
            print(f"  {change}")
    return {"applied": 0, "unchanged": 0, "rolled_back": 1}.get(outcome.status, 2)


def _history(args: argparse.Namespace) -> int:
    from .reload.settings import reload_settings, state_path
    from .storage.state_repository import StateRepository

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
