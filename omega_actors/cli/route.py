"""``python run.py route``: send one task through the router, or show what it has learned.

::

    python run.py route "what should I watch now?"
    python run.py route "explain the plot of Dune" --on-battery --battery 35 --carbon 80 --json
    python run.py route stats [--json]

``route TEXT`` starts the router's tree (``config/router``: the ``[router]``
table and ``[system]``), asks it once, prints the chosen layer, why, the
answer and the cost, and shuts the tree down, which commits what the task
taught the router to branch ``router`` of the state repository.
``route stats`` reads that branch and starts no actor (it commits only to
drop a compiled handler that no longer validates, as every load does).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..app.router import router_table, state_dir
from ..router.settings import RouterSettings
from ..router.store import RouterStore
from ..runtime import Config, load_config

DEFAULT_ROUTER_CONFIG = "config/router"


def add_parsers(commands: Any) -> None:
    route = commands.add_parser("route", help="route one task to the cheapest layer that can do it; `route stats` for costs")
    route.add_argument("text", help='the task, in quotes; "stats" shows the cost ledger and what was learned')
    route.add_argument("--on-battery", action="store_true", help="the device runs on battery")
    route.add_argument("--battery", type=float, default=100.0, metavar="PCT", help="battery level in %% (default: 100)")
    route.add_argument("--solar-peak", action="store_true", help="solar production is at its peak")
    route.add_argument("--carbon", type=float, metavar="G", help="grid carbon intensity in g CO2/kWh (default: unknown)")
    route.add_argument("--config", default=DEFAULT_ROUTER_CONFIG, help=f"config directory (default: {DEFAULT_ROUTER_CONFIG})")
    route.add_argument("--base", choices=("simple", "tcp"), help="override [system] base")
    route.add_argument("--json", action="store_true", help="print one JSON object")
    route.set_defaults(handler=route_command)


def route_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    table = router_table(config)
    if args.text == "stats":
        return _stats(state_dir(config, table), table, args.json)
    return _route(args, config)


def _route(args: argparse.Namespace, config: Config) -> int:
    # Imported here: the router's providers load the brain's model stack (its L3 is MiniLM), which
    # `route stats` does not need.
    from ..actors.router import Route
    from ..app.router import route_once

    task = Route(args.text, args.on_battery, args.battery, args.solar_peak, args.carbon)
    result = route_once(config, task, args.base).to_dict()
    print(json.dumps(result) if args.json else _describe(result))
    return 0 if result["answer"] is not None else 1


def _describe(result: dict[str, Any]) -> str:
    private = ", private: local layers only" if result["private"] else ""
    lines = [
        f"answer:   {result['answer'] if result['answer'] is not None else '(no layer could answer)'}",
        f"layer:    {result['layer'] or '-'}{'  (compiled handler)' if result['compiled'] else ''}",
        f"why:      {result['reason']}  [kind {result['kind']}{private}]",
        f"policy:   {result['policy']}",
        f"plan:     {' -> '.join(result['plan']) or '-'}",
    ]
    for attempt in result["attempts"]:
        outcome = "ok" if attempt["ok"] else f"failed: {attempt['error']}"
        lines.append(f"attempt:  {attempt['layer']:<12} {attempt['latency_ms']:>9.2f} ms  {outcome}")
    lines.append(f"cost:     {result['tokens']} tokens, {result['joules']:.3f} J, {result['money']:.6f} money")
    lines.append(f"decision: {result['decision_us']:.0f} µs")
    lines += [f"learned:  {change}" for change in result["changes"]]
    return "\n".join(lines)


def _stats(path: Path, table: dict[str, Any], as_json: bool) -> int:
    store = RouterStore(path)
    learned = store.load(RouterSettings.from_table(table))
    rows = learned.ledger.table()
    total = learned.ledger.total()
    kinds = {kind: state.first for kind, state in learned.learner.kinds.items()}
    summary = {
        "state": str(path), "commit": learned.commit, "layers": rows,
        "total": {"calls": sum(r["calls"] for r in rows), "tokens": total.tokens, "joules": total.joules, "money": total.money},
        "first_choice": {kind: None if layer is None else layer.label for kind, layer in sorted(kinds.items())},
        "compiled_handlers": len(learned.compiler.handlers),
        "history": [{"commit": sha, "time": when, "subject": subject} for sha, when, subject in store.history(5)],
    }  # fmt: skip
    print(json.dumps(summary) if as_json else _stats_text(summary))
    return 0


def _stats_text(summary: dict[str, Any]) -> str:
    header = f"{'layer':<14}{'calls':>7}{'ok':>7}{'failed':>7}{'p50 ms':>10}{'tokens':>9}{'joules':>11}{'money':>12}"
    lines = [f"router statistics in {summary['state']} (branch router, {(summary['commit'] or 'no commit yet')[:12]})", header]
    for row in summary["layers"]:
        p50 = "-" if row["latency_ms_p50"] is None else f"{row['latency_ms_p50']:.2f}"
        lines.append(f"{row['layer']:<14}{row['calls']:>7}{row['succeeded']:>7}{row['failed']:>7}{p50:>10}"
                     f"{row['tokens']:>9}{row['joules']:>11.3f}{row['money']:>12.6f}")
    total = summary["total"]
    lines.append(f"{'total':<14}{total['calls']:>7}{'':>24}{total['tokens']:>9}{total['joules']:>11.3f}{total['money']:>12.6f}")
    for kind, layer in summary["first_choice"].items():
        lines.append(f"kind {kind!r}: first choice {layer or 'by estimate'}")
    lines.append(f"compiled handlers: {summary['compiled_handlers']}")
    return "\n".join(lines)
