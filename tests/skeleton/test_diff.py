"""``skeleton diff``: which changes to a public API break callers, rule by rule, and on whole stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.errors import StoreError
from omega_actors.skeleton.diff import (
    Parameter,
    compare_parameters,
    diff_stores,
    format_changes,
)
from omega_actors.skeleton.extract import (
    KEYWORD_ONLY,
    POSITIONAL_ONLY,
    POSITIONAL_OR_KEYWORD,
    VAR_KEYWORD,
    VAR_POSITIONAL,
    extract,
)

from .builder import build_store


def params(text: str) -> tuple[Parameter, ...]:
    """The parameters of ``def f(<text>)``, as the extractor reads them."""
    record = extract(f"def f({text}): ...\n".encode(), "m")
    return tuple(Parameter(*parameter) for parameter in record.definitions["f"].parameters)


def findings(old: str, new: str) -> list[tuple[str, bool]]:
    return [(finding.text, finding.breaking) for finding in compare_parameters(params(old), params(new))]


# The rules, one by one.

BREAKING = [
    ("a, b", "a", "parameter b removed"),
    ("a, b", "a, c", "parameter b renamed to c"),
    ("a", "a, b", "new required parameter b"),
    ("a, *, k", "a, *, k, m", "new required parameter m"),
    ("a, b=1", "a, b", "default of b removed (was 1)"),
    ("a, b", "b, a", "parameter a moved from position 1 to 2"),
    ("a, c=1", "a, b=2, c=1", "parameter c moved from position 2 to 3"),
    ("a, b", "a, *, b", "parameter b is now keyword-only: can no longer be passed by position"),
    ("a, b", "a, b, /", "parameter b is now positional-only: can no longer be passed by keyword"),
    ("a, /, b", "*, a, b", "parameter a is now keyword-only: can no longer be passed by position"),
    ("*, k", "k, /", "parameter k is now positional-only: can no longer be passed by keyword"),
    ("a, *args", "a", "parameter *args removed"),
    ("a, **kw", "a", "parameter **kw removed"),
    ("a, *args", "a, b=1, *args", "new positional parameter b takes positional arguments that *args received"),
    ("a, *args, k=1", "a, k=1, *args", "parameter k is now positional-or-keyword: takes positional arguments that *args received"),
]

COMPATIBLE = [
    ("a", "a, b=1", "new optional parameter b = 1"),
    ("a", "a, *, k=None", "new optional parameter k = None"),
    ("a, b", "a, b=2", "parameter b now optional (default 2)"),
    ("a, b=1", "a, b=2", "default of b changed: 1 -> 2"),
    ("a, *, k", "a, k", "parameter k is now positional-or-keyword"),
    ("a, /", "a", "parameter a is now positional-or-keyword"),
    ("a, /", "b, /", "positional-only parameter a renamed to b"),
    ("a", "a, *args", "*args added"),
    ("a", "a, **kw", "**kw added"),
    ("a: int", "a: str", "annotation of a changed: int -> str"),
    ("a", "a: int", "annotation of a changed: (none) -> int"),
]


@pytest.mark.parametrize(("old", "new", "reason"), BREAKING)
def test_each_breaking_rule_is_reported_as_breaking(old: str, new: str, reason: str) -> None:
    assert (reason, True) in findings(old, new)


@pytest.mark.parametrize(("old", "new", "reason"), COMPATIBLE)
def test_each_compatible_change_is_reported_and_breaks_nothing(old: str, new: str, reason: str) -> None:
    assert findings(old, new) == [(reason, False)]


def test_renaming_var_args_or_var_keywords_is_no_change() -> None:
    assert findings("*args, **kwargs", "*values, **options") == []


def test_a_rename_and_a_removal_are_told_apart() -> None:
    assert findings("a, b, c", "a, x, c") == [("parameter b renamed to x", True)]
    assert findings("a, b, c", "a, c") == [("parameter b removed", True), ("parameter c moved from position 3 to 2", True)]


# Properties, over every valid signature.

NAMES = st.sampled_from("abcdefghijkl")


@st.composite
def signatures(draw: st.DrawFn) -> tuple[Parameter, ...]:
    """A valid parameter list: kinds in order, names unique, no required positional after an optional one."""
    names = iter(draw(st.lists(NAMES, unique=True, min_size=0, max_size=10)))
    counts = [draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 1)), draw(st.integers(0, 3)), draw(st.integers(0, 1))]
    kinds = [kind for kind, count in zip((POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD, VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD), counts)
             for _ in range(count)]
    result: list[Parameter] = []
    optional = False
    for kind in kinds:
        name = next(names, None)
        if name is None:
            break
        annotation = draw(st.sampled_from([None, "int", "str"]))
        default = None
        if kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD):
            optional = optional or draw(st.booleans())
            default = draw(st.sampled_from(["1", "None"])) if optional else None
        elif kind == KEYWORD_ONLY:
            default = draw(st.sampled_from([None, "1", "None"]))
        result.append(Parameter(name, kind, annotation, default))
    return tuple(result)


@given(signatures())
def test_a_signature_compared_with_itself_has_no_findings(signature: tuple[Parameter, ...]) -> None:
    assert compare_parameters(signature, signature) == ()


@given(signatures(), st.data())
def test_adding_an_optional_keyword_only_parameter_never_breaks(signature: tuple[Parameter, ...], data: st.DataObject) -> None:
    name = data.draw(st.text("mnopqrstuvwxyz", min_size=1, max_size=3))
    before = [i for i, p in enumerate(signature) if p.kind == VAR_KEYWORD]
    at = before[0] if before else len(signature)
    at = data.draw(st.integers(min(at, _first_keyword_slot(signature)), at))
    added = (*signature[:at], Parameter(name, KEYWORD_ONLY, None, "None"), *signature[at:])
    assert not any(finding.breaking for finding in compare_parameters(signature, added))


def _first_keyword_slot(signature: tuple[Parameter, ...]) -> int:
    """The first index a keyword-only parameter may take: after every positional and *args."""
    return sum(1 for p in signature if p.kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD, VAR_POSITIONAL))


@given(signatures().filter(bool), st.data())
def test_removing_any_parameter_always_breaks(signature: tuple[Parameter, ...], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(signature) - 1))
    removed = signature[:index] + signature[index + 1:]
    assert any(finding.breaking for finding in compare_parameters(signature, removed))


@given(signatures(), st.data())
def test_adding_a_required_parameter_always_breaks(signature: tuple[Parameter, ...], data: st.DataObject) -> None:
    name = data.draw(st.text("mnopqrstuvwxyz", min_size=1, max_size=3))
    added = (*signature[:_first_keyword_slot(signature)], Parameter(name, KEYWORD_ONLY),
             *signature[_first_keyword_slot(signature):])
    assert any(finding.breaking for finding in compare_parameters(signature, added))


@given(signatures())
def test_giving_every_parameter_a_default_never_breaks(signature: tuple[Parameter, ...]) -> None:
    variadic = (VAR_POSITIONAL, VAR_KEYWORD)
    relaxed = tuple(p if p.kind in variadic or p.default else Parameter(p.name, p.kind, p.annotation, "0") for p in signature)
    assert not any(finding.breaking for finding in compare_parameters(signature, relaxed))


# Whole stores.

OLD = {
    "pkg/__init__.py": '''
        from ._impl import Widget, make
        from . import sub
        __all__ = ["Widget", "make", "gone", "VERSION", "sub", "later", "Shape"]
        VERSION = "1"

        def gone(a): ...

        def later(a, b): ...

        class Shape: ...
    ''',
    "pkg/_impl.py": '''
        class Widget(Base):
            size: int

            def __init__(self, a, b=2): ...

            def run(self, x, /, y): ...

            @property
            def area(self) -> int: ...

            def paint(self, colour): ...

            class Inner:
                def deep(self): ...

        def make(n): ...
    ''',
    "pkg/sub.py": "def h(): ...\n",
}

NEW = {
    "pkg/__init__.py": '''
        from ._moved import Widget, make
        __all__ = ["Widget", "make", "VERSION", "extra", "later", "Shape"]
        VERSION: str = "2"

        def gone(a): ...

        async def later(a, b): ...

        def Shape(): ...

        def extra(): ...
    ''',
    "pkg/_moved.py": '''
        class Widget:
            size: str

            def __init__(this, a, b): ...

            @staticmethod
            def run(z, /, y, *, q=1): ...

            area = 3

            @property
            def paint(self): ...

        def make(n, m=1): ...
    ''',
}

GOLDEN = """\
BREAKING  kind-changed  pkg.Shape
            was  class
            now  function ()
            breaking: was a class, now a function
          changed       pkg.VERSION
            was  attribute
            now  attribute: str
            type changed: (none) -> str
