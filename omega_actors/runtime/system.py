"""The runtime: start a supervision tree, talk to it, stop it.

::

    tree = SupervisorSpec(strategy="one_for_one", children=(Counter.child_spec("counter", name="counter"),))
    with Runtime.start(tree, SystemConfig(base="tcp")) as runtime:  # Counter defined in a module
        runtime.ask("counter", Add(1))            # by registered name
        print(render_text(runtime.tree()))        # the live tree

``Runtime.start`` starts a Thespian actor system (``simple``: every actor in
this process; ``tcp``: one process per actor, bound to 127.0.0.1), the
guardian, the registry, the event bus and then the tree, and returns once
the whole tree has started. ``shutdown`` stops the tree in order and then the
actor system, and leaves no process behind.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    AskTimeout,
    DeliveryError,
    RuntimeStartError,
    SpecError,
    SupervisorError,
)
from . import logs
from ._thespian import BASES, ThespianSystem
from .child_spec import ChildSpec, Start, check_id, check_name
from .cluster import Cluster, accepts
from .cluster_config import ClusterConfig, leader_address
from .event_bus import EventBus
from .exits import ExitReason
from .frame_auth import ensure_secret, load_secret
from .guardian import BUS_ID, CLUSTER_ID, REGISTRY_ID, SYSTEM_IDS, Guardian
from .introspection import ChildCounts, ChildInfo, Children, TreeNode
from .messages import (
    FAILURES,
    Address,
    ChildStarted,
    CountChildren,
    CurrentSpec,
    DeleteChild,
    GetMembers,
    GetSpec,
    GetTree,
    Init,
    KillChild,
    Members,
    Publish,
    ReconfigureChild,
    Reconfigured,
    RestartChild,
    Routed,
    Services,
    StartChild,
    Started,
    StartFailed,
    Stop,
    Stopped,
    TerminateChild,
    WhichChildren,
)
from .processes import Watched, kill_group_of, parent_of, start_time
from .registry import DEFAULT_BUFFER_LIMIT, DEFAULT_BUFFER_SECONDS, Registry
from .supervisor import Supervisor
from .supervisor_spec import Strategy, SupervisorSpec, check_unique_names, walk

GUARDIAN_NAME = "omega.guardian"
ADMIN_EXIT_SECONDS = 5.0
SECRET_FILE = "secret"  # in the data directory, when [cluster] names no secret_file


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """How to run the actor system; the ``[system]`` table of ``config/``."""

    base: str = "simple"
    bind: str = "127.0.0.1"
    admin_port: int | None = None
    allow_remote: bool = False
    data_dir: str = ".omega"
    intensity: int = 0
    period: float = 5.0
    start_timeout: float = 60.0
    ask_timeout: float = 10.0
    stop_timeout: float = 60.0
    registry_buffer: int = DEFAULT_BUFFER_LIMIT
    registry_buffer_seconds: float = DEFAULT_BUFFER_SECONDS
    log_level: str = "INFO"
    cluster: ClusterConfig = ClusterConfig()  # the [cluster] table

    def __post_init__(self) -> None:
        if not isinstance(self.base, str) or self.base not in BASES:
            raise SpecError(f"expected one of {', '.join(map(repr, BASES))}; got {self.base!r}", key="base")
        if not isinstance(self.allow_remote, bool):
            raise SpecError(f"expected true or false; got {self.allow_remote!r}", key="allow_remote")
        if not isinstance(self.cluster, ClusterConfig):
            raise SpecError(f"expected a ClusterConfig; got {self.cluster!r}", key="cluster")
        _check_bind(self.bind, self.allow_remote, self.cluster)
        port = self.admin_port
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
            raise SpecError(f"expected a port from 1 to 65535, or 0 for a free one; got {self.admin_port!r}", key="admin_port")
        for key in ("start_timeout", "ask_timeout", "stop_timeout", "registry_buffer_seconds", "period"):
            _positive(key, getattr(self, key))
        buffer = self.registry_buffer
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise SpecError(f"expected a whole number of messages >= 1; got {buffer!r}", key="registry_buffer")
        if not isinstance(self.data_dir, str) or not self.data_dir:
            raise SpecError(f"expected a directory path; got {self.data_dir!r}", key="data_dir")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SpecError(f"expected 'DEBUG', 'INFO', 'WARNING' or 'ERROR'; got {self.log_level!r}", key="log_level")
        # The guardian's own flags are checked like any supervisor's.
        SupervisorSpec(intensity=self.intensity, period=self.period)


def _check_bind(bind: object, allow_remote: bool, cluster: ClusterConfig) -> None:
    try:
        if not isinstance(bind, str):
            raise ValueError
        address = ipaddress.IPv4Address(bind)
    except ValueError:
        raise SpecError(f"expected an IPv4 address such as '127.0.0.1'; got {bind!r}", key="bind") from None
    if address.is_loopback:
        return
    if not allow_remote:
        raise SpecError(
            f"bind = {bind!r} would expose Thespian's pickle transport beyond this machine; "
            "set allow_remote = true and a [cluster] secret_file, or keep '127.0.0.1'",
            key="bind",
        )
    if cluster.secret_file is None or not cluster.signing:
        raise SpecError(
            f"bind = {bind!r} needs [cluster] secret_file, shared by the nodes, and signing on: without it, "
            "anyone who reaches the port could send pickles (code execution); see docs/cluster.md",
            key="bind",
        )


def _positive(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise SpecError(f"expected a positive, finite number of seconds; got {value!r}", key=key)


def system_children(tree: SupervisorSpec, root_id: str, config: SystemConfig) -> tuple[ChildSpec, ...]:
    check_id(root_id, "root id")
    if root_id in SYSTEM_IDS:
        raise SpecError(f"{root_id!r} is taken by a system actor; choose another root id", key="id")
    return (
        Registry.child_spec(REGISTRY_ID, config.registry_buffer, config.registry_buffer_seconds),
        EventBus.child_spec(BUS_ID),
        Cluster.child_spec(CLUSTER_ID, config.cluster, config.data_dir),
        Supervisor.child_spec(root_id, tree),
    )


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and that the kernel will not hand out on its own.

    ``bind(0)`` returns a port from the ephemeral range, which every outgoing
    connection also draws from: between the probe and the admin's bind, a
    connection could take it, and Thespian then spends ~11 s failing. Ports
    below that range are given out only to those who ask for them by number.
    """
    low = _ephemeral_low()
    for _ in range(64):
        port = secrets.randbelow(low - 10_000) + 10_000
        if not port_taken(host, port):
            return port
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default, and close to other systems'
    return max(low, 12_000)


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As Thespian binds: connections left in TIME_WAIT by a killed system must not
        # keep its admin port from being used again by the next start.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


