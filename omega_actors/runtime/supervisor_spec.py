"""Supervisor specs: the flags of one supervisor and its children.

The defaults are OTP's, declared once here::

    SupervisorSpec(
        strategy=Strategy.ONE_FOR_ONE,   # one_for_one | one_for_all | rest_for_one
        intensity=1, period=5.0,         # at most 1 restart in any 5 seconds
        auto_shutdown=AutoShutdown.NEVER,
        children=(...),                  # ChildSpecs, in start order
        backoff=None,                    # a Backoff to delay restarts (beyond OTP)
        dynamic=False, max_children=None,
    )

Strategies decide which children restart when one must:

- ``one_for_one``: only that child;
- ``one_for_all``: all children are stopped (in reverse start order) and all
  are started again (in start order);
- ``rest_for_one``: the child and every child started after it.

A ``dynamic`` supervisor (Elixir's ``DynamicSupervisor``) starts empty and
takes children at run time through ``start_child``; it is always
``one_for_one``, refuses children beyond ``max_children``, and forgets a
child once it is terminated. Unlike OTP's ``simple_one_for_one``, it stops
its children one by one in reverse start order, not all at once.

``auto_shutdown`` (OTP 24): ``any_significant`` stops the supervisor when any
significant child exits by itself and is not restarted; ``all_significant``
when the last such child has. Significant children must be transient or
temporary, and are refused when ``auto_shutdown`` is ``never``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..errors import SpecError
from .backoff import Backoff
from .child_spec import ChildSpec, enum_value
from .clock import Clock, MonotonicClock


class Strategy(enum.Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class AutoShutdown(enum.Enum):
    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


DEFAULT_INTENSITY = 1
DEFAULT_PERIOD = 5.0


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = DEFAULT_INTENSITY
    period: float = DEFAULT_PERIOD
    auto_shutdown: AutoShutdown = AutoShutdown.NEVER
    children: tuple[ChildSpec, ...] = ()
    backoff: Backoff | None = None
    clock: Clock = MonotonicClock()
    dynamic: bool = False
    max_children: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", enum_value(Strategy, self.strategy, "strategy"))
        object.__setattr__(self, "auto_shutdown", enum_value(AutoShutdown, self.auto_shutdown, "auto_shutdown"))
        if isinstance(self.children, (str, bytes)) or not isinstance(self.children, (tuple, list)):
            raise SpecError(f"expected a sequence of ChildSpecs; got {self.children!r}", key="children")
        object.__setattr__(self, "children", tuple(self.children))
        _check_intensity(self.intensity)
        _check_period(self.period)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise SpecError(f"expected a Backoff or None; got {self.backoff!r}", key="backoff")
        if not isinstance(self.clock, Clock):
            raise SpecError(f"expected an object with now(); got {self.clock!r}", key="clock")
        self._check_dynamic()
        ids: set[str] = set()
        for index, child in enumerate(self.children):
            self.check_child(child, f"children[{index}]")
            if child.id in ids:
                raise SpecError(f"duplicate child id {child.id!r}", key=f"children[{index}].id")
            ids.add(child.id)

    def _check_dynamic(self) -> None:
        if not isinstance(self.dynamic, bool):
            raise SpecError(f"expected true or false; got {self.dynamic!r}", key="dynamic")
        if self.max_children is not None:
            if not self.dynamic:
                raise SpecError(
                    f"max_children = {self.max_children!r} applies only to a dynamic supervisor (dynamic = true)",
                    key="max_children",
                )
            if isinstance(self.max_children, bool) or not isinstance(self.max_children, int) or self.max_children < 1:
                raise SpecError(f"expected a whole number >= 1; got {self.max_children!r}", key="max_children")
        if self.dynamic and self.strategy is not Strategy.ONE_FOR_ONE:
            raise SpecError(
                f"a dynamic supervisor is always 'one_for_one'; got {self.strategy.value!r}", key="strategy"
            )
        if self.dynamic and self.children:
            ids = [getattr(child, "id", child) for child in self.children]
            raise SpecError(
                f"a dynamic supervisor starts empty; got children {ids!r} (add them with start_child)", key="children"
            )

    def check_child(self, child: object, key: str = "child") -> ChildSpec:
        """Check that ``child`` may live under this supervisor (also used by start_child)."""
        if not isinstance(child, ChildSpec):
            raise SpecError(f"expected a ChildSpec; got {type(child).__name__}", key=key)
        if child.significant and self.auto_shutdown is AutoShutdown.NEVER:
            raise SpecError(
                "bad combination: auto_shutdown = 'never' with significant = true "
                "(set auto_shutdown to 'any_significant' or 'all_significant')",
                key=f"{key}.significant",
            )
        return child


def _check_intensity(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"expected a whole number >= 0; got {value!r}", key="intensity")


def _check_period(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise SpecError(f"expected a positive number of seconds; got {value!r}", key="period")


def walk(spec: SupervisorSpec, path: str = "") -> Iterator[tuple[str, ChildSpec]]:
    """Every child spec of a tree, depth first, with its path."""
    for child in spec.children:
        child_path = f"{path}/{child.id}" if path else child.id
        yield child_path, child
        nested = nested_spec(child)
        if nested is not None:
            yield from walk(nested, child_path)


def nested_spec(child: ChildSpec) -> SupervisorSpec | None:
    """The SupervisorSpec a supervisor child starts with, if any."""
    for value in (*child.start.args, *child.start.kwargs.values()):
        if isinstance(value, SupervisorSpec):
            return value
    return None


def with_nested(child: ChildSpec, spec: SupervisorSpec) -> ChildSpec:
    """``child`` with ``spec`` in place of the SupervisorSpec it starts with."""
    start = child.start
    args = tuple(spec if isinstance(value, SupervisorSpec) else value for value in start.args)
    kwargs = {key: spec if isinstance(value, SupervisorSpec) else value for key, value in start.kwargs.items()}
    return replace(child, start=replace(start, args=args, kwargs=kwargs))


def revalidated(spec: object, key: str = "spec") -> SupervisorSpec:
    """Run every check of a tree again: a spec that arrived pickled never ran its constructor."""
    if not isinstance(spec, SupervisorSpec):
        raise SpecError(f"expected a SupervisorSpec; got {type(spec).__name__}", key=key)
    backoff = None if spec.backoff is None else replace(spec.backoff)
    return replace(spec, backoff=backoff, children=tuple(revalidated_child(child) for child in spec.children))


def revalidated_child(child: object, key: str = "child") -> ChildSpec:
    if not isinstance(child, ChildSpec):
        raise SpecError(f"expected a ChildSpec; got {type(child).__name__}", key=key)
    nested = nested_spec(child)
    if nested is not None:
        return with_nested(child, revalidated(nested, f"{key}.spec"))  # with_nested re-runs the checks
    return replace(child, start=replace(child.start))


def check_unique_names(spec: SupervisorSpec, root: str) -> None:
    """Registered names are system-wide: two specs may not share one."""
    seen: dict[str, str] = {}
    for path, child in walk(spec, root):
        if child.name is None:
            continue
        if child.name in seen:
            raise SpecError(f"name {child.name!r} is registered by {seen[child.name]} already", key=f"{path}.name")
        seen[child.name] = path
