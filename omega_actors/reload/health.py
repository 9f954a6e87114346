"""What decides that a configuration change must be rolled back.

After a change is in place, the running tree is watched for the health
window. It fails, and the change is rolled back, on:

- **escalation**: a supervisor restarted (its children crashed past its
  intensity), or the whole system ended;
- **a crash loop**: ``crash_limit`` restarts or more anywhere in the tree
  during the window;
- **a failed health probe**, at the end of the window: every permanent child
  of the new tree must be running (a transient one may also have ended
  normally), and every actor whose class overrides ``health()`` must answer
  that it is healthy within ``probe_timeout``.

The restart counts are read from the live tree, the same one ``python run.py
status`` prints, so a rollback's reason can be checked there.
"""

from __future__ import annotations

import time

from ..errors import DeliveryError
from ..runtime import (
    Actor,
    HealthCheck,
    HealthReport,
    Restart,
    Runtime,
    SupervisorSpec,
    TreeNode,
)
from ..runtime.supervisor_spec import walk
from .settings import ReloadSettings

POLL_SECONDS = 0.1


def watch(runtime: Runtime, tree: SupervisorSpec, settings: ReloadSettings) -> str | None:
    """Watch the running tree for the health window; the reason to roll back, or None."""
    baseline = {node.path: node.restarts for node in runtime.tree().walk()}
    deadline = time.monotonic() + settings.health_window
    while True:
        live = runtime.tree()
        reason = verdict(live, baseline, settings.crash_limit)
        if reason is not None:
            return reason
        left = deadline - time.monotonic()
        if left <= 0:
            return probe(runtime, tree, live, settings)
        runtime.pump(min(POLL_SECONDS, left))


def verdict(live: TreeNode, baseline: dict[str, int], crash_limit: int) -> str | None:
    """Escalation or a crash loop since ``baseline`` (restart counts by path), as a reason."""
    if live.terminated:
        return f"escalation: the system ended ({live.terminated})"
    grown = {node.path: node.restarts - baseline.get(node.path, 0) for node in live.walk() if node.path}
    grown = {path: count for path, count in grown.items() if count > 0}
    supervisors = [n.path for n in live.walk() if n.path in grown and n.type == "supervisor"]
    if supervisors:
        return f"escalation: supervisor {', '.join(supervisors)} restarted"
    total = sum(grown.values())
    if total >= crash_limit:
        listed = ", ".join(f"{path} x{count}" for path, count in sorted(grown.items()))
        return f"crash loop: {total} restarts in the health window ({listed})"
    return None


def probe(runtime: Runtime, tree: SupervisorSpec, live: TreeNode, settings: ReloadSettings) -> str | None:
    """The end-of-window probe: the new tree is up, and actors that can say so are healthy."""
    return _tree_is_down(runtime.root_id, tree, live) or _unhealthy_actor(runtime, tree, live, settings)


def _tree_is_down(root_id: str, tree: SupervisorSpec, live: TreeNode) -> str | None:
    for path, spec in walk(tree, root_id):
        node = live.find(path)
        if spec.restart is Restart.TEMPORARY or (node is not None and node.state == "running"):
            continue
        ended_normally = node is not None and node.last_exit in ("normal", "shutdown")
        if not (spec.restart is Restart.TRANSIENT and ended_normally):
            last = f" (last exit: {node.last_exit})" if node is not None and node.last_exit else ""
            return f"health probe: {path} is {node.state if node else 'missing'}{last}"
    return None


def _unhealthy_actor(runtime: Runtime, tree: SupervisorSpec, live: TreeNode, settings: ReloadSettings) -> str | None:
    for path, spec in walk(tree, runtime.root_id):
        node = live.find(path)
        if node is None or node.address is None or spec.start.actor_class().health is Actor.health:
            continue  # only actors that can tell are asked
        try:
            report = runtime.ask(node.address, HealthCheck(), settings.probe_timeout)
        except DeliveryError as exc:
            return f"health probe: {path} did not answer: {exc}"
        if not isinstance(report, HealthReport) or not report.ok:
            return f"health probe: {path} is unhealthy: {getattr(report, 'detail', report)}"
    return None
