"""Supervision trees and settings declared in ``config/*.toml``.

Every ``*.toml`` file of the directory is read, in name order. A file holds
top-level tables; each table may appear in one file only. The runtime owns
three of them; every other table is the application's own (below):

``[system]`` (optional)
    How to run the actor system: see :class:`~.system.SystemConfig`
    (``base``, ``bind``, ``admin_port``, ``data_dir``, ``intensity``, ...).
    ``admin_port = 0`` picks a free port.

``[cluster]`` (optional)
    This node's name, its leader, its capabilities, the cluster secret and
    the heartbeat settings: see :mod:`.cluster_config`.

``[tree]``
    The application's root supervisor: ``id`` (default ``"app"``) and the
    supervisor keys below, with its children as ``[[tree.children]]``.

A child table has ``id``, ``start = "package.module:Class"``, ``args`` (a
table of keyword arguments), ``restart``, ``shutdown`` (seconds,
``"brutal_kill"`` or ``"infinity"``), ``significant``, ``name`` and
``requires`` (capabilities its node must have, e.g. ``{ role = "constellation" }``). A child
with ``type = "supervisor"`` takes the supervisor keys instead of ``start``:
``strategy``, ``intensity``, ``period``, ``auto_shutdown``, ``dynamic``,
``max_children``, ``[...backoff]`` (``initial``, ``maximum``,
``multiplier``, ``jitter``, ``reset_after``) and its own ``children``::

    [tree]
    strategy = "one_for_one"
    intensity = 3

    [[tree.children]]
    id = "counter"
    start = "omega_actors.actors.demo:Counter"
    name = "counter"

    [[tree.children]]
    id = "pool"
    type = "supervisor"
    strategy = "one_for_all"

      [[tree.children.children]]
      id = "worker-1"
      start = "omega_actors.actors.demo:Worker"

Any other table, ``[library]`` or ``[reload]``, is the application's: it
is kept as it was read, and :meth:`Config.section` turns it into the
application's own frozen settings dataclass (see :mod:`omega_actors.settings`)::

    settings = load_config("config").section("library", LibrarySettings)

A name one typo away from a runtime section (``[systen]``) is refused with
"did you mean [system]?": a misspelt ``[system]`` would otherwise be taken
for an application's table and silently ignored.

A bad file is rejected as a whole with a :class:`~omega_actors.errors.ConfigError`
naming the file, the key (``tree.children[1].restart``), the value, and what
is accepted. Unknown keys are errors.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, SpecError
from ..settings import check_keys, located, near_miss, settings_from_table
from .backoff import Backoff
from .child_spec import ChildSpec, Start, check_id
from .cluster_config import ClusterConfig
from .guardian import SYSTEM_IDS
from .supervisor import Supervisor
from .supervisor_spec import SupervisorSpec
from .system import SystemConfig

T = TypeVar("T")

RUNTIME_SECTIONS = ("system", "cluster", "tree")  # every other table is the application's
# How alike a table name must be to a runtime section to be taken for a typo of it: one typo
# in these short names ("systen", "clustr", "trees"); "router" (0.62) and "store" (0.67) pass.
SYSTEM_KEYS = tuple(key for key in SystemConfig.__dataclass_fields__ if key != "cluster")
CLUSTER_KEYS = tuple(ClusterConfig.__dataclass_fields__)
SUPERVISOR_KEYS = ("strategy", "intensity", "period", "auto_shutdown", "backoff", "dynamic", "max_children", "children")
CHILD_KEYS = ("id", "type", "start", "args", "restart", "shutdown", "significant", "name", "requires")
BACKOFF_KEYS = tuple(Backoff.__dataclass_fields__)
DEFAULT_ROOT_ID = "app"


@dataclass(frozen=True, slots=True)
class Config:
    system: SystemConfig
    tree: SupervisorSpec | None
    root_id: str = DEFAULT_ROOT_ID
    sources: Mapping[str, str] = field(default_factory=dict)  # section -> the file that defines it
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # the application's sections, as read

    def require_tree(self) -> SupervisorSpec:
        if self.tree is None:
            raise ConfigError("no [tree] table in any file; the runtime has nothing to start", key="tree")
        return self.tree

    def section(self, name: str, settings: type[T]) -> T:
        """The application's section ``[name]`` as a ``settings`` dataclass (its defaults if no file has it).

        Unknown keys and the dataclass's own ConfigErrors are raised with
        the file and ``name.key`` (see :func:`omega_actors.settings.settings_from_table`).
        """
        if name in RUNTIME_SECTIONS:
            raise ValueError(f"[{name}] is the runtime's own section: read config.{name}, not config.section({name!r})")
        return settings_from_table(settings, self.tables.get(name, {}), section=name, file=self.sources.get(name))


def load_config(directory: str | Path) -> Config:
    """Read and validate every ``*.toml`` file in ``directory``."""
    folder = Path(directory)
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ConfigError(f"no *.toml files in {folder}", file=str(folder))
    sections: dict[str, tuple[str, Any]] = {}
    for path in files:
        for name, value in _read(path).items():
            _claim(sections, name, str(path), value)
    cluster = _build(sections, "cluster", lambda table, file: _cluster(table), ClusterConfig())
    system = _build(sections, "system", lambda table, file: _system(table, cluster), SystemConfig(cluster=cluster))
    sources = {name: entry[0] for name, entry in sections.items()}
    tables = {name: entry[1] for name, entry in sections.items() if name not in RUNTIME_SECTIONS}
    tree_entry = sections.get("tree")
    if tree_entry is None:
        return Config(system, None, sources=sources, tables=tables)
    file, table = tree_entry
    root_id, tree = _root(table, file)
    return Config(system, tree, root_id, sources, tables)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); TOML files must be UTF-8", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _claim(sections: dict[str, tuple[str, Any]], name: str, file: str, value: Any) -> None:
    if name not in RUNTIME_SECTIONS:
        _refuse_near_miss(name, file)
    if name in sections:
        raise ConfigError(f"[{name}] is already defined in {sections[name][0]}; define it in one file", file=file, key=name)
    if not isinstance(value, dict):
        raise ConfigError(f"expected a table ([{name}]); got {_kind(value)}", file=file, key=name)
    sections[name] = (file, value)


def _refuse_near_miss(name: str, file: str) -> None:
    guess = near_miss(name, RUNTIME_SECTIONS)
    if guess is not None:
        raise ConfigError(
            f"[{name}] is one typo away from the runtime's [{guess}]: did you mean [{guess}]? "
            f"The runtime's sections are {', '.join(f'[{s}]' for s in RUNTIME_SECTIONS)}; "
            "give an application section a name further from them",
            file=file,
            key=name,
        )


def _build(sections: dict[str, tuple[str, Any]], name: str, make: Callable[[dict[str, Any], str], Any], default: Any) -> Any:
    if name not in sections:
        return default
    file, table = sections[name]
    return _located(file, name, lambda: make(table, file))


def _located(file: str, prefix: str, make: Callable[[], Any]) -> Any:
    """Run ``make``; a SpecError it raises is re-raised with the file and the full key."""
    with located(prefix, file):
        return make()


def _system(table: dict[str, Any], cluster: ClusterConfig) -> SystemConfig:
    check_keys(table, SYSTEM_KEYS)
    values = dict(table)
    if values.get("admin_port") == 0:
        values["admin_port"] = None
    return SystemConfig(**values, cluster=cluster)


def _cluster(table: dict[str, Any]) -> ClusterConfig:
    check_keys(table, CLUSTER_KEYS)
    return ClusterConfig(**table)


def _root(table: dict[str, Any], file: str) -> tuple[str, SupervisorSpec]:
    def build() -> tuple[str, SupervisorSpec]:
        check_keys(table, ("id", *SUPERVISOR_KEYS))
        root_id = check_id(table.get("id", DEFAULT_ROOT_ID))
        if root_id in SYSTEM_IDS:
            raise SpecError(f"{root_id!r} is the id of a system actor; choose another", key="id")
        _check_unique_names(table, "")
        return root_id, _supervisor(table, file, "tree")

    return _located(file, "tree", build)


def _supervisor(table: dict[str, Any], file: str, where: str) -> SupervisorSpec:
    flags = {key: table[key] for key in SUPERVISOR_KEYS if key in table and key not in ("children", "backoff")}
    if "backoff" in table:
        flags["backoff"] = _backoff(table["backoff"])
    children = table.get("children", [])
    if not isinstance(children, list) or not all(isinstance(child, dict) for child in children):
        raise SpecError(f"expected an array of tables ([[{where}.children]]); got {_kind(children)}", key="children")
    specs = tuple(_located_child(child, file, f"{where}.children[{index}]") for index, child in enumerate(children))
    return SupervisorSpec(children=specs, **flags)


def _check_unique_names(table: dict[str, Any], where: str, seen: dict[str, str] | None = None) -> None:
    """Registered names are system-wide: no two children may share one."""
    seen = {} if seen is None else seen
    children = table.get("children", [])
    for index, child in enumerate(children if isinstance(children, list) else []):
        if not isinstance(child, dict):
            continue
        key = f"{where}children[{index}]"
        name = child.get("name")
        if isinstance(name, str):
            if name in seen:
                raise SpecError(f"name {name!r} is registered by tree.{seen[name]} already", key=f"{key}.name")
            seen[name] = key
        _check_unique_names(child, key + ".", seen)


def _located_child(table: dict[str, Any], file: str, where: str) -> ChildSpec:
    spec: ChildSpec = _located(file, where, lambda: _child(table, file, where))
    return spec


def _backoff(table: Any) -> Backoff:
    """Backoff reports its own keys as ``backoff.<field>``."""
    if not isinstance(table, dict):
        raise SpecError(f"expected a table; got {_kind(table)}", key="backoff")
    check_keys(table, BACKOFF_KEYS, prefix="backoff.")
    return Backoff(**table)


def _child(table: dict[str, Any], file: str, where: str) -> ChildSpec:
    kind = table.get("type", "worker")
    is_supervisor = kind == "supervisor"
    check_keys(table, CHILD_KEYS + (SUPERVISOR_KEYS if is_supervisor else ()))
    if "id" not in table:
        raise SpecError("every child needs an id", key="id")
    common: dict[str, Any] = {
        key: table[key] for key in ("id", "restart", "shutdown", "significant", "name", "type", "requires") if key in table
    }
    if is_supervisor:
        for key in ("start", "args"):
            if key in table:
                raise SpecError("a supervisor child takes supervisor keys (strategy, children, ...), not start or args", key=key)
        start = Start.of(Supervisor, _supervisor(table, file, where))
    else:
        start = _start(table)
    # The actor class carries its own defaults (Elixir's child_spec/1); the file overrides them.
    actor = start.actor_class()
    common.setdefault("restart", actor.restart)
    common.setdefault("shutdown", actor.shutdown)
    return ChildSpec(start=start, **common)


def _start(table: dict[str, Any]) -> Start:
    if "start" not in table:
        raise SpecError("a worker child needs start = 'package.module:Class'", key="start")
    target, args = table["start"], table.get("args", {})
    if not isinstance(target, str):
        raise SpecError(f"expected 'package.module:Class'; got {_kind(target)}", key="start")
    if not isinstance(args, dict):
        raise SpecError(f"expected a table of keyword arguments; got {_kind(args)}", key="args")
    return Start(target, (), args)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