BREAKING  changed       pkg.Widget
            was  class(Base)
            now  class
            breaking: no longer derives from Base
BREAKING  removed       pkg.Widget.Inner
            was  class
            breaking: removed
            with 1 public member(s)
BREAKING  changed       pkg.Widget.__init__
            was  method (self, a, b=2)
            now  method (this, a, b)
            breaking: default of b removed (was 2)
          changed       pkg.Widget.area
            was  property -> int
            now  attribute
            now an attribute, was a property
            type changed: int -> (none)
BREAKING  kind-changed  pkg.Widget.paint
            was  method (self, colour)
            now  property -> (not annotated)
            breaking: was a method, now a property
          changed       pkg.Widget.run
            was  method (self, x, /, y)
            now  method (z, /, y, *, q=1)
            positional-only parameter x renamed to z
            new optional parameter q = 1
          changed       pkg.Widget.size
            was  attribute: int
            now  attribute: str
            type changed: int -> str
          added         pkg.extra
            now  function ()
BREAKING  removed       pkg.gone
            was  function (a)
            breaking: no longer public
BREAKING  changed       pkg.later
            was  function (a, b)
            now  async function (a, b)
            breaking: now async: callers must await it
          changed       pkg.make
            was  function (n)
            now  function (n, m=1)
            new optional parameter m = 1