class Runtime:
    def __init__(
        self, system: ThespianSystem, guardian: Address, config: SystemConfig, root_id: str, owner: bool = True
    ) -> None:
        self._system = system
        self.guardian = guardian
        self.config = config
        self.root_id = root_id
        self.owner = owner
        self._services: dict[str, Address] = {}  # registry and bus, as last seen
        self._admin: Watched | None = None
        self._closed = False

    @classmethod
    def start(cls, tree: SupervisorSpec, config: SystemConfig | None = None, root_id: str = "app") -> Runtime:
        config = config or SystemConfig()
        children = system_children(tree, root_id, config)
        check_unique_names(tree, root_id)
        if config.base != "simple":
            _check_importable(tree, root_id)
        system = _start_system(config)
        admin: Watched | None = None
        try:
            guardian = system.create(GUARDIAN_NAME)
            spec = SupervisorSpec(strategy=Strategy.REST_FOR_ONE, intensity=config.intensity, period=config.period, children=children)
            services = Services(heartbeat=(config.cluster.heartbeat_interval, config.cluster.heartbeat_misses))
            init = Init("", Start.of(Guardian, spec, os.getpid()), None, services, system.isolated, None)
            reply = system.ask(guardian, init, config.start_timeout)
            admin = _admin_of(reply) if system.isolated else None
            if not isinstance(reply, Started):
                raise RuntimeStartError(f"the supervision tree did not start: {_describe(reply)}")
        except BaseException:
            system.close()
            _make_sure_ended(admin)  # the guardian that would stop it has ended with the failed tree
            raise
        runtime = cls(system, guardian, config, root_id)
        runtime._admin = admin
        return runtime

    @classmethod
    def connect(cls, admin_port: int, config: SystemConfig, root_id: str = "app") -> Runtime:
        """Attach to a running tcp system started by another process (for status and stop).

        ``close()`` detaches and leaves it running; ``shutdown()`` stops it.
        """
        if not port_taken(config.bind, admin_port):
            raise RuntimeStartError(f"no actor system listens on {config.bind}:{admin_port}")
        system = ThespianSystem.connect(admin_port, config.bind, cluster_secret(config), config.cluster.trusted_modules)
        try:
            guardian = system.create(GUARDIAN_NAME)  # a global name: the running guardian's address
        except BaseException:
            system.close()
            raise
        return cls(system, guardian, config, root_id, owner=False)

    @property
    def base(self) -> str:
        return self._system.base

    @property
    def admin_port(self) -> int | None:
        return self._system.admin_port

    # Messages.

    def ask(self, target: str | Address, message: Any, timeout: float | None = None) -> Any:
        """Send ``message`` to an address or a registered name and return the reply.

        Raises ``AskTimeout`` when no reply comes and ``DeliveryError`` when the
        reply is a failure (``Rejected``, ``ActorFailed``, ``Undeliverable``, ``Refused``).
        """
        address, message = self._resolve(target, message)
        reply = self._system.ask(address, message, timeout or self.config.ask_timeout)
        if reply is None:
            self._services.clear()  # a restarted registry has a new address
            raise AskTimeout(f"no reply from {target!r} to {type(message).__name__} within {timeout or self.config.ask_timeout} s")
        if isinstance(reply, FAILURES):
            raise DeliveryError(_describe(reply))
        return reply

    def tell(self, target: str | Address, message: Any) -> None:
        address, message = self._resolve(target, message)
        self._system.tell(address, message)

    def publish(self, subject: str, payload: Any) -> None:
        self._system.tell(self._system_child(BUS_ID), Publish(subject, payload))

    def _resolve(self, target: str | Address, message: Any) -> tuple[Address, Any]:
        if isinstance(target, str):
            check_name(target, "target")
            return self._system_child(REGISTRY_ID), Routed(target, message, None)
        return target, message

    def _system_child(self, id: str) -> Address:
        # A stale registry address is safe: named messages sent to it come back to the new
        # registry as dead letters. Events published while the bus restarts are lost
        # (the bus is at-most-once, like core NATS).
        if id not in self._services:
            for info in self.which_children(""):
                if info.id in SYSTEM_IDS and info.address is not None:
                    self._services[info.id] = info.address
        if id not in self._services:
            raise DeliveryError(f"the system's {id} is not running")
        return self._services[id]

    # Introspection.

    def tree(self) -> TreeNode:
        """The live tree from the guardian down (``path == ""`` is the guardian)."""
        node = self._system.ask(self.guardian, GetTree(), self.config.ask_timeout)
        if not isinstance(node, TreeNode):
            raise AskTimeout(f"the guardian did not answer GetTree: {_describe(node)}")
        return node

    def members(self) -> Members:
        """The cluster as this node's cluster actor sees it (the leader sees every member)."""
        reply = self._system.ask(self._system_child(CLUSTER_ID), GetMembers(), self.config.ask_timeout)
        if not isinstance(reply, Members):
            self._services.pop(CLUSTER_ID, None)
            raise AskTimeout(f"the cluster actor did not answer GetMembers: {_describe(reply)}")
        return reply

    def terminated(self) -> str | None:
        """Why the system ended, or None while it runs."""
        return self.tree().terminated

    def address_of(self, path: str) -> Address:
        node = self.tree().find(path)
        if node is None or node.address is None:
            raise SupervisorError(f"no running actor at path {path!r}")
        return node.address

    def which_children(self, path: str | None = None) -> tuple[ChildInfo, ...]:
        reply = self._call(path, WhichChildren())
        assert isinstance(reply, Children)
        return reply.children

    def count_children(self, path: str | None = None) -> ChildCounts:
        reply = self._call(path, CountChildren())
        assert isinstance(reply, ChildCounts)
        return reply

    def start_child(self, path: str, spec: ChildSpec) -> Address:
        reply = self._call(path, StartChild(spec))
        assert isinstance(reply, ChildStarted)
        return reply.address

    def terminate_child(self, path: str, id: str) -> None:
        self._call(path, TerminateChild(id))

    def kill_child(self, path: str, id: str, reason: str = "killed") -> None:
        """End a running child at once (SIGKILL on the tcp base); its restart policy applies."""
        self._call(path, KillChild(id, reason))

    def restart_child(self, path: str, id: str) -> Address:
        reply = self._call(path, RestartChild(id))
        assert isinstance(reply, ChildStarted)
        return reply.address

    def delete_child(self, path: str, id: str) -> None:
        self._call(path, DeleteChild(id))

    def reconfigure(self, tree: SupervisorSpec, timeout: float | None = None) -> Reconfigured:
        """Bring the running application tree to ``tree`` in place (see :mod:`.supervisor_upgrade`).

        Returns the outcome; when ``ok`` is false the tree may be half-changed,
        and reconfiguring it to the previous spec repairs it.
        """
        check_unique_names(tree, self.root_id)
        if self.base != "simple":
            _check_importable(tree, self.root_id)
        wait = timeout or self.config.start_timeout + self.config.stop_timeout
        reply = self._system.ask(self.guardian, ReconfigureChild(self.root_id, tree), wait)
        if not isinstance(reply, Reconfigured):
            raise AskTimeout(f"the guardian did not answer ReconfigureChild within {wait} s: {_describe(reply)}")
        return reply

    def current_spec(self) -> SupervisorSpec:
        """The application tree's spec as the running supervisors hold it."""
        reply = self._system.ask(self.guardian, GetSpec(self.root_id), self.config.ask_timeout)
        if not isinstance(reply, CurrentSpec) or not isinstance(reply.spec, SupervisorSpec):
            raise SupervisorError(f"the guardian did not give the application's spec: {_describe(reply)}")
        return reply.spec

    def _call(self, path: str | None, request: Any) -> Any:
        """A supervisor request by path (None: the application root, "": the guardian)."""
        path = self.root_id if path is None else path
        address = self.guardian if path == "" else self.address_of(path)
        reply = self._system.ask(address, request, self.config.ask_timeout)
        if reply is None:
            raise AskTimeout(f"supervisor {path!r} did not answer {type(request).__name__}")
        if isinstance(reply, FAILURES):
            raise SupervisorError(f"supervisor {path!r}: {_describe(reply)}")
        return reply

    # Time and shutdown.

    def pump(self, seconds: float) -> None:
        """Let ``seconds`` pass. On the simple base, timers only fire while this (or an ask) runs."""
        self._system.pump(seconds)

    def shutdown(self) -> ExitReason | None:
        """Stop the tree in reverse start order, then the actor system."""
        if self._closed:
            return None
        self._closed = True
        try:
            reply = self._system.ask(self.guardian, Stop(), self.config.stop_timeout)
            return reply.reason if isinstance(reply, Stopped) else None
        finally:
            self._system.close()
            _make_sure_ended(self._admin)


    def close(self) -> None:
        """Detach; the system keeps running unless this runtime owns it."""
        if not self.owner and not self._closed:
            self._closed = True
            self._system.close()
        else:
            self.shutdown()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _admin_of(reply: Any) -> Watched | None:
    """The admin process, from the guardian's first answer: it forked the guardian."""
    if isinstance(reply, Started):
        admin = parent_of(reply.pid)
    else:  # a failed start says it at once; with no answer at all, the admin is not known
        admin = reply.parent_pid if isinstance(reply, StartFailed) else 0
    return Watched(None, admin, start_time(admin)) if admin else None


