"""What a running tree says about itself.

``which_children`` answers :class:`ChildInfo` records, ``count_children`` a
:class:`ChildCounts`, and ``GetTree`` a :class:`TreeNode` for the whole live
tree with restart counts and last exit reasons. :func:`render_text` and
:func:`to_json` are what ``python run.py status`` prints.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from .exits import CrashReport
from .messages import Address


class ChildState(enum.StrEnum):
    """A child's state, as its supervisor sees it.

    OTP's ``which_children`` shows a pid, ``restarting`` or ``undefined``;
    these say a little more. A ``StrEnum``: ``status --json`` prints the
    value, and ``node.state == "running"`` holds.
    """

    UNDEFINED = "undefined"  # no instance; the spec is kept (terminated, or exited and not restarted)
    STARTING = "starting"  # created, init not finished
    RUNNING = "running"
    STOPPING = "stopping"  # asked to stop (or being killed) by its supervisor
    EXITING = "exiting"  # said it is ending; its process has not ended yet
    EXITED = "exited"  # its process ended; the supervisor has not acted on it yet
    RESTARTING = "restarting"  # waiting for a backoff delay or a retry
    TERMINATED = "terminated"  # the guardian only: the system has ended, and it answers as a tombstone


@dataclass(frozen=True, slots=True)
class ChildInfo:
    id: str
    state: ChildState
    address: Address | None
    type: str
    restart: str
    restarts: int
    last_exit: str | None
    pid: int | None
    name: str | None = None
    last_crash: CrashReport | None = None  # the whole report of the last crash, traceback included


@dataclass(frozen=True, slots=True)
class Children:
    children: tuple[ChildInfo, ...]


@dataclass(frozen=True, slots=True)
class ChildCounts:
    specs: int
    active: int
    supervisors: int
    workers: int


@dataclass(frozen=True, slots=True)
class TreeNode:
    id: str
    path: str
    type: str
    state: ChildState
    restarts: int = 0
    last_exit: str | None = None
    pid: int | None = None
    address: Address | None = field(default=None, compare=False)
    strategy: str | None = None
    children: tuple[TreeNode, ...] = ()
    counters: tuple[tuple[str, int], ...] = ()
    terminated: str | None = None

    def find(self, path: str) -> TreeNode | None:
        """The node at ``path`` (``""`` is this node)."""
        if path == self.path:
            return self
        for child in self.children:
            if path == child.path or path.startswith(child.path + "/"):
                return child.find(path)
        return None

    def walk(self) -> list[TreeNode]:
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes


def to_dict(node: TreeNode) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": node.id,
        "path": node.path,
        "type": node.type,
        "state": str(node.state),  # a plain string in JSON and in the dict
        "restarts": node.restarts,
        "last_exit": node.last_exit,
        "pid": node.pid,
    }
    if node.strategy is not None:
        data["strategy"] = node.strategy
    if node.counters:
        data["counters"] = dict(node.counters)
    if node.terminated is not None:
        data["terminated"] = node.terminated
    if node.type == "supervisor":
        data["children"] = [to_dict(child) for child in node.children]
    return data


def to_json(node: TreeNode) -> str:
    return json.dumps(to_dict(node), indent=2)


def render_text(node: TreeNode) -> str:
    lines: list[str] = []
    _render(node, "", "", lines)
    return "\n".join(lines)


def _render(node: TreeNode, lead: str, child_lead: str, lines: list[str]) -> None:
    label = node.id or "omega"
    parts = [f"{label} [{node.type}{', ' + node.strategy if node.strategy else ''}]", node.state]
    if node.pid:
        parts.append(f"pid {node.pid}")
    if node.restarts:
        parts.append(f"restarts {node.restarts}")
    if node.last_exit:
        parts.append(f"last exit: {node.last_exit}")
    if node.terminated:
        parts.append(f"TERMINATED: {node.terminated}")
    lines.append(lead + "  ".join(parts))
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        _render(child, child_lead + ("└─ " if last else "├─ "), child_lead + ("   " if last else "│  "), lines)
