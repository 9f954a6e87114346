"""API drift between two skeleton stores: ``skeleton diff old.db new.db``, exit 1 on a breaking change.

**What is compared: the public API as a user spells it.** Every public
object under its own path when that path is public by itself (a public
module, and the object and each class above it locally public), and every
public export (a name in a public module's ``__all__``) under the name it is
exported as, pointing at what it resolves to. A class reached through an
export carries its public members under the exported name
(``pkg.Matrix.make`` for ``pkg._core.arr.Matrix.make``). An object public
only because it is re-exported is *not* compared under its private path: a
refactor that moves ``pkg._core.arr`` to ``pkg._core.array`` while ``pkg``
keeps exporting the same names is not drift. This is how griffe's
``check`` sees an API (prior art); reading ``objects.public`` paths
literally would report every such move as a removal. Public modules are
names too (``import pkg.sub`` breaks when ``pkg.sub`` goes).

**Breaking rules.** The test is: can a call or use that worked against the
old API fail, or bind its arguments differently, against the new one.

- A public name removed, or no longer public, is breaking; a name added is not.
- A kind change (module, class, callable, data) is breaking; function and
  method are one kind (callable), property and attribute another (data), and
  moving between them is reported but not breaking.
- Callables, parameter by parameter (:func:`compare_parameters`, pure, so
  that Hypothesis can drive it). ``self``/``cls`` is dropped first: the first
  positional parameter of a method that is not a ``staticmethod`` is bound,
  not passed, so renaming it or turning a method into a staticmethod with the
  same remaining parameters is not drift. Breaking: a parameter removed; a
  positional-or-keyword parameter renamed (keyword callers break); a new
  required parameter (no default, not ``*args``/``**kwargs``); a default
  removed; a positional parameter moved to another position (a parameter
  inserted before it moves it); positional-or-keyword becoming keyword-only or
  positional-only, and positional-only and keyword-only becoming each other;
  ``*args`` or ``**kwargs`` removed; a parameter becoming positional (new, or
  formerly keyword-only) when the old signature had ``*args``, whose
  arguments it now takes; sync becoming async or back. Not breaking: a new
  optional parameter, a default added or its value changed, keyword-only or
  positional-only becoming positional-or-keyword, a positional-only
  parameter renamed, ``*args``/``**kwargs`` added or renamed, an annotation or
  the return annotation changed.
- Classes: a base removed is breaking (``isinstance`` and inherited members
  change), a base added is not; bases are compared as written.
- Data: a type annotation changed is not breaking; a value is not compared
  (``__version__`` changes every release).
- An export that resolves to nothing the store holds (compiled code, another
  package) has no kind to compare: a change of its import, or its becoming
  resolved, is reported and not breaking.

A default's value changing is reported but not breaking (old calls still
bind); griffe counts it as breaking. Members of a removed or added class or
module are folded into its entry (``with 3 public members``), so one removed
class is one line. Every reason that makes a change breaking starts with
``breaking:``, in the text and in ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .extract import (
    KEYWORD_ONLY,
    POSITIONAL_ONLY,
    POSITIONAL_OR_KEYWORD,
    VAR_KEYWORD,
    VAR_POSITIONAL,
)
from .lookup import open_store

POSITIONAL = (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD)
VARIADIC = (VAR_POSITIONAL, VAR_KEYWORD)
PROPERTIES = frozenset({"property", "functools.cached_property", "cached_property", "abc.abstractproperty"})
SHAPES = {"function": "callable", "method": "callable", "property": "data", "attribute": "data",
          "class": "class", "module": "module", "unresolved": "unresolved"}
# (old kind, new kind) of one parameter: None is fine, text is why callers break.
KIND_CHANGES = {
    (POSITIONAL_OR_KEYWORD, KEYWORD_ONLY): "can no longer be passed by position",
    (POSITIONAL_OR_KEYWORD, POSITIONAL_ONLY): "can no longer be passed by keyword",
    (KEYWORD_ONLY, POSITIONAL_ONLY): "can no longer be passed by keyword",
    (POSITIONAL_ONLY, KEYWORD_ONLY): "can no longer be passed by position",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    annotation: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class Finding:
    text: str
    breaking: bool

    def reason(self) -> str:
        return f"breaking: {self.text}" if self.breaking else self.text


@dataclass(frozen=True)
class Entry:
    """One public name's shape: what is compared, and ``text`` as shown."""

    kind: str
    text: str
    parameters: tuple[Parameter, ...] = ()  # callables: without the bound self/cls
    returns: str | None = None
    is_async: bool = False
    bases: tuple[str, ...] = ()
    annotation: str | None = None  # data: the type; unresolved: the import