def _make_sure_ended(admin: Watched | None) -> None:
    """Thespian's admin can miss that its actors ended and wait forever: never leave it behind."""
    if admin is None:
        return
    deadline = time.monotonic() + ADMIN_EXIT_SECONDS
    while admin.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if admin.alive():
        logs.emit(logging.WARNING, "admin_killed", "", pid=admin.pid, reason="it did not exit after shutdown")
        kill_group_of(admin.pid)


def _start_system(config: SystemConfig) -> ThespianSystem:
    if config.base == "simple":
        return ThespianSystem("simple", admin_port=None, bind=config.bind, log_defs=None)
    logs_dir = Path(config.data_dir) / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("THESPLOG_FILE", str(logs_dir / "thespian.log"))
    log_defs = logs.logging_config(str(logs_dir / "omega.jsonl"), config.log_level)
    if config.admin_port:
        return _start_tcp(config, config.admin_port, log_defs)
    port = free_port(config.bind)
    try:
        return _start_tcp(config, port, log_defs)
    except RuntimeStartError:
        if accepts(config.bind, port, timeout=2.0):
            raise  # an admin may have started there: never leave it behind by moving on
        # Someone took the port we chose before the admin bound it; nothing of ours runs there.
        return _start_tcp(config, free_port(config.bind), log_defs)