BREAKING  removed       pkg.sub
            was  module
            breaking: removed
            with 1 public member(s)
14 changes, 8 breaking: 3 removed, 1 added, 8 changed, 2 kind-changed"""


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_store(tmp_path_factory.mktemp("old"), OLD), build_store(tmp_path_factory.mktemp("new"), NEW)


def test_two_versions_of_a_package_give_the_golden_report(stores: tuple[Path, Path]) -> None:
    assert format_changes(diff_stores(*stores)) == GOLDEN


def test_a_store_compared_with_itself_has_no_changes(stores: tuple[Path, Path]) -> None:
    assert diff_stores(stores[0], stores[0]) == []
    assert format_changes([]) == "no public API changes"


def test_moving_a_private_module_behind_the_same_exports_is_not_drift(stores: tuple[Path, Path]) -> None:
    names = {change.name for change in diff_stores(*stores)}
    assert not any("_impl" in name or "_moved" in name for name in names)


def test_the_bound_first_parameter_of_a_method_is_not_compared(tmp_path: Path) -> None:
    old = build_store(tmp_path / "old", {"pkg/__init__.py": "class C:\n    def m(self, a): ...\n    @classmethod\n    def k(cls, a): ...\n"})
    new = build_store(tmp_path / "new", {"pkg/__init__.py": "class C:\n    def m(me, a): ...\n    @staticmethod\n    def k(a): ...\n"})
    assert diff_stores(old, new) == []


def test_a_change_is_json_with_its_reasons(stores: tuple[Path, Path]) -> None:
    change = next(change for change in diff_stores(*stores) if change.name == "pkg.Widget.__init__")
    assert json.loads(json.dumps(change.to_dict())) == {
        "name": "pkg.Widget.__init__", "change": "changed", "breaking": True, "old": "method (self, a, b=2)",
        "new": "method (this, a, b)", "reasons": ["breaking: default of b removed (was 2)"]}


def test_a_missing_store_is_a_store_error(tmp_path: Path, stores: tuple[Path, Path]) -> None:
    with pytest.raises(StoreError, match="no such skeleton database"):
        diff_stores(stores[0], tmp_path / "absent.db")


def test_an_export_that_resolves_to_nothing_in_the_store_changes_without_breaking(tmp_path: Path) -> None:
    old = build_store(tmp_path / "old", {"pkg/__init__.py": "from os import path\nfrom _speedups import fast\n__all__ = ['path', 'fast']\n"})
    new = build_store(tmp_path / "new", {"pkg/__init__.py": "from posixpath import path\n__all__ = ['path', 'fast']\ndef fast(): ...\n"})
    assert [(c.name, c.change, c.breaking, c.reasons) for c in diff_stores(old, new)] == [
        ("pkg.fast", "changed", False, ("was unresolved import of _speedups.fast, now function ()",)),
        ("pkg.path", "changed", False, ("import changed: os.path -> posixpath.path",)),
    ]
