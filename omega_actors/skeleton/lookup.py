"""One dotted name to what the store knows of it: ``skeleton show numpy.linalg.norm``.

:func:`lookup` finds a module, a class, a function or method, or an
attribute by its exact dotted path. A name that is none of those may be an
*alias*: a name a module exports (``__all__``) but defines elsewhere.
``numpy.array`` is exported by ``numpy`` and defined in
``numpy._core.multiarray``; lookup follows the export (and the rest of the
name: ``pkg.Alias.method``), and says both where the name is exported and
what it resolves to. An export that ends outside the package (compiled
code, another distribution) is looked for in the rest of the store; when it
is not there either, the answer says so instead of guessing.

The answer is a plain dict (``show --json`` prints it as is); :func:`describe`
formats it for a terminal. Members are listed public first, then private,
each in source order.

Design notes: the store is opened read-only (``mode=ro`` and
``query_only``), so ``show`` can run while an extraction writes (WAL), and a
file that is not a skeleton store is a :class:`~omega_actors.errors.StoreError` with the
path, not a traceback. :func:`open_store` is shared with :mod:`.diff`.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .store import SCHEMA_VERSION

OBJECT_SQL = ("SELECT o.*, p.name AS package, p.version FROM objects o JOIN packages p ON p.id = o.package_id "
              "WHERE o.path = ? ORDER BY o.id LIMIT 1")
MODULE_SQL = ("SELECT m.*, p.name AS package, p.version FROM modules m JOIN packages p ON p.id = m.package_id "
              "WHERE m.name = ? ORDER BY m.id LIMIT 1")
EXPORT_SQL = ("SELECT e.*, p.name AS package FROM exports e JOIN packages p ON p.id = e.package_id "
              "WHERE e.module = ? AND e.name = ? LIMIT 1")


@contextmanager
def open_store(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a skeleton store; StoreError if the file is missing or not one."""
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"{path}: no such skeleton database")
    db = sqlite3.connect(f"file:{urllib.parse.quote(str(file.resolve()))}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        _check(db, path)
        yield db
    finally:
        db.close()


def _check(db: sqlite3.Connection, path: str | Path) -> None:
    try:
        db.execute("PRAGMA query_only = ON")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: not a skeleton database: {error}") from error
    if row is None or row[0] != str(SCHEMA_VERSION):
        found = "no schema version" if row is None else f"schema {row[0]}"
        raise StoreError(f"{path}: not a skeleton database this version reads ({found}, expected {SCHEMA_VERSION})")


def lookup(db_path: str | Path, dotted_name: str) -> dict[str, Any] | None:
    """What the store at db_path knows of dotted_name, or None if nothing."""
    with open_store(db_path) as db:
        name = dotted_name.strip()
        return _Finder(db).find(name, frozenset({name}))


class _Finder:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def find(self, name: str, seen: frozenset[str]) -> dict[str, Any] | None:
        return self.module(name) or self.object(name) or self.alias(name, seen)

    def module(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute(MODULE_SQL, (name,)).fetchone()
        if row is None:
            return None
        members = [_member(r) for r in self.db.execute(
            "SELECT * FROM objects WHERE package_id = ? AND parent = ? AND locally_public ORDER BY NOT public, id",
            (row["package_id"], name))]
        exports = [{"name": r["name"], "target": r["target"], "resolved": r["resolved"]} for r in self.db.execute(
            "SELECT * FROM exports WHERE package_id = ? AND module = ? AND target IS NOT NULL", (row["package_id"], name))]
        return {
            "name": name, "kind": "module", "package": row["package"], "version": row["version"],
            "file": self.file(row["package_id"], name), "is_package": bool(row["is_package"]),
            "has_source": bool(row["has_source"]), "has_stub": bool(row["has_stub"]), "doc": row["doc"],
            "all": json.loads(row["all_names"]) if row["all_names"] is not None else None,
            "public": bool(row["public"]), "members": members, "exports": exports,
        }

    def object(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute(OBJECT_SQL, (name,)).fetchone()
        if row is None:
            return None
        found = {
            "name": name, "kind": row["kind"], "package": row["package"], "version": row["version"],
            "module": row["module"], "file": self.file(row["package_id"], row["module"]),
            "line": row["line"], "end_line": row["end_line"], "doc": row["doc"],
            "decorators": json.loads(row["decorators"]), "public": bool(row["public"]),
            "locally_public": bool(row["locally_public"]),
        }
        if row["kind"] in ("function", "method"):
            found |= {"signature": row["signature"], "returns": row["returns"], "is_async": bool(row["is_async"]),
                      "parameters": self.parameters(row["id"])}
        elif row["kind"] == "class":
            found |= {"bases": json.loads(row["bases"]), "members": self.members(row["package_id"], name)}
        else:
            found |= {"annotation": row["annotation"], "value": row["value"]}
        return found

    def alias(self, name: str, seen: frozenset[str]) -> dict[str, Any] | None:
        """``module.exported[.rest]`` through an export; a cycle of re-exports ends where it comes back."""
        for module, exported, rest in _splits(name):
            row = self.db.execute(EXPORT_SQL, (module, exported)).fetchone()
            if row is None:
                continue
            destination = row["resolved"] or row["target"]
            if destination is None:
                return _alias(name, row, None, None)
            full = f"{destination}{rest}"
            if full == name:
                return None  # an export of what the module defines itself: the object lookup had the answer
            if full in seen:
                return _alias(name, row, full, None, cycle=True)
            found = self.find(full, seen | {full})
            if found is None and rest and row["resolved"]:
                return None  # the package defines what the export ends at, and it has no such member
            return _alias(name, row, full, found)
        return None

    def parameters(self, object_id: int) -> list[dict[str, Any]]:
        return [{"name": r["name"], "kind": r["kind"], "annotation": r["annotation"], "default": r["default_value"]}
                for r in self.db.execute("SELECT * FROM parameters WHERE object_id = ? ORDER BY position", (object_id,))]

    def members(self, package_id: int, parent: str) -> list[dict[str, Any]]:
        return [_member(r) for r in self.db.execute(
            "SELECT * FROM objects WHERE package_id = ? AND parent = ? ORDER BY NOT public, id", (package_id, parent))]

    def file(self, package_id: int, module: str) -> str | None:
        row = self.db.execute("SELECT relpath FROM files WHERE package_id = ? AND module = ? ORDER BY is_stub LIMIT 1",
                              (package_id, module)).fetchone()
        return row[0] if row else None


def _splits(name: str) -> Iterator[tuple[str, str, str]]:
    """(module, exported name, rest) for each way to read name as ``module.exported[.rest]``, longest module first."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        rest = "".join(f".{part}" for part in parts[cut + 1:])
        yield ".".join(parts[:cut]), parts[cut], rest


def _member(row: sqlite3.Row) -> dict[str, Any]:
    return {"name": row["name"], "path": row["path"], "kind": row["kind"], "signature": row["signature"],
            "annotation": row["annotation"], "value": row["value"], "decorators": json.loads(row["decorators"]),
            "is_async": bool(row["is_async"]), "public": bool(row["public"]), "doc": row["doc"]}


def _alias(name: str, row: sqlite3.Row, resolves_to: str | None, found: dict[str, Any] | None,
           cycle: bool = False) -> dict[str, Any]:
    return {"name": name, "kind": "alias", "package": row["package"], "exported_by": row["module"],
            "target": row["target"], "resolves_to": resolves_to, "in_package": row["resolved"] is not None,
            "public": bool(row["public"]), "cycle": cycle, "object": found}


# Text


def describe(found: dict[str, Any]) -> str:
    """found (a :func:`lookup` answer) as lines for a terminal."""
    kind = found["kind"]
    if kind == "alias":
        return _describe_alias(found)
    if kind == "module":
        return _describe_module(found)
    return _describe_object(found)


def _describe_alias(found: dict[str, Any]) -> str:
    name, module, target = found["name"], found["exported_by"], found["target"]
    if found["resolves_to"] is None:
        source = f"from {target}" if target else "but defined nowhere the extractor can see"
        return f"{name}: exported by module {module} {source}; not resolved"
    if found["in_package"]:
        head = f"{name}: alias, exported by module {module}, resolves to {found['resolves_to']}"
    else:
        head = f"{name}: alias, exported by module {module} from {target}, which its package does not define"
    if found["cycle"]:
        return f"{head}\n  a cycle of re-exports: {found['resolves_to']} leads back here"
    if found["object"] is None:
        return f"{head}\n  {found['resolves_to']} is not in this store: compiled code, or a package that was not extracted"
    return f"{head}\n\n{describe(found['object'])}"


def _describe_module(found: dict[str, Any]) -> str:
    what = "package" if found["is_package"] else "module"
    lines = [f"{what} {found['name']}", _where(found)]
    lines += [f"  {found['doc']}"] if found["doc"] else []
    if found["all"] is not None:
        lines.append(f"  __all__: {', '.join(found['all']) or '(empty)'}")
    if found["members"]:
        lines += ["  members:", *(_member_line(member) for member in found["members"])]
    if found["exports"]:
        lines.append("  re-exports:")
        lines += [f"    {e['name']} -> {e['resolved'] or e['target'] + ' (not resolved)'}" for e in found["exports"]]
    return "\n".join(lines)


def _describe_object(found: dict[str, Any]) -> str:
    kind, name = found["kind"], found["name"]
    head = f"{'async ' if found.get('is_async') else ''}{kind} {name}"
    if kind in ("function", "method"):
        head += found["signature"]
    elif kind == "class" and found["bases"]:
        head += f"({', '.join(found['bases'])})"
    elif kind == "attribute":
        head += _attribute(found)
    lines = [head, _where(found)]
    lines += [f"  @{decorator}" for decorator in found["decorators"]]
    lines += [f"  {found['doc']}"] if found["doc"] else []
    if kind in ("function", "method") and found["parameters"]:
        lines += ["  parameters:", *(_parameter_line(p) for p in found["parameters"])]
        lines.append(f"  returns: {found['returns'] or '(not annotated)'}")
    if kind == "class" and found["members"]:
        lines += ["  members:", *(_member_line(member) for member in found["members"])]
    return "\n".join(lines)


def _where(found: dict[str, Any]) -> str:
    visibility = "public" if found["public"] else "private"
    if "locally_public" in found and found["locally_public"] != found["public"]:
        visibility += ", locally public" if found["locally_public"] else ", locally private"
    place = found["file"] or "(no file)"
    if "line" in found:
        place += f":{found['line']}"
    version = f" {found['version']}" if found["version"] else ""
    return f"  {visibility}; {found['package']}{version}, {place}"


def _parameter_line(parameter: dict[str, Any]) -> str:
    star = {"var-positional": "*", "var-keyword": "**"}.get(parameter["kind"], "")
    text = star + parameter["name"] + (f": {parameter['annotation']}" if parameter["annotation"] else "")
    text += f" = {parameter['default']}" if parameter["default"] is not None else ""
    return f"    {text}  ({parameter['kind']})"


def _member_line(member: dict[str, Any]) -> str:
    text = f"    {'async ' if member['is_async'] else ''}{member['kind']} {member['name']}"
    if member["signature"]:
        text += member["signature"]
    elif member["kind"] == "attribute":
        text += _attribute(member)
    text += "".join(f"  @{decorator}" for decorator in member["decorators"])
    return text if member["public"] else f"{text}  (private)"


def _attribute(found: dict[str, Any]) -> str:
    text = f": {found['annotation']}" if found["annotation"] else ""
    return text + (f" = {found['value']}" if found["value"] is not None else "")
