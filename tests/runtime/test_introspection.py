"""Rendering the live tree for `run.py status`."""

from __future__ import annotations

import json

from omega_actors.runtime import TreeNode, render_text, to_json

TREE = TreeNode(
    id="omega", path="", type="supervisor", state="running", pid=10, strategy="rest_for_one",
    children=(
        TreeNode(id="registry", path="registry", type="worker", state="running", pid=11),
        TreeNode(
            id="app", path="app", type="supervisor", state="running", pid=12, strategy="one_for_one",
            children=(
                TreeNode(id="w", path="app/w", type="worker", state="running", pid=13, restarts=2, last_exit="crash: ValueError: bad"),
                TreeNode(id="t", path="app/t", type="worker", state="undefined", last_exit="normal"),
            ),
        ),
    ),
)  # fmt: skip


def test_the_text_tree_shows_states_restarts_and_last_exits():
    assert render_text(TREE).splitlines() == [
        "omega [supervisor, rest_for_one]  running  pid 10",
        "├─ registry [worker]  running  pid 11",
        "└─ app [supervisor, one_for_one]  running  pid 12",
        "   ├─ w [worker]  running  pid 13  restarts 2  last exit: crash: ValueError: bad",
        "   └─ t [worker]  undefined  last exit: normal",
    ]


def test_the_json_tree_nests_children_under_supervisors_only():
    data = json.loads(to_json(TREE))
    app = data["children"][1]
    assert app["path"] == "app" and [child["id"] for child in app["children"]] == ["w", "t"]
    assert "children" not in data["children"][0] and app["children"][0]["restarts"] == 2


def test_a_path_finds_its_node_and_walk_visits_every_node():
    assert TREE.find("app/t").last_exit == "normal"
    assert TREE.find("app/none") is None and TREE.find("") is TREE
    assert [node.path for node in TREE.walk()] == ["", "registry", "app", "app/w", "app/t"]