@dataclass(frozen=True)
class Change:
    name: str
    change: str  # removed, added, changed, kind-changed
    breaking: bool
    old: str | None
    new: str | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


# Parameters: pure.


def compare_parameters(old: Sequence[Parameter], new: Sequence[Parameter]) -> tuple[Finding, ...]:
    """What changed between two parameter lists (bound self/cls already dropped), each finding breaking or not."""
    matches = _match(old, new)
    had_varargs = any(p.kind == VAR_POSITIONAL for p in old)
    findings: list[Finding] = []
    for i, parameter in enumerate(old):
        j = matches[i]
        if j is None:
            findings.append(Finding(f"parameter {_star(parameter)} removed", True))
        else:
            findings.extend(_compare_one(parameter, new[j], _position(old, i), _position(new, j), had_varargs))
    claimed = set(matches.values())
    findings.extend(_added(p, had_varargs) for j, p in enumerate(new) if j not in claimed)
    return tuple(findings)


def _match(old: Sequence[Parameter], new: Sequence[Parameter]) -> dict[int, int | None]:
    """Old index -> new index: by name, variadics by kind, else a positional renamed in place."""
    by_name = {p.name: j for j, p in enumerate(new) if p.kind not in VARIADIC}
    by_kind = {p.kind: j for j, p in enumerate(new) if p.kind in VARIADIC}
    old_names = {p.name for p in old if p.kind not in VARIADIC}
    new_positional = [j for j, p in enumerate(new) if p.kind in POSITIONAL]
    matches: dict[int, int | None] = {}
    for i, parameter in enumerate(old):
        if parameter.kind in VARIADIC:
            matches[i] = by_kind.get(parameter.kind)
            continue
        j = by_name.get(parameter.name)
        position = _position(old, i)
        if j is None and position is not None and position < len(new_positional):
            candidate = new_positional[position]
            j = candidate if new[candidate].name not in old_names else None
        matches[i] = j
    return matches


def _position(parameters: Sequence[Parameter], index: int) -> int | None:
    if parameters[index].kind not in POSITIONAL:
        return None
    return sum(1 for p in parameters[:index] if p.kind in POSITIONAL)


def _compare_one(old: Parameter, new: Parameter, was: int | None, now: int | None, had_varargs: bool) -> list[Finding]:
    name = _star(old)
    findings = []
    if old.name != new.name and old.kind not in VARIADIC:
        pinned = old.kind == POSITIONAL_ONLY
        findings.append(Finding(f"{'positional-only ' if pinned else ''}parameter {old.name} renamed to {new.name}", not pinned))
    if old.kind != new.kind:
        why = KIND_CHANGES.get((old.kind, new.kind))
        if why is None and had_varargs and old.kind == KEYWORD_ONLY and new.kind in POSITIONAL:
            why = "takes positional arguments that *args received"
        findings.append(Finding(f"parameter {name} is now {new.kind}" + (f": {why}" if why else ""), why is not None))
    if was is not None and now is not None and was != now:
        findings.append(Finding(f"parameter {name} moved from position {was + 1} to {now + 1}", True))
    findings.extend(_defaults(name, old.default, new.default))
    if old.annotation != new.annotation:
        findings.append(Finding(f"annotation of {name} changed: {old.annotation or '(none)'} -> {new.annotation or '(none)'}", False))
    return findings


def _defaults(name: str, old: str | None, new: str | None) -> list[Finding]:
    if old is not None and new is None:
        return [Finding(f"default of {name} removed (was {old})", True)]
    if old is None and new is not None:
        return [Finding(f"parameter {name} now optional (default {new})", False)]
    if old != new:
        return [Finding(f"default of {name} changed: {old} -> {new}", False)]
    return []


