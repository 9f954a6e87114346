"""Several nodes, as a host sees them: placement, heartbeats, leases and the convention.

- **Placement.** Thespian asks each system whether it may create a Host
  there (``actorSystemCapabilityCheck``); a Host goes where its requirements
  are met, and the supervisor's requirement ``omega.node = <name>`` (see
  :mod:`..cluster`) is met by that node only.
- **Heartbeats.** A host placed on another node answers its supervisor's
  ``Heartbeat`` itself, before its actor sees anything: a busy actor must not
  look dead. It ends, without a word, once unheard for its lease; this is
  what keeps a node that returns from a partition from running a second
  instance of a child that was restarted elsewhere meanwhile.
- **The convention.** Only the cluster actor uses this part: Thespian's
  member updates and its admins' answers reach it as omega messages
  (``MemberChanged``, ``AdminAnswered``).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from thespian.actors import Actor as ThespianActor
from thespian.actors import ActorSystemConventionUpdate
from thespian.system.messages.admin import QueryExists

from .. import logs
from ..cluster_config import JOIN_CAPABILITY, satisfies, start_allowance
from ..exits import ExitReason, Shutdown
from ..messages import Address, Heartbeat, HeartbeatAck, MemberChanged


class LeaseCheck:
    """Has the supervisor on another node been heard from lately?"""


class RemoteLink(ThespianActor):  # type: ignore[misc]
    """The host's side of a cluster (a base of ``Host``)."""

    parent: Address | None
    path: str
    _token: int

    if TYPE_CHECKING:  # provided by Host

        @property
        def _ended(self) -> bool: ...
        def count(self, counter: str) -> None: ...
        def _end_unheard(self, reason: ExitReason) -> None: ...
        def _deliver(self, message: Any, sender: Any) -> None: ...

    def __init__(self) -> None:
        super().__init__()
        self._lease: float | None = None  # a child on another node: how long it lives unheard
        self._heard = 0.0  # monotonic time of the supervisor's last heartbeat
        self._unheard_limit = 0.0  # the lease, or before the first heartbeat the start allowance
        self._joins = 0  # re-registrations asked of Thespian (cluster actor only)

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict[str, Any], requirements: dict[str, Any] | None) -> bool:
        """Thespian asks this of each system before creating a Host there: placement by requirements."""
        return satisfies(capabilities, requirements or {})

    # Heartbeats from a supervisor on another node, answered by the runtime itself.

    def _start_lease(self, lease: float) -> None:
        self._lease, self._heard = lease, time.monotonic()
        self._unheard_limit = start_allowance(lease)  # heartbeats begin once we have started
        self.wakeupAfter(timedelta(seconds=lease / 4), LeaseCheck())

    def _heartbeat(self, beat: Heartbeat, sender: Any) -> None:
        if self._ended or sender != self.parent or beat.token != self._token:
            self.count("stale_heartbeats")
            return
        self._heard = time.monotonic()
        self._unheard_limit = self._lease or 0.0
        self.send(sender, HeartbeatAck(beat.token))

    def _check_lease(self) -> None:
        """Unheard for a whole lease: the supervisor is about to replace us. End, without a word."""
        assert self._lease is not None
        unheard = time.monotonic() - self._heard
        if unheard < self._unheard_limit:
            self.wakeupAfter(timedelta(seconds=self._lease / 4), LeaseCheck())
            return
        logs.emit(logging.WARNING, "lease_expired", self.path, unheard_s=round(unheard, 3))
        self._end_unheard(Shutdown("lease_expired"))

    # The cluster actor's view of other nodes.

    def watch_members(self) -> None:
        self.notifyOnSystemRegistrationChanges(True)

    def ping_admin(self, admin: Address) -> None:
        self.send(admin, QueryExists())

    def pre_register(self, host: str, port: int, capabilities: dict[str, Any]) -> None:
        self.preRegisterRemoteSystem(f"{host}:{port}", dict(capabilities))

    def _convention_update(self, message: ActorSystemConventionUpdate, sender: Any) -> None:
        """A member registered or left: the cluster actor hears it as ``MemberChanged``."""
        admin = message.remoteAdminAddress
        capabilities = message.remoteCapabilities if isinstance(message.remoteCapabilities, dict) else {}
        self._deliver(MemberChanged(admin, where(admin), dict(capabilities), bool(message.remoteAdded)), self.myAddress)

    def rejoin(self) -> None:
        """Register with the convention leader again now: a changed capability makes Thespian do it."""
        self._joins += 1
        self.updateCapability(JOIN_CAPABILITY, f"{os.getpid()}.{self._joins}")


def where(address: Any) -> str:
    """``host:port`` of a TCP actor address, for finding an admin again after a restart."""
    try:
        host, port = address.addressDetails.connectArgs[0][:2]
    except (AttributeError, IndexError, TypeError, ValueError):
        return str(address)
    return f"{host}:{port}"
