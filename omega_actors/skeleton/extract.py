"""One source file to its skeleton: what a module defines, read from its AST, never imported.

:func:`extract` parses one ``.py`` or ``.pyi`` file and returns a
:class:`FileRecord` of plain lists, so that it crosses processes cheaply and
is stored as msgpack (:func:`pack` / :func:`unpack`). A record holds only
what this file says; what a name *means* across modules (``__all__`` that
adds another module's ``__all__``, re-exports, stubs over sources) is decided
per package by :mod:`.resolve`.

What is read, per module:

- definitions at module level and in class bodies, including those under
  ``if``/``try``/``with``/``for``/``while`` (``if TYPE_CHECKING:``, version
  checks): the last definition of a name wins, as at runtime; an
  ``@x.setter`` does not replace the property ``x``;
- instance attributes assigned as ``self.x`` at the top of ``__init__``;
- signatures as source text: parameter kinds, annotations and defaults, the
  return annotation; decorators and bases as written;
- the docstring's first line (all of it with ``full_docs``);
- imports, with relative ones made absolute, and ``__all__`` when it is a
  literal, a sum of literals and of names bound to literals earlier in the
  module, ``+=``/``extend``/``append``, or another module's ``__all__`` (kept
  as a reference for :mod:`.resolve`); an import rebinds a name defined
  before it, and the body of ``if __name__ == "__main__":`` is skipped (it
  runs as a script, never on import).

Function bodies are not walked: the skeleton is the API, and skipping them is
where most of the speed over a full visitor comes from. Text is sliced out of
the file by the node's offsets instead of ``ast.unparse``, which is several
times slower; only an expression spread over several lines is unparsed, so
that comments and line breaks inside it do not leak into a signature.

Design notes: griffe (mkdocstrings) is the reference static extractor; it
builds a full object model with expression trees and runs extensions per
node. We keep text and let SQL do the rest.
"""

from __future__ import annotations

import ast
import codecs
import inspect
import io
import tokenize
from dataclasses import dataclass, field
from typing import Any

import msgpack

SCHEMA = 1
MAX_VALUE_CHARS = 200
PROPERTY_PARTS = ("setter", "getter", "deleter")

# Parameter kinds, named as inspect names them.
POSITIONAL_ONLY = "positional-only"
POSITIONAL_OR_KEYWORD = "positional-or-keyword"
VAR_POSITIONAL = "var-positional"
KEYWORD_ONLY = "keyword-only"
VAR_KEYWORD = "var-keyword"
PARAMETER_KINDS = (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD, VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD)

# Object kinds.
CLASS, FUNCTION, METHOD, ATTRIBUTE = "class", "function", "method", "attribute"
OBJECT_KINDS = (CLASS, FUNCTION, METHOD, ATTRIBUTE)


@dataclass
class Definition:
    """One object a module defines; ``path`` is relative to the module (``Class.method``)."""

    path: str
    kind: str
    line: int
    end_line: int
    doc: str | None = None
    decorators: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    returns: str | None = None
    # [name, kind, annotation or None, default or None]
    parameters: list[list[Any]] = field(default_factory=list)
    is_async: bool = False
    annotation: str | None = None
    value: str | None = None

    def row(self) -> list[Any]:
        return [self.path, self.kind, self.line, self.end_line, self.doc, self.decorators, self.bases,
                self.returns, self.parameters, self.is_async, self.annotation, self.value]

    @classmethod
    def from_row(cls, row: list[Any]) -> Definition:
        return cls(*row)


@dataclass
class FileRecord:
    """What one file says. ``all_names`` is None when the module has no static ``__all__``;
    an entry ``["@", "pkg.mod"]`` in it stands for that module's ``__all__``."""

    module: str
    is_package: bool
    is_stub: bool
    doc: str | None = None
    all_names: list[Any] | None = None
    # [local name, absolute target]; target "pkg.mod.*" for a star import
    imports: list[list[str]] = field(default_factory=list)
    definitions: dict[str, Definition] = field(default_factory=dict)


