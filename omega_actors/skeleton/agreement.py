"""How far our skeleton agrees with griffe, the reference static extractor, on real packages.

Plain code for a test and a bench; griffe, a test dependency, is imported inside
:func:`griffes`. Inputs: installed distribution names, source directories, PackageSources.

**The compared set**: the public classes and functions, with their parameter
names and kinds, decided the same way on both sides.

- Modules: every module griffe loads, private ones included; so not those in
  a directory without ``__init__`` below a regular package (``numpy/_core/tests``).
- Objects: classes, functions and methods public at their own level by griffe's
  rule (ours ``locally_public``, griffe ``is_public``), in classes public the same
  way up to the module. Imports (griffe aliases) are not objects; properties
  (``property``, ``functools.cached_property``, resolved through the module's
  imports as griffe does) are attributes, not compared.
- Signature: a function's (name, kind) pairs, ``self`` included. A class is
  compared by presence: its ``__init__`` is a member of its own, and griffe's
  ``Class.parameters`` follows the MRO, which a per-file reader cannot.
- Griffe is loaded statically (``allow_inspection=False``) with its default
  extensions, plus one that only records each ``@overload`` as it is read: a
  stub's overloads with no implementation are kept in ``overloads``, not
  members, and griffe's merge deletes them when it merges a stub class into
  itself (``numpy/__init__.pyi``'s ``ndarray``, whose source import ends in
  compiled code). Such a function counts as read, with its last overload's
  signature, as ours keeps it.

**Agreement** = matching / union: ``union`` counts every path in either set,
``matching`` the paths in both with the same kind and signature. Each
disagreement goes to the first of :data:`RULES` whose fact it has, else to
"unexplained". The categories met on pip, hypothesis, numpy, pytest,
setuptools, GitPython and thespian, and whose choice each is:

- *dataclass __init__ synthesized by griffe*: its dataclasses extension
  writes ``__init__``; we read what is written.
- *defined under an imported name*: ``try: from x import f`` / ``except:
  def f``. Griffe's ``is_public`` calls any name the module imports
  "imported", hence private, even when the member is the definition; it also
  reads imports under ``if __name__ == "__main__":``. Either is defensible.
- *__all__ read differently*: griffe ignores ``__all__.extend/append``, and
  takes an empty ``__all__`` as none (ours: nothing exported, as ``import *``).
- *script-only definitions*: ours skips the body of ``if __name__ ==
  "__main__":`` (never run on import); griffe reads it.
- *griffe kept the stub alone*: griffe's stub merge raised an alias error
  (numpy ``_core.strings``, ``_core.defchararray``) and it kept the ``.pyi``
  in place of the ``.py``. A griffe bug.
- *stub overloads over a source attribute*: ``all = _frommethod("all")`` in
  ``numpy/ma/core.py`` with ``@overload def all`` in its stub: griffe cannot
  attach overloads to an attribute and drops them; ours takes the stub's function.
- *submodule shadows a member*: griffe holds one object per path and keeps
  ``pkg.main`` the module over ``pkg.main`` the function (its documented limit).
- *rebound as an attribute*: ``eos = property(eos)`` after ``def eos``:
  griffe's attribute replaces the function; ours keeps the definition.
- *property-like decorator*: ``@abc.abstractproperty`` is no property to
  griffe, so its ``@x.setter`` replaces the getter; ours keeps the getter.
- *pkgutil-style namespace __init__*: an ``__init__`` that extends
  ``__path__`` is not read by griffe (nats-py's ``nats.connect``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sources
from .extract import ATTRIBUTE, CLASS, FileRecord, extract, is_main_guard
from .reader import PARSE_ERRORS
from .resolve import PackageApi, resolve_package

# (kind, ((parameter name, parameter kind), ...)); kind is "class" or "function".
Sig = tuple[str, tuple[tuple[str, str], ...]]
Packages = Iterable["str | Path | sources.PackageSource"]
PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property", "cached_property.cached_property"})
OVERLOAD_PATHS = frozenset({"typing.overload", "typing_extensions.overload"})  # as griffe reads them
EXAMPLES = 5
# Facts that pass from a module or class to what it holds: why all of it is on one side only.
INHERITED = frozenset({"stub-alone", "namespace", "imported-name", "not-in-all", "empty-all", "script-only"})

# (category, disagreements it explains, side whose fact it needs, fact); the first match wins.
RULES: tuple[tuple[str, frozenset[str], str, str], ...] = (
    ("griffe kept the stub alone", frozenset({"only_ours", "only_griffe", "mismatch"}), "griffe", "stub-alone"),
    ("stub overloads over a source attribute", frozenset({"only_ours"}), "ours", "overload"),
    ("dataclass __init__ synthesized by griffe", frozenset({"only_griffe"}), "griffe", "dataclass-init"),
    ("pkgutil-style namespace __init__", frozenset({"only_ours"}), "griffe", "namespace"),
    ("submodule shadows a member", frozenset({"only_ours"}), "griffe", "module"),
    ("defined under an imported name", frozenset({"only_ours"}), "griffe", "imported-name"),
    ("__all__ read differently", frozenset({"only_ours"}), "griffe", "not-in-all"),
    ("__all__ read differently", frozenset({"only_griffe"}), "griffe", "empty-all"),
    ("rebound as an attribute", frozenset({"only_ours"}), "griffe", "attribute"),
    ("script-only definitions", frozenset({"only_griffe"}), "ours", "script-only"),
    ("property-like decorator", frozenset({"mismatch"}), "ours", "property-like"),
)


@dataclass(frozen=True)
class Side:
    """One tool's compared set, and facts about paths (in it or not) that explain disagreements."""

    signatures: dict[str, Sig]
    facts: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Category:
    name: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Agreement:
    both: int  # paths in both sets, whatever their signatures
    only_ours: int
    only_griffe: int
    signature_mismatch: int  # paths in both sets whose kind or signature differ
    categories: tuple[Category, ...]

    @property
    def union(self) -> int:
        return self.both + self.only_ours + self.only_griffe

    @property
    def agreement(self) -> float:
        """Matching paths (in both, same signature) over every path in either set."""
        return (self.both - self.signature_mismatch) / self.union if self.union else 1.0

    def report(self) -> str:
        lines = [f"agreement {self.agreement:.4f}: {self.both} in both ({self.signature_mismatch} differ), "
                 f"{self.only_ours} only ours, {self.only_griffe} only griffe"]
        for category in self.categories:
            lines.append(f"  {category.count:6d}  {category.name}")
            lines.extend(f"          {example}" for example in category.examples)
        return "\n".join(lines)


