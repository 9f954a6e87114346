"""The cluster actor: who the members are, whether they are alive, where children go.

Every node runs one, as a system child of the guardian after the event bus.
Nodes form a Thespian convention: a member's admin registers with the
leader's (``Convention Address.IPv4``), and Thespian forwards a create whose
requirements the local system cannot meet to a member that meets them. The
runtime uses that machinery and closes its gaps (shared/THESPIAN.md):

- **Placement** is decided here, not by Thespian (which takes the first
  compatible member): among the members that are up and satisfy a child's
  ``requires``, the one with the fewest children placed on it, ties broken
  by name. The supervisor then creates the child with the requirement
  ``omega.node = <that member>``, which only that member meets. A request
  that no member satisfies waits up to ``placement_wait`` seconds for one to
  join, so a leader can start before its members.
- **Liveness** is our own: every ``heartbeat_interval`` the leader pings each
  member's admin (Thespian answers ``QueryExists`` itself, so a member needs
  no actor for it); ``heartbeat_misses`` unanswered pings in a row and the
  member is down. Thespian's own detection takes about 22 minutes. One ping
  is out at a time: to a member that has stopped reading it stays in flight
  and is answered when the member reads again (a partition that heals), and
  then the member is up again. Joins and losses are published as
  ``cluster.node.up`` and ``cluster.node.down``.
- **A restarted leader** finds its members again: it keeps their admin
  addresses in ``<data_dir>/cluster/members.json`` and pre-registers them, so
  Thespian invites each to register again at once rather than at its next
  re-registration, minutes later.

Only the leader learns of the other members (Thespian tells members about the
leader only), so children with requirements are placed by the leader's tree;
on a member, such a child can go to that member only.

Supervisors detect the loss of their remote children with their own
heartbeats (see :mod:`.supervisor`); a node going down here does not restart
anything by itself.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError
from . import logs
from ._context import SystemActor
from .actor import handler
from .cluster_config import (
    JOIN_CAPABILITY,
    NODE_CAPABILITY,
    ClusterConfig,
    leader_address,
    satisfies,
)
from .messages import (
    AdminAnswered,
    GetMembers,
    MemberChanged,
    MemberInfo,
    Members,
    Place,
    Placement,
    Release,
    address_key,
)

JOIN_CHECK_SECONDS = 0.5
PING_AGAIN_AFTER = 50  # intervals without an answer before another ping goes out (a lost one)


@dataclass(frozen=True, slots=True)
class _Beat:
    pass


@dataclass(frozen=True, slots=True)
class _JoinCheck:
    pass


@dataclass(frozen=True, slots=True)
class _PlacementExpired:
    key: str
    token: int


class _Member:
    __slots__ = ("admin", "where", "capabilities", "up", "missed", "awaiting")

    def __init__(self, admin: Any, where: str, capabilities: dict[str, Any]) -> None:
        self.admin = admin
        self.where = where
        self.capabilities = capabilities
        self.up = True
        self.missed = 0
        self.awaiting = False


class Placements:
    """Which node each placed child is on, and the choice of the next: pure, so it is model-checked.

    A node's load is the number of children placed on it that have not been
    released. ``choose`` takes the nodes that are up with their capabilities.
    """

    def __init__(self) -> None:
        self.placed: dict[str, str] = {}  # child path -> node

    def choose(self, key: str, requires: dict[str, Any], avoid: tuple[str, ...], live: dict[str, dict[str, Any]]) -> str | None:
        candidates = [node for node, capabilities in live.items() if satisfies(capabilities, requires)]
        preferred = [node for node in candidates if node not in avoid] or candidates
        if not preferred:
            return None
        self.placed.pop(key, None)  # a restart replaces the child's old placement
        loads = self.loads()
        node = min(preferred, key=lambda name: (loads.get(name, 0), name))
        self.placed[key] = node
        return node

    def release(self, key: str, node: str) -> None:
        if self.placed.get(key) == node:
            del self.placed[key]

    def forget(self, node: str) -> None:
        """The node is down: what ran there will be placed again."""
        self.placed = {key: where for key, where in self.placed.items() if where != node}

    def loads(self) -> dict[str, int]:
        loads: dict[str, int] = {}
        for node in self.placed.values():
            loads[node] = loads.get(node, 0) + 1
        return loads


class Cluster(SystemActor):
    def __init__(self, config: ClusterConfig, data_dir: str) -> None:
        self.config = config
        self.node = config.node
        self.leader = config.leader is None
        self.members: dict[str, _Member] = {}
        self.placements = Placements()
        self.beating = False  # a _Beat is scheduled
        self.waiting: dict[str, tuple[Place, Any]] = {}  # child path -> (request, supervisor)
        self.file = Path(data_dir) / "cluster" / "members.json"
        # Thespian registered once, while this node started: maybe before the leader was up.
        self.leader_reachable = False

    def started(self) -> None:
        if not self.leader:
            self.send_after(JOIN_CHECK_SECONDS, _JoinCheck())
            return
        self.ctx.watch_members()
        for entry in self._remembered().values():
            try:
                host, port = leader_address(entry["where"])
            except SpecError:
                continue  # a damaged entry: that member will register again on its own
            self.ctx.pre_register(host, port, entry["capabilities"])

    # Membership, from Thespian's convention updates.

    @handler
    def _member_changed(self, message: MemberChanged) -> None:
        if self.sender != self.address or not isinstance(message.capabilities, dict):
            return
        node = message.capabilities.get(NODE_CAPABILITY)
        if not isinstance(node, str) or node == self.node:
            return  # not an omega node, or ourselves
        known = self.members.get(node)
        if message.added:
            if known is None or address_key(known.admin) != address_key(message.admin) or not known.up:
                self.members[node] = _Member(message.admin, message.where, _ours(message.capabilities))
                self._up(node, "joined")
            self._remember()
            self._beat_soon()
        elif known is not None and address_key(known.admin) == address_key(message.admin):
            del self.members[node]  # left the convention on purpose (a clean stop)
            self.placements.forget(node)
            self._remember()
            self._publish_down(node, "left")

    # A member joins again whenever its leader comes (back) up.

    @handler
    def _join_check(self, message: _JoinCheck) -> None:
        """Thespian registers a member once at start and then every 7 minutes: if the leader
        was not up yet, or restarts, the member would wait that long. So a member watches
        whether the leader's admin port accepts connections, and registers again each time
        it starts to."""
        if self.sender != self.address or self.config.leader is None:
            return
        host, port = leader_address(self.config.leader)
        reachable = accepts(host, port)
        if reachable and not self.leader_reachable:
            logs.emit(logging.INFO, "joining", self.path, leader=self.config.leader)
            self.ctx.rejoin()
        self.leader_reachable = reachable
        self.send_after(JOIN_CHECK_SECONDS, _JoinCheck())

    # Liveness: our own pings to each member's admin.

    @handler
    def _beat(self, message: _Beat) -> None:
        if self.sender != self.address:
            return
        for node, member in list(self.members.items()):
            if member.awaiting:
                member.missed += 1
                if member.up and member.missed >= self.config.heartbeat_misses:
                    member.up = False
                    self.placements.forget(node)
                    self._publish_down(node, f"no answer to pings for {member.missed} intervals")
                # A ping to a member that has stopped reading stays in flight until it reads
                # again (then it is answered); pinging again meanwhile would only pile up sends.
                if member.missed % PING_AGAIN_AFTER:
                    continue
            member.awaiting = True
            self.ctx.ping_admin(member.admin)
        self.beating = False
        self._beat_soon()

    def _beat_soon(self) -> None:
        # Only while there are members: a lone node (and the simple base) keeps no timer.
        if self.members and not self.beating:
            self.beating = True
            self.send_after(self.config.heartbeat_interval, _Beat())

    @handler
    def _admin_answered(self, message: AdminAnswered) -> None:
        if self.sender != self.address:
            return
        for node, member in self.members.items():
            if address_key(member.admin) == address_key(message.admin):
                member.missed, member.awaiting = 0, False
                if not member.up:
                    member.up = True
                    self._up(node, "answers again")

    def _up(self, node: str, why: str) -> None:
        member = self.members[node]
        logs.emit(logging.INFO, "node_up", self.path, node=node, why=why)
        self.publish(f"cluster.node.up.{node}", {"node": node, "admin": member.where, "capabilities": member.capabilities, "why": why})
        for key, (request, supervisor) in list(self.waiting.items()):
            placement = self._choose(request)
            if placement.node is not None:
                del self.waiting[key]
                self.send(supervisor, placement)

    def _publish_down(self, node: str, why: str) -> None:
        logs.emit(logging.WARNING, "node_down", self.path, node=node, why=why)
        self.publish(f"cluster.node.down.{node}", {"node": node, "why": why})

    # Placement.

    @handler
    def _place(self, message: Place) -> Placement | None:
        avoid = message.avoid
        if not isinstance(message.requires, dict) or not isinstance(message.key, str) or not (
            isinstance(avoid, tuple) and all(isinstance(node, str) for node in avoid)
        ):
            self.ctx.count("rejected")
            return None
        placement = self._choose(message)
        if placement.node is not None:
            return placement
        self.waiting[message.key] = (message, self.sender)
        self.send_after(self.config.placement_wait, _PlacementExpired(message.key, message.token))
        return None

    @handler
    def _placement_expired(self, message: _PlacementExpired) -> None:
        entry = self.waiting.get(message.key)
        if self.sender != self.address or entry is None or entry[0].token != message.token:
            return
        del self.waiting[message.key]
        request, supervisor = entry
        wanted = ", ".join(f"{k} = {v!r}" for k, v in request.requires.items())
        reason = f"no member that is up has {wanted} (waited {self.config.placement_wait} s)"
        self.send(supervisor, Placement(request.key, request.token, None, reason=reason))

    @handler
    def _release(self, message: Release) -> None:
        if message.node == "":  # the supervisor no longer waits for a placement
            self.waiting.pop(message.key, None)
        else:
            self.placements.release(message.key, message.node)

    def _choose(self, request: Place) -> Placement:
        node = self.placements.choose(request.key, request.requires, request.avoid, self._live_capabilities())
        return Placement(request.key, request.token, node, local=node == self.node)

    def _live_capabilities(self) -> dict[str, dict[str, Any]]:
        live = {self.node: self.config.advertised()}
        live.update({node: m.capabilities for node, m in self.members.items() if m.up})
        return live

    # Introspection.

    @handler
    def _members_requested(self, message: GetMembers) -> Members:
        loads = self.placements.loads()
        this = MemberInfo(self.node, "", self.config.advertised(), True, loads.get(self.node, 0), this=True)
        others = tuple(
            MemberInfo(node, m.where, dict(m.capabilities), m.up, loads.get(node, 0)) for node, m in sorted(self.members.items())
        )
        return Members(self.leader, (this, *others))

    # Remembering members across a restart of the leader.

    def _remember(self) -> None:
        entries = {node: {"where": m.where, "capabilities": m.capabilities} for node, m in self.members.items()}
        temporary = self.file.with_suffix(f".{time.monotonic_ns()}.tmp")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(entries, sort_keys=True, default=str))
            temporary.replace(self.file)
        except OSError as exc:  # a full or read-only disk costs the memory of members, not the node
            logs.emit(logging.WARNING, "members_not_saved", self.path, error=str(exc))
            temporary.unlink(missing_ok=True)

    def _remembered(self) -> dict[str, dict[str, Any]]:
        try:
            entries = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(entries, dict):
            return {}
        return {
            node: entry for node, entry in entries.items()
            if isinstance(entry, dict) and isinstance(entry.get("where"), str) and isinstance(entry.get("capabilities"), dict)
        }  # fmt: skip


def _ours(capabilities: dict[str, Any]) -> dict[str, Any]:
    """What the node advertised, without Thespian's own entries ("Admin Port", "Python Version", ...)."""
    return {
        name: value for name, value in capabilities.items()
        if isinstance(name, str) and " " not in name and name != JOIN_CAPABILITY
    }  # fmt: skip


def accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something listens there; bounded, so a cut-off peer cannot stall the caller long."""
    try:
        with socket.socket() as probe:
            probe.settimeout(timeout)
            return probe.connect_ex((host, port)) == 0
    except OSError:  # a name that does not resolve (now): not reachable, try again later
        return False
