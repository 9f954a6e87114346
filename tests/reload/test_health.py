"""What decides a rollback, read from the live tree."""

from __future__ import annotations

from omega_actors.reload.health import verdict
from omega_actors.runtime import TreeNode


def test_a_crash_loop_is_counted_from_the_live_tree():
    def tree(restarts: int, sup_restarts: int = 0) -> TreeNode:
        worker_node = TreeNode("w", "app/s/w", "worker", "running", restarts)
        sup = TreeNode("s", "app/s", "supervisor", "running", sup_restarts, children=(worker_node,))
        return TreeNode("omega", "", "supervisor", "running", children=(TreeNode("app", "app", "supervisor", "running", children=(sup,)),))

    baseline = {n.path: n.restarts for n in tree(2).walk()}
    assert verdict(tree(2), baseline, crash_limit=2) is None
    assert verdict(tree(3), baseline, crash_limit=2) is None
    assert verdict(tree(4), baseline, crash_limit=2) == "crash loop: 2 restarts in the health window (app/s/w x2)"
    assert verdict(tree(2, sup_restarts=1), baseline, crash_limit=5) == "escalation: supervisor app/s restarted"