def _added(parameter: Parameter, had_varargs: bool) -> Finding:
    name = _star(parameter)
    if parameter.kind in VARIADIC:
        return Finding(f"{name} added", False)
    if parameter.kind in POSITIONAL and had_varargs:
        return Finding(f"new positional parameter {name} takes positional arguments that *args received", True)
    if parameter.default is None:
        return Finding(f"new required parameter {name}", True)
    return Finding(f"new optional parameter {name} = {parameter.default}", False)


def _star(parameter: Parameter) -> str:
    return {VAR_POSITIONAL: "*", VAR_KEYWORD: "**"}.get(parameter.kind, "") + parameter.name


# Entries: one public name's old and new shape.


def compare(old: Entry, new: Entry) -> tuple[str, tuple[Finding, ...]]:
    """(change kind, findings) between two entries of one name; no findings means no change."""
    was, now = SHAPES[old.kind], SHAPES[new.kind]
    if was != now:
        if "unresolved" in (was, now):
            return "changed", (Finding(f"was {old.text}, now {new.text}", False),)
        return "kind-changed", (Finding(f"was {_a(old.kind)}, now {_a(new.kind)}", True),)
    if was == "callable":
        return "changed", _callables(old, new)
    findings: list[Finding] = []
    if was == "class":
        findings += [Finding(f"no longer derives from {base}", True) for base in old.bases if base not in new.bases]
        findings += [Finding(f"now derives from {base}", False) for base in new.bases if base not in old.bases]
    if was == "data" and old.kind != new.kind:
        findings.append(Finding(f"now {_a(new.kind)}, was {_a(old.kind)}", False))
    if old.annotation != new.annotation:
        what = "import" if was == "unresolved" else "type"
        findings.append(Finding(f"{what} changed: {old.annotation or '(none)'} -> {new.annotation or '(none)'}", False))
    return "changed", tuple(findings)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _callables(old: Entry, new: Entry) -> tuple[Finding, ...]:
    findings = list(compare_parameters(old.parameters, new.parameters))
    if old.returns != new.returns:
        findings.append(Finding(f"return annotation changed: {old.returns or '(none)'} -> {new.returns or '(none)'}", False))
    if old.is_async != new.is_async:
        findings.append(Finding("now async: callers must await it" if new.is_async else "no longer async: awaiting it fails", True))
    return tuple(findings)


def diff_apis(old: dict[str, Entry], new: dict[str, Entry], new_private: Iterable[str] = ()) -> list[Change]:
    """Changes from one public API to another; ``new_private`` are names the new side still has, not public."""
    private = set(new_private)
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if after is None:
            assert before is not None
            why = "no longer public" if name in private else "removed"
            changes.append(Change(name, "removed", True, before.text, None, (f"breaking: {why}",)))
        elif before is None:
            changes.append(Change(name, "added", False, None, after.text, ()))
        else:
            kind, findings = compare(before, after)
            if findings:
                breaking = any(f.breaking for f in findings)
                changes.append(Change(name, kind, breaking, before.text, after.text, tuple(f.reason() for f in findings)))
    return _fold(changes)


def _fold(changes: list[Change]) -> list[Change]:
    """Members of a removed (added) name are folded into it: one removed class is one change."""
    kept: dict[str, Change] = {}
    members: dict[str, int] = {}
    for change in changes:  # sorted by name: an owner comes before its members
        parts = change.name.split(".")
        owners = [".".join(parts[:cut]) for cut in range(1, len(parts)) if change.change in ("removed", "added")]
        owner = next((o for o in owners if o in kept and kept[o].change == change.change), None)
        if owner is None:
            kept[change.name] = change
        else:
            members[owner] = members.get(owner, 0) + 1
    return [replace(change, reasons=(*change.reasons, f"with {members[name]} public member(s)")) if name in members
            else change for name, change in kept.items()]


# Stores.


def diff_stores(old_db: str | Path, new_db: str | Path) -> list[Change]:
    """The public API changes from the store old_db to new_db, by name."""
    old, _ = public_api(old_db)
    new, names = public_api(new_db)
    return diff_apis(old, new, names)


