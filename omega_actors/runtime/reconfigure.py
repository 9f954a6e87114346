"""What changing a running tree's spec does, decided as a pure function.

An operator's new supervision tree is applied in place, as an OTP release
upgrade applies a supervisor's new ``init/1``: each supervisor compares its
current children with the new ones, by id, and

- **removes** children that are gone (stopped in reverse start order, for
  good: their names are released);
- **restarts** children whose instance depends on what changed: the actor
  class or its arguments, or the registered name;
- **updates** children in place when only what the supervisor itself reads
  changed (restart type, shutdown policy, significant): no restart;
- hands a nested supervisor its new spec (**nested**), so that supervisor
  does the same one level down, without restarting;
- **adds** new children, started in their place in the new order;
- takes its new **flags** (strategy, intensity, period, auto_shutdown,
  backoff, max_children) without restarting anything.

A nested supervisor whose ``dynamic`` flag flips is restarted, since its
children change nature. :func:`plan_level` decides for one supervisor;
:func:`diff_trees` lists every change of a whole tree, for people to read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .child_spec import ChildSpec
from .supervisor_spec import SupervisorSpec, nested_spec, with_nested

FLAGS = ("strategy", "intensity", "period", "auto_shutdown", "backoff", "max_children")
IN_PLACE = ("restart", "shutdown", "significant")  # read by the supervisor only


@dataclass(frozen=True, slots=True)
class LevelPlan:
    """What one supervisor does; every tuple holds child ids."""

    remove: tuple[str, ...]  # in old start order (stopped in reverse)
    restart: tuple[str, ...]
    update: tuple[str, ...]
    nested: tuple[str, ...]
    add: tuple[str, ...]
    order: tuple[str, ...]  # the new start order
    flags: tuple[str, ...]  # names of the flags that changed
    moved: bool  # kept children change their relative order

    @property
    def empty(self) -> bool:
        return not (self.remove or self.restart or self.update or self.nested or self.add or self.flags or self.moved)


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a tree diff: ``kind`` is add, remove, restart, update, flags or move."""

    kind: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        mark = {"add": "+", "remove": "-", "restart": "~", "update": "=", "flags": "^", "move": ">"}[self.kind]
        return f"{mark} {self.path}" + (f" ({self.detail})" if self.detail else "")


def plan_level(current: SupervisorSpec, new: SupervisorSpec) -> LevelPlan:
    """Compare one supervisor's current spec (children as it holds them now) with ``new``."""
    old = {child.id: child for child in current.children}
    fresh = {child.id: child for child in new.children}
    restart: list[str] = []
    update: list[str] = []
    nested: list[str] = []
    for id, child in fresh.items():
        before = old.get(id)
        if before is None or before == child:
            continue
        kind = child_change(before, child)
        {"restart": restart, "update": update, "nested": nested}[kind].append(id)
    return LevelPlan(
        remove=tuple(id for id in old if id not in fresh),
        restart=tuple(restart),
        update=tuple(update),
        nested=tuple(nested),
        add=tuple(id for id in fresh if id not in old),
        order=tuple(fresh),
        flags=tuple(name for name in FLAGS if getattr(current, name) != getattr(new, name)),
        moved=[id for id in fresh if id in old] != [id for id in old if id in fresh],
    )


def child_change(before: ChildSpec, after: ChildSpec) -> str:
    """How a child whose spec changed is brought up to date: restart, update or nested."""
    old_nested, new_nested = nested_spec(before), nested_spec(after)
    if old_nested is not None and new_nested is not None:
        if old_nested.dynamic != new_nested.dynamic:
            return "restart"
        before = with_nested(before, new_nested)  # compare the rest as if the nested spec were equal
    same_instance = replace(before, **{name: getattr(after, name) for name in IN_PLACE})
    if same_instance != after:
        return "restart"
    if before != after:
        return "update"
    return "nested"


def diff_trees(current: SupervisorSpec, new: SupervisorSpec, path: str) -> list[Change]:
    """Every change from ``current`` to ``new``, depth first, with paths below ``path``."""
    plan = plan_level(current, new)
    changes = [Change("flags", path, ", ".join(f"{f}: {_show(current, f)} -> {_show(new, f)}" for f in plan.flags))] if plan.flags else []
    old = {child.id: child for child in current.children}
    for id in plan.remove:
        changes.append(Change("remove", _join(path, id)))
    if plan.moved:
        changes.append(Change("move", path, "children reordered: " + ", ".join(plan.order)))
    for child in new.children:
        child_path = _join(path, child.id)
        if child.id in plan.add:
            changes.append(Change("add", child_path))
        elif child.id in plan.restart:
            changes.append(Change("restart", child_path, _changed_fields(old[child.id], child)))
        elif child.id in plan.update:
            changes.append(Change("update", child_path, _changed_fields(old[child.id], child)))
        if child.id in plan.nested or child.id in plan.update:
            before, after = nested_spec(old[child.id]), nested_spec(child)
            if before is not None and after is not None:
                changes.extend(diff_trees(before, after, child_path))
    return changes


def _changed_fields(before: ChildSpec, after: ChildSpec) -> str:
    names = [f.name for f in fields(ChildSpec) if getattr(before, f.name) != getattr(after, f.name)]
    if "start" in names and nested_spec(before) is not None and nested_spec(after) is not None:
        names.remove("start")
        if with_nested(before, nested_spec(after)).start != after.start:  # type: ignore[arg-type]
            names.append("start")
    return ", ".join(names)


def _show(spec: SupervisorSpec, flag: str) -> str:
    value = getattr(spec, flag)
    return str(getattr(value, "value", value))


def _join(path: str, id: str) -> str:
    return f"{path}/{id}" if path else id