def _start_tcp(config: SystemConfig, port: int, log_defs: dict[str, Any]) -> ThespianSystem:
    bind, cluster = config.bind, config.cluster
    os.environ["OMEGA_NODE"] = cluster.node  # inherited by every actor: where it runs, for logs and replies
    if port_taken(bind, port):
        # Thespian would join whatever listens there, or fail after ~15 s.
        raise RuntimeStartError(
            f"admin port {port} on {bind} is taken; another omega system may be running "
            "(`python run.py stop` stops one started from this directory)"
        )
    return ThespianSystem(
        "tcp", admin_port=port, bind=bind, log_defs=log_defs, advertised=cluster.advertised(),
        leader=None if cluster.leader is None else leader_address(cluster.leader), secret=_secret_at_start(config),
        trusted_modules=cluster.trusted_modules,
    )  # fmt: skip


def _secret_at_start(config: SystemConfig) -> bytes | None:
    secret = cluster_secret(config, create=True)
    if secret is None:
        logs.emit(logging.WARNING, "frames_unsigned", "", bind=config.bind,
                  reason="[cluster] signing = false: any process that reaches this machine's loopback can run code here")  # fmt: skip
    return secret


def cluster_secret(config: SystemConfig, *, create: bool = False) -> bytes | None:
    """The key every frame of this system is signed with; None only when ``[cluster] signing = false``.

    ``[cluster] secret_file`` when set (the nodes of a cluster share it), else
    ``<data_dir>/secret``, which the first start makes (``create``) and the
    commands that attach later read.
    """
    cluster = config.cluster
    if not cluster.signing:
        return None
    if cluster.secret_file is not None:
        return load_secret(cluster.secret_file)
    path = str(Path(config.data_dir) / SECRET_FILE)
    return ensure_secret(path) if create else load_secret(path)


def _check_importable(tree: SupervisorSpec, root_id: str) -> None:
    """Classes defined in __main__ cannot be created in another process."""
    for path, spec in walk(tree, root_id):
        if spec.start.target.startswith("__main__:"):
            raise SpecError(
                f"{spec.start.target} is defined in __main__; move it to a module to run it on the tcp base",
                key=f"{path}.start",
            )


def _describe(reply: Any) -> str:
    if reply is None:
        return "no reply"
    if isinstance(reply, StartFailed):
        return reply.reason.summary()
    if isinstance(reply, FAILURES):
        parts = [f"{name}={getattr(reply, name)}" for name in reply.__dataclass_fields__]
        return f"{type(reply).__name__}({', '.join(parts)})"
    return repr(reply)
