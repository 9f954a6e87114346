"""``python run.py skeleton``: extract (a tree, a wheel, an sdist), show, query and diff, as a user runs them."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import pytest

from omega_actors.cli import main
from omega_actors.skeleton.store import query
from tests.cli.process import run_py
from tests.skeleton.builder import build_store, sdist, wheel, write_files

SHOP = {
    "shop/__init__.py": '''
        """A small shop."""
        from ._cart import Cart
        __all__ = ["Cart", "total"]

        def total(*carts, currency: str = "EUR") -> float:
            """Sum the carts."""
    ''',
    "shop/_cart.py": '''
        class Cart:
            def add(self, item, count: int = 1) -> None: ...
    ''',
}

SHOP_2 = {**SHOP, "shop/__init__.py": SHOP["shop/__init__.py"].replace('"EUR") ->', '"EUR", rounding) ->')}
SHOP_OPTIONAL = {**SHOP, "shop/__init__.py": SHOP["shop/__init__.py"].replace('"EUR") ->', '"EUR", rounding=2) ->')}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["skeleton", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_store(tmp_path / "one", SHOP)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory archives are unpacked in, so that a test can see it emptied."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# show


def test_show_prints_a_function_found_through_its_export(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, _ = run(capsys, "show", "shop.Cart.add", "--db", db)
    assert code == 0
    assert out.splitlines()[:3] == [
        "shop.Cart.add: alias, exported by module shop, resolves to shop._cart.Cart.add",
        "",
        "method shop._cart.Cart.add(self, item, count: int = 1) -> None",
    ]


def test_show_json_is_the_lookup_answer(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, _ = run(capsys, "show", "shop.total", "--db", db, "--json")
    found = json.loads(out)
    assert (code, found["kind"], found["signature"]) == (0, "function", '(*carts, currency: str = "EUR") -> float')


def test_show_of_an_unknown_name_exits_1_and_says_so(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, err = run(capsys, "show", "shop.nothing", "--db", db)
    assert (code, out, err) == (1, "", f"shop.nothing: not in {db}\n")


def test_show_of_a_missing_store_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "show", "shop", "--db", tmp_path / "absent.db")
    assert (code, err) == (2, f"error: {tmp_path / 'absent.db'}: no such skeleton database\n")


# query


def test_query_prints_rows_as_tab_separated_text_or_json(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    sql = "SELECT path, signature FROM objects WHERE kind = 'method'"
    assert run(capsys, "query", sql, "--db", db) == (0, "path\tsignature\nshop._cart.Cart.add\t(self, item, count: int = 1) -> None\n", "")
    code, out, _ = run(capsys, "query", sql, "--db", db, "--json")
    assert json.loads(out) == [{"path": "shop._cart.Cart.add", "signature": "(self, item, count: int = 1) -> None"}]


@pytest.mark.parametrize("sql", [
    "DELETE FROM objects",
    "DROP TABLE objects",
    "UPDATE objects SET name = 'x'",
    "SELECT 1; DELETE FROM objects",
])
def test_query_refuses_a_write_and_leaves_the_store_unchanged(capsys: pytest.CaptureFixture[str], db: Path, sql: str) -> None:
    before = digest(db), query(db, "SELECT count(*) FROM objects")
    code, out, err = run(capsys, "query", sql, "--db", db)
    assert (code, out) == (2, "")
    assert err.startswith("error: query refused: ")
    assert (digest(db), query(db, "SELECT count(*) FROM objects")) == before


# diff


def test_diff_exits_1_on_a_breaking_change_and_prints_it(capsys: pytest.CaptureFixture[str], tmp_path: Path, db: Path) -> None:
    new = build_store(tmp_path / "two", SHOP_2)
    code, out, _ = run(capsys, "diff", db, new)
    assert code == 1
    assert out.splitlines() == [
        "BREAKING  changed       shop.total",
        '            was  function (*carts, currency: str = "EUR") -> float',
        '            now  function (*carts, currency: str = "EUR", rounding) -> float',
        "            breaking: new required parameter rounding",
        "1 change, 1 breaking: 1 changed",
    ]


def test_diff_json_lists_changes_and_exits_0_when_nothing_breaks(capsys: pytest.CaptureFixture[str], tmp_path: Path, db: Path) -> None:
    new = build_store(tmp_path / "two", SHOP_OPTIONAL)
    code, out, _ = run(capsys, "diff", db, new, "--json")
    assert code == 0
    assert json.loads(out) == [{"name": "shop.total", "change": "changed", "breaking": False,
                                "old": 'function (*carts, currency: str = "EUR") -> float',
                                "new": 'function (*carts, currency: str = "EUR", rounding=2) -> float',
                                "reasons": ["new optional parameter rounding = 2"]}]


def test_diff_of_a_store_with_itself_exits_0(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    assert run(capsys, "diff", db, db) == (0, "no public API changes\n", "")


# extract


@pytest.mark.tcp
def test_extract_runs_worker_processes_to_the_end_and_fills_the_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    package = write_files(tmp_path / "src", SHOP) / "shop"
    store = tmp_path / "skeleton.db"
    code, out, _ = run(capsys, "extract", package, "--db", store, "--workers", "2", "--json")
    summary = json.loads(out)
    assert (code, summary["files_read"], summary["failed"], summary["workers_lost"]) == (0, 2, 0, 0)
    assert summary["store"] == {"packages": 1, "files": 2, "failed": 0, "modules": 2, "objects": 3, "public": 3}
    assert query(store, "SELECT path FROM objects WHERE public ORDER BY path")[1] == [
        ("shop._cart.Cart",), ("shop._cart.Cart.add",), ("shop.total",)]


def test_extract_of_a_wheel_stores_it_and_deletes_what_it_unpacked(capsys: pytest.CaptureFixture[str], tmp_path: Path, scratch: Path) -> None:
    archive = wheel(tmp_path, "shop", "1.0", SHOP)
    store = tmp_path / "skeleton.db"
    code, _, _ = run(capsys, "extract", archive, "--db", store, "--workers", "1", "--base", "simple", "--json")
    assert code == 0
    assert query(store, "SELECT name, version, origin FROM packages")[1] == [("shop", "1.0", "wheel")]
    assert query(store, "SELECT count(*) FROM objects WHERE path = 'shop.total'")[1] == [(1,)]
    assert list(scratch.iterdir()) == []


def test_extract_of_an_sdist_stores_it_and_deletes_what_it_unpacked(capsys: pytest.CaptureFixture[str], tmp_path: Path, scratch: Path) -> None:
    files = {f"src/{relpath}": source for relpath, source in SHOP.items()} | {"pyproject.toml": "[project]\nname = 'shop'\n"}
    archive = sdist(tmp_path, "shop", "2.0", files)
    store = tmp_path / "skeleton.db"
    code, _, _ = run(capsys, "extract", archive, "--db", store, "--workers", "1", "--base", "simple", "--json")
    assert code == 0
    assert query(store, "SELECT name, version, origin FROM packages")[1] == [("shop", "2.0", "sdist")]
    assert query(store, "SELECT relpath FROM files ORDER BY relpath")[1] == [("shop/__init__.py",), ("shop/_cart.py",)]
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_an_archive_with_a_member_outside_its_directory_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, scratch: Path, kind: str) -> None:
    evil = {"../evil.py": "print('escaped')\n"}
    archive = sdist(tmp_path, "shop", "1.0", SHOP, members=evil) if kind == "sdist" else wheel(tmp_path, "shop", "1.0", {**SHOP, **evil})
    store = tmp_path / "skeleton.db"
    code, out, err = run(capsys, "extract", archive, "--db", store, "--workers", "1", "--base", "simple", "--json")
    assert (code, out) == (2, "")
    assert "member '../evil.py' would land outside the unpack directory; refused" in err
    assert list(tmp_path.rglob("evil.py")) == [] and list(scratch.iterdir()) == []
    assert not store.exists()


def test_the_skeleton_benchmark_prints_its_keys_and_agrees_with_griffe() -> None:
    result = run_py("bench", "skeleton", "--quick", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("files", "files_per_s_ours", "files_per_s_griffe", "ratio", "cpu_cores_busy", "agreement"):
        assert key in figures
    assert figures["files"] > 100 and figures["failed"] == 0 and figures["ratio"] > 0
    assert figures["agreement"] >= 0.95