def agree(packages: Packages) -> Agreement:
    found = package_sources(packages)
    return compare(ours(found), griffes(found))


def compare(ours_side: Side, griffe_side: Side) -> Agreement:
    mine, theirs = ours_side.signatures, griffe_side.signatures
    both = mine.keys() & theirs.keys()
    kinds = {"only_ours": mine.keys() - theirs.keys(), "only_griffe": theirs.keys() - mine.keys(),
             "mismatch": {path for path in both if mine[path] != theirs[path]}}
    grouped: dict[str, list[str]] = {}
    for kind, paths in kinds.items():
        for path in sorted(paths):
            grouped.setdefault(_category(path, kind, ours_side, griffe_side), []).append(path)
    categories = tuple(Category(name, len(paths), tuple(paths[:EXAMPLES]))
                       for name, paths in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])))
    return Agreement(len(both), len(kinds["only_ours"]), len(kinds["only_griffe"]), len(kinds["mismatch"]), categories)


def _category(path: str, kind: str, ours_side: Side, griffe_side: Side) -> str:
    facts = {"ours": _facts(ours_side, path), "griffe": _facts(griffe_side, path)}
    for name, kinds, side, fact in RULES:
        if kind in kinds and fact in facts[side]:
            return name
    return f"unexplained ({kind.replace('_', ' ')})"


def _facts(side: Side, path: str) -> frozenset[str]:
    """The path's own facts, and those of the modules and classes above it that pass down."""
    above = (side.facts.get(parent, frozenset()) & INHERITED for parent in _parents(path))
    return side.facts.get(path, frozenset()).union(*above)


def package_sources(packages: Packages) -> list[sources.PackageSource]:
    found: list[sources.PackageSource] = []
    for package in packages:
        if isinstance(package, str):
            found.extend(sources.installed([package]))
        else:
            found.append(package if isinstance(package, sources.PackageSource) else sources.directory(package))
    return found


# Ours.

def ours(packages: Packages) -> Side:
    signatures: dict[str, Sig] = {}
    facts: dict[str, frozenset[str]] = {}
    for package in package_sources(packages):
        records = list(_records(package, facts))
        _our_side(resolve_package(records), records, signatures, facts)
    return Side(signatures, facts)


def _records(package: sources.PackageSource, facts: dict[str, frozenset[str]]) -> Iterator[FileRecord]:
    packages = {file.module for file in package.files if file.is_package}
    for file in package.files:
        if not _importable(file.module, packages):
            continue
        data = file.path.read_bytes()
        try:
            record = extract(data, file.module, is_package=file.is_package, is_stub=file.is_stub)
        except PARSE_ERRORS:
            continue  # griffe cannot load it either
        if b"__main__" in data:  # what ours skips, named for the report
            for name in _script_names(ast.parse(data).body, guarded=False):
                facts[f"{file.module}.{name}"] = frozenset({"script-only"})
        yield record


def _importable(module: str, packages: set[str]) -> bool:
    """Griffe's rule: below a regular package, every directory needs an ``__init__``."""
    parents = [parent in packages for parent in _parents(module)]
    return all(parents[parents.index(True):]) if True in parents else True


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _script_names(body: list[ast.stmt], guarded: bool) -> Iterator[str]:
    """Classes and functions defined under ``if __name__ == "__main__":``."""
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if guarded:
                yield node.name
        elif isinstance(node, ast.If):
            yield from _script_names(node.body, guarded or is_main_guard(node.test))
            yield from _script_names(node.orelse, guarded)
        elif isinstance(node, (ast.Try, ast.With)):
            yield from _script_names(node.body, guarded)


