"""Child specs: how a supervisor starts, restarts and stops one child.

Modelled on OTP's ``child_spec()`` map, as a frozen dataclass checked when it
is built::

    ChildSpec(
        id="counter",                       # unique among its siblings
        start=Start.of(Counter, start=10),  # what to run, with its arguments
        restart=Restart.TRANSIENT,          # permanent | transient | temporary
        shutdown=5.0,                       # seconds, "brutal_kill" or "infinity"
        significant=False,                  # see SupervisorSpec.auto_shutdown
        name="counter",                     # optional registered name
    )

Each actor class carries its own defaults (``Counter.child_spec("counter")``,
like Elixir's ``child_spec/1``); a spec or a config file only overrides them.

Restart types, exactly as in OTP:

- ``permanent``: always restarted;
- ``transient``: restarted only after an abnormal exit (``Crash`` or
  ``Killed``), not after ``Normal`` or ``Shutdown``;
- ``temporary``: never restarted, not even when a sibling's restart stops it.

Shutdown: ``"brutal_kill"`` kills at once (no ``stopping`` hook); a number of
seconds asks the child to stop and kills it if it has not stopped by then;
``"infinity"`` waits as long as it takes. The default is 5 seconds for a
worker and ``"infinity"`` for a supervisor, as in OTP.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import math
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

from ..errors import SpecError
from .cluster_config import check_requirements


class Restart(enum.Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class ChildType(enum.Enum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"


BRUTAL_KILL = "brutal_kill"
INFINITY = "infinity"
ShutdownPolicy: TypeAlias = float | Literal["brutal_kill", "infinity"]

DEFAULT_WORKER_SHUTDOWN = 5.0


class Startable:
    """What a child spec starts: a class that carries its own spec defaults and a handler table.

    :class:`~omega_actors.runtime.actor.Actor` is the one implementation. The
    contract lives here, below both, so that a spec can check its target
    without importing the actor module, which builds specs from this one.
    """

    # Defaults for this class's child spec; a spec or config overrides them.
    child_type: ClassVar[ChildType] = ChildType.WORKER
    restart: ClassVar[Restart] = Restart.PERMANENT
    shutdown: ClassVar[ShutdownPolicy | None] = None

    @classmethod
    def handler_table(cls) -> dict[type, str]:
        """Message type -> handler method name; raises TypeError for a bad handler."""
        raise NotImplementedError

_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")


def check_id(value: object, key: str = "id") -> str:
    """Child ids become path segments and subject tokens, hence the charset."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise SpecError(
            f"expected 1-64 characters of letters, digits, '_' or '-' (not starting with '-'); got {value!r}",
            key=key,
        )
    return value


def check_name(value: object, key: str = "name") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecError(
            f"expected 1-128 characters of letters, digits, '_', '.', ':' or '-' "
            f"(starting with a letter, digit or '_'); got {value!r}",
            key=key,
        )
    return value


def enum_value(kind: type[enum.Enum], value: object, key: str) -> Any:
    """An enum member from itself or its string value, or a SpecError listing the choices."""
    if isinstance(value, kind):
        return value
    for member in kind:
        if member.value == value:
            return member
    choices = ", ".join(repr(member.value) for member in kind)
    raise SpecError(f"expected one of {choices}; got {value!r}", key=key)


def check_shutdown(value: object, key: str = "shutdown") -> ShutdownPolicy:
    if value in (BRUTAL_KILL, INFINITY):
        return value  # type: ignore[return-value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and math.isfinite(value):
        return float(value)
    raise SpecError(
        f"expected a number of seconds >= 0, {BRUTAL_KILL!r} or {INFINITY!r}; got {value!r}", key=key
    )