def pack(record: FileRecord) -> bytes:
    return msgpack.packb(
        [SCHEMA, record.module, record.is_package, record.is_stub, record.doc, record.all_names,
         record.imports, [d.row() for d in record.definitions.values()]],
        use_bin_type=True,
    )


def unpack(blob: bytes) -> FileRecord:
    """A stored record; raises ValueError on anything that is not one (stored files are data, not code)."""
    try:
        fields = msgpack.unpackb(blob, raw=False, strict_map_key=True)
        schema, module, is_package, is_stub, doc, all_names, imports, rows = fields
    except Exception as error:  # msgpack raises several types; any of them means "not a record"
        raise ValueError(f"not a skeleton record: {error}") from error
    if schema != SCHEMA:
        raise ValueError(f"skeleton record schema {schema!r}, expected {SCHEMA}")
    _check_shape(module, imports, rows)
    definitions = {row[0]: Definition.from_row(row) for row in rows}
    return FileRecord(module, is_package, is_stub, doc, all_names, imports, definitions)


def _check_shape(module: object, imports: object, rows: object) -> None:
    """Enough of the shape that resolving a package cannot trip over a damaged record."""
    if not isinstance(module, str) or not isinstance(imports, list) or not isinstance(rows, list):
        raise ValueError("not a skeleton record: module, imports or definitions of the wrong type")
    if not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in imports):
        raise ValueError("not a skeleton record: an import is not [name, target]")
    width = len(Definition.__dataclass_fields__)
    if not all(isinstance(row, list) and len(row) == width and isinstance(row[0], str) and isinstance(row[8], list)
               for row in rows):
        raise ValueError(f"not a skeleton record: a definition is not {width} fields")


def extract(source: bytes, module: str, *, is_package: bool = False, is_stub: bool = False, full_docs: bool = False) -> FileRecord:
    """The skeleton of one file. Raises SyntaxError, UnicodeDecodeError, ValueError,
    RecursionError or MemoryError on a file that is not Python it can read."""
    text = _decode(source)
    tree = ast.parse(text, filename=module, type_comments=False)
    reader = _Reader(FileRecord(module, is_package, is_stub), text, full_docs)
    reader.module(tree)
    return reader.record