def _our_side(api: PackageApi, records: list[FileRecord], signatures: dict[str, Sig], facts: dict[str, frozenset[str]]) -> None:
    names: dict[str, dict[str, str]] = {}
    for record in records:  # a decorator's first name in its module: a local definition, else an import
        local = {path: f"{record.module}.{path}" for path in record.definitions if "." not in path}
        names.setdefault(record.module, {}).update({**{name: target for name, target in record.imports}, **local})
    public = {obj.path: obj.locally_public for obj in api.objects}
    for obj in api.objects:
        definition = obj.definition
        if definition.kind == ATTRIBUTE or not _chain_public(obj.path, obj.module, public):
            continue
        decorators = [_decorator_path(text, names[obj.module]) for text in definition.decorators]
        if any(path in PROPERTY_DECORATORS for path in decorators):
            continue  # a property: an attribute to griffe
        parameters = tuple((name, kind) for name, kind, *_ in definition.parameters)
        signatures[obj.path] = (CLASS, ()) if definition.kind == CLASS else ("function", parameters)
        found = {"overload": any(path.rpartition(".")[2] == "overload" for path in decorators),
                 "property-like": any(path.endswith("property") for path in decorators)}
        facts[obj.path] = frozenset(name for name, true in found.items() if true)


def _chain_public(path: str, module: str, public: dict[str, bool]) -> bool:
    """The object, and each class it is in, public at its own level."""
    return all(public.get(inner, False) for inner in [*_parents(path), path] if len(inner) > len(module))


def _decorator_path(text: str, names: dict[str, str]) -> str:
    """``cached_property`` after ``from functools import cached_property`` -> ``functools.cached_property``."""
    head, dot, rest = text.split("(", 1)[0].strip().partition(".")
    return names.get(head, head) + dot + rest


# Griffe.

def griffes(packages: Packages) -> Side:
    import griffe  # a test and bench dependency only

    read: dict[str, Any] = {}  # each @overload as griffe's visitor reads it, by path: the last one stays

    class Overloads(griffe.Extension):  # type: ignore[misc]
        def on_function_instance(self, *, func: Any, **kwargs: Any) -> None:
            if any(decorator.callable_path in OVERLOAD_PATHS for decorator in func.decorators):
                read[func.path] = func

    signatures: dict[str, Sig] = {}
    facts: dict[str, frozenset[str]] = {}
    for package in package_sources(packages):
        read.clear()
        loader = griffe.GriffeLoader(allow_inspection=False, search_paths=[package.root],
                                     extensions=griffe.load_extensions(Overloads()))  # the defaults, and ours
        modules = []
        for top in sorted({file.module.split(".", 1)[0] for file in package.files}):
            try:
                modules.append(loader.load(top))
            except (ImportError, griffe.LoadingError):  # a name with no module (a script, data)
                continue
        bare: dict[str, list[Any]] = {}
        for function in read.values():
            bare.setdefault(function.parent.path, []).append(function)
        for module in modules:
            facts[module.path] = _griffe_facts(module, None)
            _walk(module, bare, signatures, facts)
    return Side(signatures, facts)


def _walk(parent: Any, bare: dict[str, list[Any]], signatures: dict[str, Sig], facts: dict[str, frozenset[str]],
          compared: bool = True) -> None:
    """Modules always; classes too when not public, for facts only (``compared`` False below).
    ``bare``: overloads by parent path, read where no implementation stands beside them."""
    members = list(parent.members.values())
    members += [function for function in bare.get(parent.path, ()) if function.name not in parent.members]
    for member in members:
        if member.is_alias:
            continue
        facts[member.path] = facts.get(member.path, frozenset()) | _griffe_facts(member, parent)
        if member.is_module:
            _walk(member, bare, signatures, facts)
            continue
        public = compared and member.is_public
        if member.is_class:
            if public:
                signatures[member.path] = (CLASS, ())
            _walk(member, bare, signatures, facts, public)
        elif member.is_function and public:
            signatures[member.path] = ("function", tuple(
                (parameter.name, parameter.kind.name.replace("_", "-")) for parameter in member.parameters))


def _griffe_facts(member: Any, parent: Any) -> frozenset[str]:
    found: set[str] = set()
    if member.is_module:
        found.add("module")
        if isinstance(member.filepath, list):  # a namespace package: an __init__ extending __path__ is unread
            found.add("namespace")
        elif member.filepath.suffix == ".pyi" and member.filepath.with_suffix(".py").is_file():
            found.add("stub-alone")  # griffe holds the stub in place of the source beside it
        return frozenset(found)
    if member.is_attribute:
        found.add("attribute")
    if member.is_imported:
        found.add("imported-name")
    exports = parent.exports if parent.is_module else None
    if exports is not None and not exports:
        found.add("empty-all")
    elif exports and member.name not in exports:
        found.add("not-in-all")
    if parent.is_class and member.name == "__init__" and "dataclass" in parent.labels:
        found.add("dataclass-init")
    return frozenset(found)