@dataclass(frozen=True, slots=True)
class Start:
    """What to run: an actor class by import path, and its arguments.

    The class travels as ``"package.module:QualName"`` so that a spec pickles
    to another process and reads naturally in a config file.
    """

    target: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cls = resolve(self.target, key="start")
        if not isinstance(self.args, (tuple, list)):
            raise SpecError(f"expected a tuple of positional arguments; got {self.args!r}", key="args")
        if not isinstance(self.kwargs, Mapping) or not all(isinstance(key, str) for key in self.kwargs):
            raise SpecError(f"expected a mapping of keyword arguments by name; got {self.kwargs!r}", key="args")
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        try:
            inspect.signature(cls).bind(*self.args, **self.kwargs)
        except TypeError as exc:
            raise SpecError(f"arguments do not fit {self.target}: {exc}", key="args") from None
        try:
            pickle.dumps((self.args, self.kwargs))
        except Exception as exc:  # any pickling failure means the spec cannot cross processes
            raise SpecError(f"arguments must pickle to reach another process: {exc}", key="args") from None

    @classmethod
    def of(cls, actor_class: type | str, *args: Any, **kwargs: Any) -> Start:
        return cls(target=actor_class if isinstance(actor_class, str) else import_path(actor_class), args=args, kwargs=kwargs)

    def actor_class(self) -> type[Startable]:
        return resolve(self.target, key="start")

    def __hash__(self) -> int:
        return hash((self.target, self.args, tuple(sorted(self.kwargs.items(), key=lambda item: item[0]))))


def import_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(target: object, key: str = "start") -> type[Startable]:
    """Import ``"package.module:QualName"`` and check that it is an actor class."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise SpecError(f"expected 'package.module:ClassName'; got {target!r}", key=key)
    module_name, qualname = target.split(":")
    if "<locals>" in qualname:
        raise SpecError(f"{target!r} is defined inside a function; define actor classes at module level", key=key)
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"cannot import {target!r}: {exc}", key=key) from None
    if not (isinstance(found, type) and issubclass(found, Startable)):
        raise SpecError(f"{target!r} is not a subclass of omega_actors.runtime.Actor", key=key)
    try:
        found.handler_table()
    except TypeError as exc:
        raise SpecError(f"{target!r} has a bad handler: {exc}", key=key) from None
    return found


@dataclass(frozen=True, slots=True)
class ChildSpec:
    id: str
    start: Start
    restart: Restart = Restart.PERMANENT
    shutdown: ShutdownPolicy | None = None
    type: ChildType | None = None
    significant: bool = False
    name: str | None = None
    # Capabilities the node it runs on must advertise, e.g. {"role": "constellation"}:
    # the cluster places it on the least-loaded member that has them (see .cluster).
    requires: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id(self.id)
        object.__setattr__(self, "requires", check_requirements(self.requires, "requires"))
        if not isinstance(self.start, Start):
            raise SpecError(f"expected a Start; got {type(self.start).__name__}", key="start")
        object.__setattr__(self, "restart", enum_value(Restart, self.restart, "restart"))
        object.__setattr__(self, "type", self._checked_type())
        default = INFINITY if self.type is ChildType.SUPERVISOR else DEFAULT_WORKER_SHUTDOWN
        object.__setattr__(self, "shutdown", check_shutdown(default if self.shutdown is None else self.shutdown))
        if not isinstance(self.significant, bool):
            raise SpecError(f"expected true or false; got {self.significant!r}", key="significant")
        if self.significant and self.restart is Restart.PERMANENT:
            raise SpecError(
                "bad combination: restart = 'permanent' with significant = true "
                "(a significant child must be transient or temporary)",
                key="significant",
            )
        if self.name is not None:
            check_name(self.name)

    def _checked_type(self) -> ChildType:
        natural: ChildType = self.start.actor_class().child_type
        if self.type is None:
            return natural
        declared = enum_value(ChildType, self.type, "type")
        if declared is not natural:
            raise SpecError(
                f"{self.start.target} is a {natural.value}, but the spec says type = {declared.value!r}", key="type"
            )
        return declared

    @property
    def is_supervisor(self) -> bool:
        return self.type is ChildType.SUPERVISOR