def _decode(source: bytes) -> str:
    """PEP 263: a BOM or a coding cookie, else UTF-8; line endings made ``\\n`` so offsets agree."""
    # The cookie, as Python reads it: an unknown codec is a SyntaxError, as it would be on import.
    encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    if source.startswith(codecs.BOM_UTF8):
        text = source[len(codecs.BOM_UTF8):].decode("utf-8")
    else:
        text = source.decode("utf-8" if encoding == "utf-8-sig" else encoding)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class _Reader:
    """Walks statements, not expressions: module and class bodies, and the top of ``__init__``."""

    def __init__(self, record: FileRecord, text: str, full_docs: bool) -> None:
        self.record = record
        self.full_docs = full_docs
        self._lines = text.split("\n")
        self._ascii = text.isascii()
        self._package = _package_of(record.module, record.is_package)
        # Module-level names bound to a list or tuple display, for ``__all__ = [...] + names``.
        self._sequences: dict[str, ast.expr] = {}

    def module(self, tree: ast.Module) -> None:
        self.record.doc = self._doc(tree)
        self._body(tree.body, "", in_class=False, top=True)

    # Statements.

    def _body(self, body: list[ast.stmt], prefix: str, in_class: bool, top: bool) -> None:
        for node in body:
            kind = type(node)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                self._function(node, prefix, in_class)  # type: ignore[arg-type]
            elif kind is ast.ClassDef:
                self._class(node, prefix)  # type: ignore[arg-type]
            elif kind is ast.Assign or kind is ast.AnnAssign or kind is ast.AugAssign:
                self._assignment(node, prefix, top)
            elif top and (kind is ast.Import or kind is ast.ImportFrom):
                self._import(node)
            elif top and kind is ast.Expr:
                self._all_call(node.value)  # type: ignore[attr-defined]
            elif kind is ast.If or kind is ast.Try or kind is ast.TryStar:
                for block in _blocks(node):
                    self._body(block, prefix, in_class, top)
            elif kind is ast.For or kind is ast.AsyncFor or kind is ast.While:
                self._body(node.body, prefix, in_class, top)  # type: ignore[attr-defined]
                self._body(node.orelse, prefix, in_class, top)  # type: ignore[attr-defined]
            elif kind is ast.With or kind is ast.AsyncWith:
                self._body(node.body, prefix, in_class, top)  # type: ignore[attr-defined]

    def _define(self, definition: Definition) -> None:
        self._forget(definition.path)  # keep definition order: the last one is the one that runs
        self.record.definitions[definition.path] = definition

    def _forget(self, path: str) -> None:
        """The name is bound again: a class goes with its members."""
        definitions = self.record.definitions
        old = definitions.pop(path, None)
        if old is not None and old.kind == CLASS:
            nested = path + "."
            for member in [member for member in definitions if member.startswith(nested)]:
                del definitions[member]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, in_class: bool) -> None:
        decorators = [self._text(d) for d in node.decorator_list]
        path = prefix + node.name
        if any(d in (f"{node.name}.{part}" for part in PROPERTY_PARTS) for d in decorators):
            return  # a property's setter/deleter: the property stays as its getter defined it
        self._define(Definition(
            path, METHOD if in_class else FUNCTION, node.lineno, node.end_lineno or node.lineno,
            doc=self._doc(node), decorators=decorators,
            returns=self._text(node.returns) if node.returns is not None else None,
            parameters=self._parameters(node.args), is_async=type(node) is ast.AsyncFunctionDef,
        ))
        if in_class and node.name == "__init__":
            self._instance_attributes(node.body, prefix)

    def _class(self, node: ast.ClassDef, prefix: str) -> None:
        path = prefix + node.name
        bases = [self._text(base) for base in node.bases]
        bases += [f"{k.arg}={self._text(k.value)}" if k.arg else f"**{self._text(k.value)}" for k in node.keywords]
        self._define(Definition(
            path, CLASS, node.lineno, node.end_lineno or node.lineno, doc=self._doc(node),
            decorators=[self._text(d) for d in node.decorator_list], bases=bases,
        ))
        self._body(node.body, path + ".", in_class=True, top=False)

    def _assignment(self, node: ast.stmt, prefix: str, top: bool) -> None:
        if type(node) is ast.AugAssign:
            target = node.target  # type: ignore[attr-defined]
            if top and type(target) is ast.Name and target.id == "__all__":
                self._extend_all(node.value, replace=False)  # type: ignore[attr-defined]
            return
        value = node.value  # type: ignore[attr-defined]
        annotation = node.annotation if type(node) is ast.AnnAssign else None  # type: ignore[attr-defined]
        targets = node.targets if type(node) is ast.Assign else [node.target]  # type: ignore[attr-defined]
        for each in targets:
            for name in _names(each):
                if top and name.id == "__all__":
                    if value is not None:
                        self._extend_all(value, replace=True)
                    continue
                if top:
                    if type(value) is ast.List or type(value) is ast.Tuple:
                        self._sequences[name.id] = value
                    else:
                        self._sequences.pop(name.id, None)
                self._attribute(prefix + name.id, node, annotation, value)

    def _attribute(self, path: str, node: ast.stmt, annotation: ast.expr | None, value: ast.expr | None) -> None:
        definitions = self.record.definitions
        old = definitions.get(path)
        if old is not None and old.kind != ATTRIBUTE:
            return  # ``f = decorate(f)`` after ``def f``: still the function
        text = self._text(annotation) if annotation is not None else (old.annotation if old else None)
        self._define(Definition(
            path, ATTRIBUTE, node.lineno, node.end_lineno or node.lineno,
            annotation=text, value=_clip(self._text(value)) if value is not None else None,
        ))

    def _instance_attributes(self, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            kind = type(node)
            if kind is ast.Assign:
                targets, annotation = node.targets, None  # type: ignore[attr-defined]
            elif kind is ast.AnnAssign:
                targets, annotation = [node.target], node.annotation  # type: ignore[attr-defined]
            else:
                continue
            for target in targets:
                if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                    if prefix + target.attr not in self.record.definitions:  # the class body's own wins
                        self._attribute(prefix + target.attr, node, annotation, node.value)  # type: ignore[attr-defined]

    def _import(self, node: ast.stmt) -> None:
        # An import after a definition of the same name rebinds it, as at runtime:
        # ``if PY2: def quote(...)`` / ``else: from urllib.parse import quote``.
        imports = self.record.imports
        if type(node) is ast.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                if alias.asname:
                    imports.append([alias.asname, alias.name])
                else:  # ``import a.b`` binds ``a``
                    top = alias.name.split(".", 1)[0]
                    imports.append([top, top])
                if imports[-1][0] in self.record.definitions:
                    self._forget(imports[-1][0])
            return
        base = self._absolute(node.module, node.level)  # type: ignore[attr-defined]
        for alias in node.names:  # type: ignore[attr-defined]
            if alias.name == "*":
                imports.append(["*", f"{base}.*"])
                continue
            imports.append([alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name])
            if imports[-1][0] in self.record.definitions:
                self._forget(imports[-1][0])

    def _absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        parts = self._package.split(".") if self._package else []
        parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
        return ".".join([*parts, module] if module else parts)

    # __all__

    def _all_call(self, call: ast.expr) -> None:
        if type(call) is not ast.Call or type(call.func) is not ast.Attribute:
            return
        owner = call.func.value
        if type(owner) is not ast.Name or owner.id != "__all__" or len(call.args) != 1:
            return
        if call.func.attr == "extend":
            self._extend_all(call.args[0], replace=False)
        elif call.func.attr == "append" and _string(call.args[0]) is not None:
            self._current_all().append(_string(call.args[0]))
        elif call.func.attr == "remove" and _string(call.args[0]) in self._current_all():
            self._current_all().remove(_string(call.args[0]))

    def _current_all(self) -> list[Any]:
        if self.record.all_names is None:
            self.record.all_names = []
        return self.record.all_names

    def _extend_all(self, value: ast.expr, replace: bool) -> None:
        names = self._all_value(value)
        if names is None:
            return  # not static: leave __all__ as it was
        if replace or self.record.all_names is None:
            self.record.all_names = names
        else:
            self.record.all_names.extend(names)

    def _all_value(self, value: ast.expr) -> list[Any] | None:
        kind = type(value)
        if kind is ast.List or kind is ast.Tuple or kind is ast.Set:
            names: list[Any] = []
            for element in value.elts:  # type: ignore[attr-defined]
                if type(element) is ast.Starred:
                    inner = self._all_value(element.value)
                    if inner is None:
                        return None
                    names.extend(inner)
                elif _string(element) is not None:
                    names.append(_string(element))
                else:
                    return None
            return names
        if kind is ast.BinOp and type(value.op) is ast.Add:  # type: ignore[attr-defined]
            left, right = self._all_value(value.left), self._all_value(value.right)  # type: ignore[attr-defined]
            return None if left is None or right is None else left + right
        if kind is ast.Name:  # a list bound earlier in the module; popped while read, so ``a = [*a]`` ends
            sequence = self._sequences.pop(value.id, None)  # type: ignore[attr-defined]
            if sequence is None:
                return None
            try:
                return self._all_value(sequence)
            finally:
                self._sequences[value.id] = sequence  # type: ignore[attr-defined]
        if kind is ast.Attribute and value.attr == "__all__" and type(value.value) is ast.Name:  # type: ignore[attr-defined]
            return [["@", value.value.id]]  # type: ignore[attr-defined]  # a local name; resolve maps it to its module
        if kind is ast.Call and type(value.func) is ast.Name and value.func.id in ("list", "tuple") and len(value.args) == 1:  # type: ignore[attr-defined]
            return self._all_value(value.args[0])  # type: ignore[attr-defined]
        return None

    # Signatures and text.

    def _parameters(self, args: ast.arguments) -> list[list[Any]]:
        parameters: list[list[Any]] = []
        positional = [*args.posonlyargs, *args.args]
        first_default = len(positional) - len(args.defaults)
        for index, arg in enumerate(positional):
            kind = POSITIONAL_ONLY if index < len(args.posonlyargs) else POSITIONAL_OR_KEYWORD
            default = args.defaults[index - first_default] if index >= first_default else None
            parameters.append(self._parameter(arg, kind, default))
        if args.vararg is not None:
            parameters.append(self._parameter(args.vararg, VAR_POSITIONAL, None))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            parameters.append(self._parameter(arg, KEYWORD_ONLY, default))
        if args.kwarg is not None:
            parameters.append(self._parameter(args.kwarg, VAR_KEYWORD, None))
        return parameters

    def _parameter(self, arg: ast.arg, kind: str, default: ast.expr | None) -> list[Any]:
        annotation = self._text(arg.annotation) if arg.annotation is not None else None
        return [arg.arg, kind, annotation, self._text(default) if default is not None else None]

    def _text(self, node: ast.expr) -> str:
        """The expression as written; unparsed when it spans lines (comments, breaks)."""
        line = node.lineno
        if node.end_lineno != line:
            return ast.unparse(node)
        source = self._lines[line - 1]
        start, end = node.col_offset, node.end_col_offset
        if self._ascii or source.isascii():
            return source[start:end]
        return source.encode()[start:end].decode()  # offsets count UTF-8 bytes

    def _doc(self, node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        body = node.body
        if not body or type(body[0]) is not ast.Expr:
            return None
        value = body[0].value  # type: ignore[attr-defined]
        if type(value) is not ast.Constant or type(value.value) is not str:
            return None
        if self.full_docs:
            return inspect.cleandoc(value.value)
        for line in value.value.split("\n"):
            if line.strip():
                return line.strip()
        return ""


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    if type(node) is ast.If:
        if is_main_guard(node.test):  # type: ignore[attr-defined]
            return [node.orelse]  # type: ignore[attr-defined]  # runs as a script, never on import
        return [node.body, node.orelse]  # type: ignore[attr-defined]
    handlers = [handler.body for handler in node.handlers]  # type: ignore[attr-defined]
    return [node.body, *handlers, node.orelse, node.finalbody]  # type: ignore[attr-defined]


def is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if type(test) is not ast.Compare or len(test.ops) != 1 or type(test.ops[0]) is not ast.Eq:  # type: ignore[attr-defined]
        return False
    sides = [test.left, test.comparators[0]]  # type: ignore[attr-defined]
    return any(type(side) is ast.Name and side.id == "__name__" for side in sides) and "__main__" in map(_string, sides)


def _names(target: ast.expr) -> list[ast.Name]:
    if type(target) is ast.Name:
        return [target]  # type: ignore[list-item]
    if type(target) is ast.Tuple or type(target) is ast.List:
        return [name for element in target.elts for name in _names(element)]  # type: ignore[attr-defined]
    return []


def _string(node: ast.expr) -> str | None:
    if type(node) is ast.Constant and type(node.value) is str:  # type: ignore[attr-defined]
        return node.value  # type: ignore[attr-defined,no-any-return]
    return None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]
