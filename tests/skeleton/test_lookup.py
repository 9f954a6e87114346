"""``skeleton show``'s answers: objects by path, aliases followed through exports, and what is not there."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from omega_actors.errors import StoreError
from omega_actors.skeleton.lookup import describe, lookup

from .builder import build_store

SHOP = {
    "shop/__init__.py": '''
        """A small shop.

        More about it."""
        from ._core.cart import Cart, total
        from os import path as ospath
        from other import helper
        from .a import x
        __all__ = ["Cart", "total", "ospath", "helper", "discount", "missing", "x", "__version__"]
        __version__ = "1.0"

        def discount(price: float, /, rate: float = 0.1, *codes: str, strict: bool, **extra) -> float:
            """Apply a discount.

            The rest of the docstring."""

        def _internal(): ...
    ''',
    "shop/_core/__init__.py": "",
    "shop/_core/cart.py": '''
        """Carts."""

        class Cart(Base):
            """A cart."""
            currency: str = "EUR"

            def __init__(self, owner):
                self.owner = owner

            @property
            def size(self) -> int: ...

            def _check(self): ...

            async def pay(self, amount: int = 0) -> bool: ...

        def total(*carts): ...
    ''',
    "shop/a.py": "from .b import x\n__all__ = ['x']\n",
    "shop/b.py": "from .a import x\n__all__ = ['x']\n",
    "other/__init__.py": "def helper(n: int) -> int:\n    'Another package helps.'\n",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("lookup"), SHOP)


def test_a_function_shows_its_signature_parameters_doc_and_place(db: Path) -> None:
    assert describe(lookup(db, "shop.discount")) == "\n".join([
        "function shop.discount(price: float, /, rate: float = 0.1, *codes: str, strict: bool, **extra) -> float",
        "  public; shop, shop/__init__.py:11",
        "  Apply a discount.",
        "  parameters:",
        "    price: float  (positional-only)",
        "    rate: float = 0.1  (positional-or-keyword)",
        "    *codes: str  (var-positional)",
        "    strict: bool  (keyword-only)",
        "    **extra  (var-keyword)",
        "  returns: float",
    ])


def test_a_function_answer_is_json_with_each_parameter(db: Path) -> None:
    found = lookup(db, "shop.discount")
    assert json.loads(json.dumps(found)) == found
    assert found["parameters"][1] == {"name": "rate", "kind": "positional-or-keyword", "annotation": "float", "default": "0.1"}
    assert (found["public"], found["locally_public"], found["returns"], found["is_async"]) == (True, True, "float", False)


def test_an_exported_class_is_shown_as_an_alias_with_its_members_public_first(db: Path) -> None:
    assert describe(lookup(db, "shop.Cart")) == "\n".join([
        "shop.Cart: alias, exported by module shop, resolves to shop._core.cart.Cart",
        "",
        "class shop._core.cart.Cart(Base)",
        "  public; shop, shop/_core/cart.py:3",
        "  A cart.",
        "  members:",
        "    attribute currency: str = \"EUR\"",
        "    method __init__(self, owner)",
        "    attribute owner = owner",
        "    method size(self) -> int  @property",
        "    async method pay(self, amount: int = 0) -> bool",
        "    method _check(self)  (private)",
    ])


def test_a_member_is_found_through_the_alias_of_its_class(db: Path) -> None:
    found = lookup(db, "shop.Cart.pay")
    assert (found["kind"], found["exported_by"], found["resolves_to"]) == ("alias", "shop", "shop._core.cart.Cart.pay")
    method = found["object"]
    assert (method["kind"], method["is_async"], method["signature"]) == ("method", True, "(self, amount: int = 0) -> bool")
    assert describe(method).startswith("async method shop._core.cart.Cart.pay(self, amount: int = 0) -> bool\n")


def test_a_module_shows_its_doc_all_members_and_re_exports(db: Path) -> None:
    found = lookup(db, "shop")
    assert found["all"] == ["Cart", "total", "ospath", "helper", "discount", "missing", "x", "__version__"]
    assert [member["name"] for member in found["members"]] == ["__version__", "discount"]
    assert describe(found) == "\n".join([
        "package shop",
        "  public; shop, shop/__init__.py",
        "  A small shop.",
        "  __all__: Cart, total, ospath, helper, discount, missing, x, __version__",
        "  members:",
        "    attribute __version__ = \"1.0\"",
        "    function discount(price: float, /, rate: float = 0.1, *codes: str, strict: bool, **extra) -> float",
        "  re-exports:",
        "    Cart -> shop._core.cart.Cart",
        "    total -> shop._core.cart.total",
        "    ospath -> os.path (not resolved)",
        "    helper -> other.helper (not resolved)",
        "    x -> shop.a.x (not resolved)",
    ])


def test_a_private_module_is_found_and_marked_private(db: Path) -> None:
    found = lookup(db, "shop._core.cart")
    assert (found["kind"], found["public"], found["doc"]) == ("module", False, "Carts.")
    assert [member["name"] for member in found["members"]] == ["Cart", "total"]


def test_a_private_function_says_so(db: Path) -> None:
    found = lookup(db, "shop._internal")
    assert (found["public"], found["locally_public"]) == (False, False)
    assert describe(found).splitlines()[1] == "  private; shop, shop/__init__.py:16"


def test_an_export_from_outside_the_store_says_it_is_not_resolved(db: Path) -> None:
    found = lookup(db, "shop.ospath")
    assert (found["target"], found["resolves_to"], found["in_package"], found["object"]) == ("os.path", "os.path", False, None)
    assert describe(found) == "\n".join([
        "shop.ospath: alias, exported by module shop from os.path, which its package does not define",
        "  os.path is not in this store: compiled code, or a package that was not extracted",
    ])


def test_an_export_from_another_package_in_the_store_is_followed_there(db: Path) -> None:
    found = lookup(db, "shop.helper")
    assert (found["in_package"], found["object"]["name"], found["object"]["package"]) == (False, "other.helper", "other")
    assert describe(found).endswith("function other.helper(n: int) -> int\n  public; other, other/__init__.py:1\n"
                                    "  Another package helps.\n  parameters:\n    n: int  (positional-or-keyword)\n  returns: int")


def test_a_name_in_all_that_nothing_defines_is_reported_unresolved(db: Path) -> None:
    found = lookup(db, "shop.missing")
    assert (found["target"], found["resolves_to"]) == (None, None)
    assert describe(found) == "shop.missing: exported by module shop but defined nowhere the extractor can see; not resolved"


def test_a_cycle_of_re_exports_ends_where_it_comes_back(db: Path) -> None:
    found = lookup(db, "shop.a.x")
    assert (found["resolves_to"], found["object"]["resolves_to"], found["object"]["cycle"]) == ("shop.b.x", "shop.a.x", True)
    assert describe(found).endswith("a cycle of re-exports: shop.a.x leads back here")


def test_a_name_the_store_does_not_know_is_none(db: Path) -> None:
    assert lookup(db, "shop.nothing") is None
    assert lookup(db, "elsewhere") is None
    assert lookup(db, "shop.Cart.nothing") is None
    assert lookup(db, "shop.discount.nothing") is None


def test_a_missing_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such skeleton database"):
        lookup(tmp_path / "absent.db", "x")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not sqlite at all\n" * 100)
    with pytest.raises(StoreError, match="notes.db: not a skeleton database"):
        lookup(tmp_path / "notes.db", "x")


def test_a_database_of_another_schema_is_a_store_error(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE things (x)")
    connection.close()
    with pytest.raises(StoreError, match="not a skeleton database"):
        lookup(other, "x")


def test_lookup_leaves_the_store_as_it_was(db: Path) -> None:
    before = db.read_bytes()
    lookup(db, "shop.Cart.pay")
    assert db.read_bytes() == before
