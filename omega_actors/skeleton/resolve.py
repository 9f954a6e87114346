"""A package's files to its API: stubs over sources, ``__all__``, re-exports, public or private.

:func:`resolve_package` takes every :class:`~.extract.FileRecord` of one
package and decides what each name means across its modules:

- **Stubs** (``.pyi``) are merged over sources (``.py``) of the same module:
  a stub's bases, annotations and return types win, a source's docstrings
  fill in where the stub has none, and what only one side defines is kept.
  A function both define keeps the source's parameters (names, kinds and
  defaults: what a call can pass at runtime; stubs mark dunders ``/`` and
  write ``...`` for defaults), each annotated from the stub's parameter of
  the same name, as griffe merges them. A stub's ``@overload`` does not
  replace the source's implementation: the last overload is one case, the
  implementation's signature covers them all. A stub's definition of a name
  the source imports goes over the imported object, where the package
  defines it (:meth:`_Resolver.relocate_stub`).
- **``__all__``**: a literal is taken as is; ``["@", name]`` (``__all__ +=
  core.__all__``) is replaced by that module's resolved ``__all__``.
- **Exports**: each name in a module's ``__all__`` that the module imports
  rather than defines is followed through imports and star imports, up to
  :data:`MAX_HOPS`, to the object or module it ends at, inside the package.
  A name that leaves the package or ends in compiled code is kept with no
  resolved target.
- **Public**: ``locally_public`` is the decision at the object's own level,
  as griffe's ``is_public`` makes it (module level: listed in ``__all__`` when
  there is one, else no leading underscore; class level: no leading
  underscore, dunders public). ``public`` is the decision for a user: the
  object is locally public and so is everything above it (module path
  included), or it is reached by an export of a public module
  (``numpy.array``'s target lives in ``numpy._core``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .extract import FUNCTION, METHOD, Definition, FileRecord

CALLABLE = (FUNCTION, METHOD)

MAX_HOPS = 20


@dataclass(frozen=True)
class Module:
    name: str
    is_package: bool
    has_source: bool
    has_stub: bool
    doc: str | None
    all_names: tuple[str, ...] | None
    public: bool


@dataclass(frozen=True)
class Object:
    path: str  # absolute dotted path
    module: str
    parent: str  # the module, or the enclosing class
    definition: Definition
    locally_public: bool
    public: bool

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


@dataclass(frozen=True)
class Export:
    module: str
    name: str
    target: str | None  # where the import points, absolute; None for a name the module defines
    resolved: str | None  # the object or module it ends at, inside the package
    public: bool


@dataclass(frozen=True)
class PackageApi:
    modules: tuple[Module, ...]
    objects: tuple[Object, ...]
    exports: tuple[Export, ...]


def merge_stub(source: FileRecord | None, stub: FileRecord | None) -> FileRecord:
    """One module from its ``.py`` and ``.pyi`` records (either may be missing)."""
    if source is None or stub is None:
        found = source or stub
        assert found is not None
        return found
    definitions = dict(source.definitions)
    for path, typed in stub.definitions.items():
        definitions[path] = merge_definition(definitions.get(path), typed)
    return FileRecord(
        module=source.module, is_package=source.is_package, is_stub=False,
        doc=source.doc or stub.doc,
        all_names=stub.all_names if stub.all_names is not None else source.all_names,
        imports=[*source.imports, *stub.imports], definitions=definitions,
    )


def merge_definition(original: Definition | None, typed: Definition) -> Definition:
    """A stub's definition over the source's one of the same object (if any)."""
    if original is None:
        return typed
    if original.kind in CALLABLE and _overload(typed):
        # The stub's last @overload is one case of several; the implementation covers them all.
        return replace(original, doc=original.doc or typed.doc)
    if original.kind in CALLABLE and typed.kind in CALLABLE:
        return replace(
            typed, parameters=_typed_parameters(original.parameters, typed.parameters),
            returns=typed.returns or original.returns, doc=typed.doc or original.doc,
            line=original.line, end_line=original.end_line,
        )
    return replace(typed, doc=typed.doc or original.doc, line=original.line, end_line=original.end_line)


def _typed_parameters(written: list[list[Any]], typed: list[list[Any]]) -> list[list[Any]]:
    """The source's parameters (what a call can pass at runtime, with real defaults),
    annotated by the stub where it names the same parameter."""
    annotations = {name: annotation for name, _, annotation, _ in typed if annotation is not None}
    return [[name, kind, annotations.get(name, annotation), default] for name, kind, annotation, default in written]


def _overload(definition: Definition) -> bool:
    return any(decorator.rpartition(".")[2] == "overload" for decorator in definition.decorators)


def module_public(name: str) -> bool:
    return not any(_private(part) for part in name.split("."))


def resolve_package(records: Iterable[FileRecord]) -> PackageApi:
    sources: dict[str, FileRecord] = {}
    stubs: dict[str, FileRecord] = {}
    for record in records:
        (stubs if record.is_stub else sources)[record.module] = record
    merged = {name: merge_stub(sources.get(name), stubs.get(name)) for name in sorted({*sources, *stubs})}
    resolver = _Resolver(merged, set(sources), set(stubs))
    for name in sorted(sources.keys() & stubs.keys()):
        resolver.relocate_stub(sources[name], stubs[name])
    return resolver.api()


class _Resolver:
    def __init__(self, modules: dict[str, FileRecord], with_source: set[str], with_stub: set[str]) -> None:
        self.modules = modules
        self.with_source = with_source
        self.with_stub = with_stub
        self.imports: dict[str, dict[str, str]] = {
            name: {local: target for local, target in record.imports} for name, record in modules.items()}
        self._all: dict[str, tuple[str, ...] | None] = {}

    def relocate_stub(self, source: FileRecord, stub: FileRecord) -> None:
        """A stub that defines a name its source imports describes the imported object: its
        definitions go over that object where the package defines it (``numpy/__init__.pyi``
        defines ``poly1d``, which ``numpy/__init__.py`` imports from ``numpy.lib``), instead
        of standing beside it as a second object. Kept where they are when the import leaves
        the package, ends in compiled code or at an object of another kind."""
        imported = {local: target for local, target in source.imports}
        for top in [path for path in stub.definitions if "." not in path and path not in source.definitions]:
            origin = imported.get(top) or self._star_source(source.module, top)
            target = self.follow(origin) if origin else None
            owner = self._owner(target) if target and target not in self.modules else None
            if target is None or owner is None or owner == source.module:
                continue
            here, there = self.modules[source.module], self.modules[owner]
            relative = target[len(owner) + 1:]
            found = there.definitions.get(relative)
            if found is None or found.kind != here.definitions[top].kind:
                continue  # ``generic = allTypes["generic"]``: the stub's class is the better account
            moved = [path for path in here.definitions if path == top or path.startswith(top + ".")]  # parents first
            definitions = dict(there.definitions)
            for path in moved:
                new_path = relative + path[len(top):]
                definitions[new_path] = merge_definition(definitions.get(new_path), here.definitions[path])
            self.modules[owner] = replace(there, definitions=definitions)
            gone = set(moved)
            self.modules[source.module] = replace(
                here, definitions={path: d for path, d in here.definitions.items() if path not in gone})

    def _owner(self, path: str) -> str | None:
        """The module that defines an object's absolute path."""
        module = path.rpartition(".")[0]
        while module and module not in self.modules:
            module = module.rpartition(".")[0]
        return module or None

    def api(self) -> PackageApi:
        modules = tuple(self._module(name) for name in self.modules)
        exports = tuple(export for module in modules for export in self._exports(module))
        reached = {export.resolved for export in exports if export.public and export.resolved}
        objects = self._objects(modules, reached)
        return PackageApi(modules, objects, exports)

    def _module(self, name: str) -> Module:
        record = self.modules[name]
        return Module(name, record.is_package, name in self.with_source, name in self.with_stub,
                      record.doc, self.all_names(name), module_public(name))

    # __all__, with other modules' __all__ spliced in.

    def all_names(self, module: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...] | None:
        if module in self._all:
            return self._all[module]
        record = self.modules.get(module)
        if record is None or record.all_names is None or module in seen:
            return None
        names: list[str] = []
        for entry in record.all_names:
            if isinstance(entry, str):
                names.append(entry)
                continue
            other = self._module_named(module, entry[1])
            spliced = self.all_names(other, seen | {module}) if other else None
            names.extend(spliced or ())
        result = tuple(dict.fromkeys(names))
        self._all[module] = result
        return result

    def _module_named(self, module: str, local: str) -> str | None:
        target = self.imports[module].get(local)
        return target if target in self.modules else None

    # Exports: names in __all__ that the module imports, followed to where they end.

    def _exports(self, module: Module) -> list[Export]:
        exports = []
        for name in module.all_names or ():
            record = self.modules[module.name]
            if name in record.definitions:
                exports.append(Export(module.name, name, None, f"{module.name}.{name}", module.public))
                continue
            target = self.imports[module.name].get(name) or self._star_source(module.name, name)
            resolved = self.follow(target) if target else self._submodule(module.name, name)
            exports.append(Export(module.name, name, target, resolved, module.public))
        return exports

    def _submodule(self, module: str, name: str) -> str | None:
        candidate = f"{module}.{name}"
        return candidate if candidate in self.modules else None

    def follow(self, target: str) -> str | None:
        """The object or module an absolute dotted name ends at, inside the package."""
        for _ in range(MAX_HOPS):
            if target in self.modules:
                return target
            owner, _, name = target.rpartition(".")
            record = self.modules.get(owner)
            if record is None:
                return self._nested(target)
            if name in record.definitions:
                return target
            imported = self.imports[owner].get(name) or self._star_source(owner, name)
            if imported is None or imported == target:
                return None
            target = imported
        return None

    def _nested(self, target: str) -> str | None:
        """``pkg.mod.Class.method``: a member of a class the package defines."""
        parts = target.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in self.modules:
                path = ".".join(parts[cut:])
                return target if path in self.modules[module].definitions else None
        return None

    def _star_source(self, module: str, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """Where ``from x import *`` brings ``name`` from, when x is in the package."""
        for local, target in self.modules[module].imports:
            if local != "*":
                continue
            source = target[:-2]
            if source not in self.modules or source in seen:
                continue
            if name in self._star_names(source):
                return f"{source}.{name}"
            deeper = self._star_source(source, name, seen | {module})
            if deeper:
                return deeper
        return None

    def _star_names(self, module: str) -> set[str]:
        names = self.all_names(module)
        if names is not None:
            return set(names)
        record = self.modules[module]
        defined = {path for path in record.definitions if "." not in path}
        imported = {local for local, _ in record.imports if local != "*"}
        return {name for name in defined | imported if not name.startswith("_")}

    # Objects, with both public decisions.

    def _objects(self, modules: tuple[Module, ...], reached: set[str]) -> tuple[Object, ...]:
        objects = []
        for module in modules:
            record = self.modules[module.name]
            public_paths: dict[str, bool] = {}
            for path, definition in record.definitions.items():
                parent_path, _, name = path.rpartition(".")
                local = self._locally_public(module, name, nested=bool(parent_path))
                full = f"{module.name}.{path}"
                if parent_path:
                    above = public_paths.get(parent_path, False)
                    parent = f"{module.name}.{parent_path}"
                else:
                    above = module.public
                    parent = module.name
                public = (local and above) or full in reached
                public_paths[path] = public
                objects.append(Object(full, module.name, parent, definition, local, public))
        return tuple(objects)

    def _locally_public(self, module: Module, name: str, nested: bool) -> bool:
        if not nested and module.all_names is not None:
            return name in module.all_names
        return not _private(name)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
