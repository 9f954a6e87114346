"""How a node joins others: the ``[cluster]`` table of ``config/``.

::

    [cluster]
    node = "edge-1"                    # this node's name, unique in the cluster
    leader = "10.0.0.5:1900"           # the leader's admin address; omit on the leader
    capabilities = { role = "constellation", gpu = true }
    secret_file = "/etc/omega/cluster.key"   # the key every frame is signed with; share it across nodes
    signing = true                     # false: frames go unsigned (loopback only, with a warning at start)
    trusted_modules = ["myapp"]        # installed packages whose message types frames may carry (see frame_types)
    heartbeat_interval = 0.25          # seconds between heartbeats to remote children and members
    heartbeat_misses = 4               # missed in a row = that child crashed / that node is down
    placement_wait = 30.0              # seconds a child waits for a member that satisfies it

``python run.py start --node NAME --leader HOST:PORT --capability KEY=VALUE``
overrides these keys. A node without a ``[cluster]`` table is a cluster of
one named ``local``.

Every frame of a tcp system is signed and checked before it is unpickled,
loopback included (any local process can reach a loopback port). Without a
``secret_file`` the key is ``<data_dir>/secret``, made (mode 0600) at the
first start and read again by the commands that attach to the system. The
nodes of a cluster share one ``secret_file``. ``signing = false`` is for a
benchmark or a single-user machine, never a default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from .frame_types import travels

NODE_CAPABILITY = "omega.node"  # every system advertises its node name under this key
JOIN_CAPABILITY = "omega.join"  # changed by a member to make Thespian register it again
HEARTBEAT = (0.25, 4)  # the default interval (seconds) and misses
DEFAULT_NODE = "local"
_NODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")  # a subject token: no dots
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
Capability = str | int | float | bool


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    node: str = DEFAULT_NODE
    leader: str | None = None
    capabilities: Mapping[str, Capability] = field(default_factory=dict)
    secret_file: str | None = None
    signing: bool = True
    trusted_modules: tuple[str, ...] = ()
    heartbeat_interval: float = HEARTBEAT[0]
    heartbeat_misses: int = HEARTBEAT[1]
    placement_wait: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.node, str) or not _NODE.fullmatch(self.node):
            raise SpecError(f"expected 1-64 letters, digits, '_' or '-'; got {self.node!r}", key="node")
        if self.leader is not None:
            leader_address(self.leader)
        object.__setattr__(self, "capabilities", check_requirements(self.capabilities, "capabilities"))
        if self.secret_file is not None and (not isinstance(self.secret_file, str) or not self.secret_file):
            raise SpecError(f"expected the path of a secret file; got {self.secret_file!r}", key="secret_file")
        if not isinstance(self.signing, bool):
            raise SpecError(f"expected true or false; got {self.signing!r}", key="signing")
        object.__setattr__(self, "trusted_modules", _module_names(self.trusted_modules))
        for key in ("heartbeat_interval", "placement_wait"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise SpecError(f"expected a positive, finite number of seconds; got {value!r}", key=key)
        misses = self.heartbeat_misses
        if isinstance(misses, bool) or not isinstance(misses, int) or not 2 <= misses <= 100:
            # A child's lease is one interval shorter than the timeout (see child_lease): at least one.
            raise SpecError(f"expected a whole number from 2 to 100; got {misses!r}", key="heartbeat_misses")

    @property
    def heartbeat_timeout(self) -> float:
        """How long a remote child or a member may stay silent before it counts as gone."""
        return self.heartbeat_interval * self.heartbeat_misses

    def advertised(self) -> dict[str, Capability]:
        """The capabilities this node's actor system advertises to the others."""
        return {**self.capabilities, NODE_CAPABILITY: self.node}


REMOTE_START_SECONDS = 10.0  # at least this long for a child on another node to report Started


def child_lease(interval: float, misses: int) -> float:
    """How long a child on another node lives without a heartbeat.

    One interval less than its supervisor waits before replacing it: the old
    instance has ended (give or take a one-way delay) before a new one starts.
    """
    return interval * (misses - 1)


def start_allowance(lease: float) -> float:
    """How long a remote child may go unheard before its first heartbeat, and its supervisor
    may wait for its Started: starting (a restore, a subtree) can take longer than a lease."""
    return max(REMOTE_START_SECONDS, 4 * lease)


def leader_address(value: object) -> tuple[str, int]:
    """``"HOST:PORT"`` as a pair, or a SpecError saying what is accepted."""
    if isinstance(value, str) and value.count(":") == 1:
        host, _, port = value.partition(":")
        if host and re.fullmatch(r"[0-9]{1,5}", port) and 0 < int(port) < 65536:
            return host, int(port)
    raise SpecError(f"expected 'HOST:PORT' of the leader's admin, such as '127.0.0.1:1900'; got {value!r}", key="leader")


@travels
class Table(dict):  # type: ignore[type-arg]
    """A checked table of capabilities: hashable, so that specs and configs holding one stay values."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda item: item[0])))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Table, (dict(self),))


def _module_names(value: object) -> tuple[str, ...]:
    """Top-level package names: frames may rebuild their message types (see :mod:`.frame_types`)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
        isinstance(name, str) and name.isidentifier() for name in value
    ):
        raise SpecError(f"expected a list of top-level package names, e.g. ['myapp']; got {value!r}", key="trusted_modules")
    return tuple(value)


def check_requirements(value: object, key: str) -> Table:
    """Capabilities and requirements are flat tables of names to strings, numbers or booleans."""
    if not isinstance(value, Mapping):
        raise SpecError(f"expected a table such as {{ role = \"constellation\", gpu = true }}; got {value!r}", key=key)
    checked = Table()
    for name, item in value.items():
        if not isinstance(name, str) or not _KEY.fullmatch(name) or name == NODE_CAPABILITY:
            raise SpecError(f"expected a name of letters, digits, '_', '.' or '-' (not {NODE_CAPABILITY!r}); got {name!r}", key=key)
        if not isinstance(item, (str, int, float, bool)) or (isinstance(item, float) and not math.isfinite(item)):
            raise SpecError(f"expected a string, finite number or boolean for {name!r}; got {item!r}", key=f"{key}.{name}")
        checked[name] = item
    return checked


def satisfies(capabilities: Mapping[str, Any], requirements: Mapping[str, Any]) -> bool:
    """Every required key is advertised with an equal value (``gpu = true`` needs ``gpu = true``)."""
    return all(name in capabilities and _same(capabilities[name], wanted) for name, wanted in requirements.items())


def _same(have: Any, want: Any) -> bool:
    # True == 1 in Python; a requirement of gpu = true must not be met by gpu = 1.
    return type(have) is type(want) and have == want


def parse_capability(text: str) -> tuple[str, Capability]:
    """``KEY=VALUE`` from the command line: true/false and numbers are typed, the rest are strings."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise SpecError(f"expected KEY=VALUE, such as role=constellation or gpu=true; got {text!r}", key="capability")
    value: Capability
    if raw in ("true", "false"):
        value = raw == "true"
    elif re.fullmatch(r"-?\d+", raw):
        value = int(raw)
    elif re.fullmatch(r"-?\d+\.\d*", raw):
        value = float(raw)
    else:
        value = raw
    return next(iter(check_requirements({name: value}, "capability").items()))