def public_api(db_path: str | Path) -> tuple[dict[str, Entry], set[str]]:
    """(public name -> entry, every module and object path) of one store."""
    with open_store(db_path) as db:
        modules = {row[0]: bool(row[1]) for row in db.execute("SELECT name, public FROM modules")}
        objects = {row["path"]: row for row in db.execute("SELECT * FROM objects ORDER BY id")}
        parameters: dict[int, list[Parameter]] = {}
        for row in db.execute("SELECT p.* FROM parameters p JOIN objects o ON o.id = p.object_id WHERE o.public "
                              "ORDER BY p.object_id, p.position"):
            parameters.setdefault(row[0], []).append(Parameter(*row[2:]))
        exports = db.execute("SELECT module, name, target, resolved FROM exports WHERE public").fetchall()
    entries = {path: _object_entry(row, parameters) for path, row in objects.items()
               if row["public"] and _own_public(path, objects, modules)}
    entries |= {name: Entry("module", "module") for name, public in modules.items() if public}
    members: dict[str, list[str]] = {}
    for path, row in objects.items():
        members.setdefault(row["parent"], []).append(path)
    for module, name, target, resolved in exports:
        _add_export(entries, f"{module}.{name}", target, resolved, _Tables(objects, modules, members, parameters))
    return entries, {*modules, *objects}


@dataclass(frozen=True)
class _Tables:
    objects: dict[str, Any]  # path -> row
    modules: dict[str, bool]  # name -> public
    members: dict[str, list[str]]  # parent -> paths
    parameters: dict[int, list[Parameter]]  # object id -> parameters


def _own_public(path: str, objects: dict[str, Any], modules: dict[str, bool]) -> bool:
    """Public by its own path: locally public, and so is every owner up to a public module."""
    while path in objects:
        row = objects[path]
        if not row["locally_public"]:
            return False
        path = row["parent"]
    return modules.get(path, False)


def _add_export(entries: dict[str, Entry], alias: str, target: str | None, resolved: str | None, tables: _Tables) -> None:
    if alias in entries:
        return  # defined where it is exported, or a public submodule
    if resolved in tables.objects:
        entries[alias] = _object_entry(tables.objects[resolved], tables.parameters)
        owners = [resolved]
        while owners:  # a class's public members, under the exported name
            for path in tables.members.get(owners.pop(), ()):
                row = tables.objects[path]
                if row["public"]:
                    entries.setdefault(alias + path[len(resolved):], _object_entry(row, tables.parameters))
                    owners.append(path)
    elif resolved in tables.modules:
        entries[alias] = Entry("module", f"module {resolved}")
    else:
        text = f"unresolved import of {target}" if target else "listed in __all__, defined nowhere"
        entries[alias] = Entry("unresolved", text, annotation=target)


def _object_entry(row: Any, parameters: dict[int, list[Parameter]]) -> Entry:
    kind, decorators = row["kind"], json.loads(row["decorators"])
    if kind == "method" and PROPERTIES.intersection(decorators):
        return Entry("property", f"property -> {row['returns'] or '(not annotated)'}", annotation=row["returns"])
    if kind in ("function", "method"):
        own = parameters.get(row["id"], [])
        bound = kind == "method" and "staticmethod" not in decorators and own and own[0].kind in POSITIONAL
        text = f"{'async ' if row['is_async'] else ''}{kind} {row['signature']}"
        return Entry(kind, text, tuple(own[1:] if bound else own), row["returns"], bool(row["is_async"]))
    if kind == "class":
        bases = tuple(json.loads(row["bases"]))
        return Entry("class", f"class({', '.join(bases)})" if bases else "class", bases=bases)
    return Entry("attribute", f"attribute: {row['annotation']}" if row["annotation"] else "attribute",
                 annotation=row["annotation"])


# Text.


def format_changes(changes: Sequence[Change]) -> str:
    """Changes as lines for a terminal, breaking ones marked, and a summary line."""
    lines = []
    for change in changes:
        lines.append(f"{'BREAKING' if change.breaking else '        '}  {change.change:<12}  {change.name}")
        lines += [f"            was  {change.old}"] if change.old is not None else []
        lines += [f"            now  {change.new}"] if change.new is not None else []
        lines += [f"            {reason}" for reason in change.reasons]
    lines.append(summary(changes))
    return "\n".join(lines)


def summary(changes: Sequence[Change]) -> str:
    if not changes:
        return "no public API changes"
    counts = {kind: sum(c.change == kind for c in changes) for kind in ("removed", "added", "changed", "kind-changed")}
    breaking = sum(c.breaking for c in changes)
    detail = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    return f"{len(changes)} change{'s' if len(changes) != 1 else ''}, {breaking} breaking: {detail}"
