"""The skeleton store: incremental runs, failures kept, read-only queries, files it must refuse.

Every test works on a real SQLite file in ``tmp_path`` and a package written
next to it. :func:`run` does what the coordinator does for one package (plan,
read each job, record, finish) and says what happened, so that a test can
check both what was read and what was rebuilt. The state machine at the end
edits a package at random and checks that, after every run, the incremental
store holds exactly what a store extracted from scratch holds.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from omega_actors.errors import StoreError
from omega_actors.skeleton.extract import unpack
from omega_actors.skeleton.reader import read
from omega_actors.skeleton.sources import directory
from omega_actors.skeleton.store import (
    SCHEMA_VERSION,
    FileOutcome,
    SkeletonStore,
    query,
)

from .builder import write_files

PACKAGE = {
    "pkg/__init__.py": '''
        """A package."""
        from .core import api
        __all__ = ["api"]
    ''',
    "pkg/core.py": '''
        def api(a, b=1):
            """The API."""
    ''',
    "pkg/extra.py": '''
        class Extra:
            def method(self, x: int) -> str: ...
    ''',
}


@dataclass(frozen=True)
class Run:
    planned: list[str]
    unchanged: int
    statuses: dict[str, str]
    rebuilt: bool


def run(db: Path, package: Path, *, stop_after: str | None = None) -> Run:
    """One package's extraction, as the coordinator runs it; ``stop_after`` plan or record: a crash there."""
    with SkeletonStore(db) as store:
        package_id, jobs, unchanged = store.plan(directory(package))
        outcomes = [read(job) for job in jobs] if stop_after != "plan" else []
        changed = store.record(package_id, jobs, outcomes) if stop_after != "plan" else False
        api = store.finish(package_id, changed) if stop_after is None else None
    return Run([job.file.relpath for job in jobs], unchanged, {o.relpath: o.status for o in outcomes}, api is not None)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql).fetchall()


def api_of(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The stored API without row ids: what a lookup can see."""
    return {
        "modules": rows(db, "SELECT name, is_package, has_source, has_stub, doc, all_names, public FROM modules ORDER BY 1, 2, 3, 4, 5, 6, 7"),
        "objects": rows(db, "SELECT module, path, name, parent, kind, line, end_line, doc, decorators, bases, signature, returns, "
                            "is_async, annotation, value, locally_public, public FROM objects "
                            "ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17"),
        "parameters": rows(db, "SELECT o.path, o.line, p.position, p.name, p.kind, p.annotation, p.default_value "
                               "FROM parameters p JOIN objects o ON o.id = p.object_id ORDER BY 1, 2, 3, 4, 5, 6, 7"),
        "exports": rows(db, "SELECT module, name, target, resolved, public FROM exports ORDER BY 1, 2, 3, 4, 5"),
    }


def files_of(db: Path) -> list[tuple[Any, ...]]:
    return rows(db, "SELECT relpath, size, mtime_ns, sha256, status, reason, record FROM files ORDER BY relpath")


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "src", PACKAGE)
    for index, path in enumerate(sorted((root / "pkg").iterdir())):
        set_mtime(path, 1_600_000_000 + index)
    return root / "pkg"


@pytest.fixture
def db(tmp_path: Path, package: Path) -> Path:
    db = tmp_path / "skeleton.db"
    first = run(db, package)
    assert first.planned == ["pkg/__init__.py", "pkg/core.py", "pkg/extra.py"] and first.rebuilt
    assert set(first.statuses.values()) == {"ok"}
    return db


def object_paths(db: Path) -> list[str]:
    return [path for (path,) in rows(db, "SELECT path FROM objects ORDER BY path")]


# Incremental runs.


def test_a_second_run_over_an_unchanged_package_reads_nothing_and_keeps_its_api(db: Path, package: Path) -> None:
    before = rows(db, "SELECT id, path FROM objects ORDER BY id"), files_of(db)
    again = run(db, package)
    assert again == Run([], 3, {}, False)
    assert (rows(db, "SELECT id, path FROM objects ORDER BY id"), files_of(db)) == before


def test_a_file_touched_but_not_changed_is_hashed_not_parsed_and_the_api_is_kept(db: Path, package: Path) -> None:
    api = rows(db, "SELECT id, path FROM objects ORDER BY id")
    set_mtime(package / "core.py", 1_700_000_000)
    touched = run(db, package)
    assert touched == Run(["pkg/core.py"], 2, {"pkg/core.py": "same"}, False)
    assert rows(db, "SELECT mtime_ns FROM files WHERE relpath = 'pkg/core.py'") == [(1_700_000_000 * 10**9,)]
    assert rows(db, "SELECT id, path FROM objects ORDER BY id") == api
    assert run(db, package).planned == [], "the new mtime was stored: the next run does not even hash it"


def test_a_changed_file_is_read_again_and_the_api_rebuilt(db: Path, package: Path) -> None:
    (package / "core.py").write_text("def api(a, b=2, *, c): ...\ndef more(): ...\n")
    set_mtime(package / "core.py", 1_700_000_000)
    changed = run(db, package)
    assert changed == Run(["pkg/core.py"], 2, {"pkg/core.py": "ok"}, True)
    assert rows(db, "SELECT signature FROM objects WHERE path = 'pkg.core.api'") == [("(a, b=2, *, c)",)]
    assert "pkg.core.more" in object_paths(db)


def test_a_file_deleted_from_the_package_is_dropped_and_the_api_rebuilt(db: Path, package: Path) -> None:
    assert "pkg.extra.Extra" in object_paths(db)
    (package / "extra.py").unlink()
    dropped = run(db, package)
    assert dropped == Run([], 2, {}, True)
    assert [relpath for relpath, *_ in files_of(db)] == ["pkg/__init__.py", "pkg/core.py"]
    assert not [path for path in object_paths(db) if path.startswith("pkg.extra")]
    assert rows(db, "SELECT name FROM modules ORDER BY name") == [("pkg",), ("pkg.core",)]


def test_a_file_that_fails_is_stored_with_its_reason_and_stays_failed_across_runs(db: Path, package: Path) -> None:
    (package / "extra.py").write_text("def broken(:\n")
    set_mtime(package / "extra.py", 1_700_000_000)
    assert run(db, package).statuses == {"pkg/extra.py": "failed"}
    failures = [("pkg", "pkg/extra.py", "SyntaxError: invalid syntax (line 1)")]
    with SkeletonStore(db) as store:
        assert store.failures() == failures and store.failures("pkg") == failures and store.failures("other") == []
    assert not [path for path in object_paths(db) if path.startswith("pkg.extra")]

    assert run(db, package).planned == []  # unchanged: not tried again
    set_mtime(package / "extra.py", 1_700_000_001)
    assert run(db, package).statuses == {"pkg/extra.py": "same"}  # touched: the hash says it is the same bad file
    with SkeletonStore(db) as store:
        assert store.failures() == failures

    (package / "extra.py").write_text("class Extra: ...\n")
    set_mtime(package / "extra.py", 1_700_000_002)
    assert run(db, package).statuses == {"pkg/extra.py": "ok"}
    with SkeletonStore(db) as store:
        assert store.failures() == [] and store.counts()["failed"] == 0
    assert "pkg.extra.Extra" in object_paths(db)


def test_a_run_that_stops_after_recording_a_batch_rebuilds_the_api_on_the_next_run(db: Path, package: Path) -> None:
    (package / "core.py").write_text("def renamed(): ...\n")
    set_mtime(package / "core.py", 1_700_000_000)
    assert run(db, package, stop_after="record").statuses == {"pkg/core.py": "ok"}
    assert "pkg.core.api" in object_paths(db)  # the crash came before the API was rebuilt

    after = run(db, package)
    assert after.planned == [] and after.rebuilt, "the stored records changed, so the API must be rebuilt"
    assert "pkg.core.renamed" in object_paths(db) and "pkg.core.api" not in object_paths(db)


def test_a_run_that_stops_after_dropping_a_deleted_file_rebuilds_the_api_on_the_next_run(db: Path, package: Path) -> None:
    (package / "extra.py").unlink()
    run(db, package, stop_after="plan")
    after = run(db, package)
    assert after.planned == [] and after.rebuilt
    assert not [path for path in object_paths(db) if path.startswith("pkg.extra")]


def test_one_batch_is_one_transaction_and_a_failure_inside_it_leaves_the_store_as_it_was(db: Path, package: Path) -> None:
    before = files_of(db), api_of(db)
    (package / "core.py").write_text("def api(): ...\n")
    (package / "extra.py").write_text("def extra(): ...\n")
    for path in ("core.py", "extra.py"):
        set_mtime(package / path, 1_700_000_000)
    with SkeletonStore(db) as store:
        package_id, jobs, _ = store.plan(directory(package))
        good, bad = (read(job) for job in jobs)
        assert good.status == "ok"
        bad = FileOutcome(bad.relpath, "not a status", bad.sha256)  # the CHECK constraint refuses it, after `good` was written
        with pytest.raises(sqlite3.IntegrityError):
            store.record(package_id, jobs, [good, bad])
    assert (files_of(db), api_of(db)) == before


# Queries.


def test_a_query_answers_with_column_names_and_rows(db: Path) -> None:
    columns, found = query(db, "SELECT name, kind FROM objects WHERE path = ?", ["pkg.core.api"])
    assert columns == ["name", "kind"] and found == [("api", "function")]


@pytest.mark.parametrize("sql", [
    "INSERT INTO meta VALUES ('x', 'y')",
    "UPDATE files SET status = 'failed'",
    "DELETE FROM objects",
    "DROP TABLE files",
    "CREATE TABLE extra (x)",
    "ATTACH DATABASE '{elsewhere}' AS elsewhere",
    "VACUUM INTO '{elsewhere}'",
    "PRAGMA user_version = 7",
    "PRAGMA journal_mode = DELETE",
    "REINDEX",
    "SELECT 1; DELETE FROM objects",
])
def test_a_query_that_would_write_is_refused_and_the_store_stays_intact(db: Path, tmp_path: Path, sql: str) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    before = files_of(db), api_of(db), rows(db, "SELECT * FROM meta"), rows(db, "PRAGMA user_version")
    with pytest.raises(StoreError, match="query refused"):
        query(db, sql.format(elsewhere=elsewhere))
    assert not elsewhere.exists(), "a query made a file"
    assert (files_of(db), api_of(db), rows(db, "SELECT * FROM meta"), rows(db, "PRAGMA user_version")) == before
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_a_query_of_a_store_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="missing.db: no such skeleton database"):
        query(tmp_path / "missing.db", "SELECT 1")
    assert not (tmp_path / "missing.db").exists()


# Files that are not a store of this version.


def test_a_file_that_is_not_a_database_is_refused_naming_it_and_left_as_it_was(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    data = random.Random(7).randbytes(8192)
    junk.write_bytes(data)
    with pytest.raises(StoreError, match=r"junk\.db: not a skeleton database"):
        SkeletonStore(junk)
    with pytest.raises(StoreError):
        query(junk, "SELECT 1 FROM meta")
    assert junk.read_bytes() == data


def test_another_programs_database_is_refused_and_not_given_skeleton_tables(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(StoreError, match=r"other\.db: not a skeleton database"):
        SkeletonStore(other)
    assert rows(other, "SELECT name FROM sqlite_master") == [("people",)]


def test_an_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with SkeletonStore(empty) as store:
        assert store.counts()["packages"] == 0
    assert rows(empty, "SELECT value FROM meta WHERE key = 'schema'") == [(str(SCHEMA_VERSION),)]


def test_a_store_of_a_newer_schema_is_refused_naming_both_versions(db: Path) -> None:
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=rf"skeleton\.db: skeleton schema {SCHEMA_VERSION + 1}, this version reads {SCHEMA_VERSION}"):
        SkeletonStore(db)


class _Payload:
    ran = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (setattr, (_Payload, "ran", True))


@pytest.mark.parametrize("corrupt", [
    lambda blob: blob[: len(blob) // 2],
    lambda blob: bytes(byte ^ 0xFF for byte in blob),
    lambda blob: random.Random(3).randbytes(len(blob)),
    lambda blob: blob + b"\x00",
    lambda blob: msgpack.packb({"not": "a record"}),
    lambda blob: msgpack.packb([99, "pkg", False, False, None, None, [], []]),
    lambda blob: pickle.dumps(_Payload()),
], ids=["truncated", "inverted", "random", "trailing byte", "another msgpack", "another schema", "a pickle"])
def test_a_corrupt_stored_record_is_refused_by_unpack_and_never_unpickled(db: Path, corrupt: Any) -> None:
    [(blob,)] = rows(db, "SELECT record FROM files WHERE relpath = 'pkg/core.py'")
    assert unpack(blob).module == "pkg.core"
    with pytest.raises(ValueError, match="skeleton record"):
        unpack(corrupt(blob))
    assert not _Payload.ran


# Incremental against from scratch.

SOURCES = [
    "def f(a, b=1): ...\n",
    "class C:\n    def m(self, x: int) -> str: ...\n",
    "from .m1 import *\n__all__ = ['f', 'C']\n",
    "from .m0 import f as g\nX: int = 1\n",
    "def broken(:\n",
    "",
]
MODULES = ["pkg/__init__.py", "pkg/m0.py", "pkg/m1.py", "pkg/m2.py"]


class IncrementalMachine(RuleBasedStateMachine):
    """Edits a package at random, runs (or stops half-way); after every full run the store is the one from scratch."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="omega-skeleton-"))
        self.package = write_files(self.dir / "src", {"pkg/__init__.py": SOURCES[0]}) / "pkg"
        self.db = self.dir / "incremental.db"
        self.clock = 1_600_000_000

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def tick(self, path: Path) -> None:
        self.clock += 1  # a distinct mtime for every write: same size and mtime would mean unchanged, by design
        set_mtime(path, self.clock)

    @rule(module=st.sampled_from(MODULES), source=st.sampled_from(SOURCES))
    def write_a_module(self, module: str, source: str) -> None:
        path = self.dir / "src" / module
        path.write_text(source)
        self.tick(path)

    @precondition(lambda self: len(list(self.package.iterdir())) > 1)
    @rule(data=st.data())
    def delete_a_module(self, data: st.DataObject) -> None:
        choices = sorted(path.name for path in self.package.glob("m*.py"))
        if choices:
            (self.package / data.draw(st.sampled_from(choices))).unlink()

    @rule(data=st.data())
    def touch_a_module(self, data: st.DataObject) -> None:
        self.tick(self.package / data.draw(st.sampled_from(sorted(path.name for path in self.package.glob("*.py")))))

    @rule()
    def run_to_the_end(self) -> None:
        run(self.db, self.package)
        fresh = self.dir / "fresh.db"
        run(fresh, self.package)
        try:
            assert files_of(self.db) == files_of(fresh)
            assert api_of(self.db) == api_of(fresh)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{fresh}{suffix}").unlink(missing_ok=True)

    @rule(stop_after=st.sampled_from(["plan", "record"]))
    def run_and_stop_half_way(self, stop_after: str) -> None:
        run(self.db, self.package, stop_after=stop_after)


def test_an_incremental_store_always_agrees_with_one_extracted_from_scratch() -> None:
    run_state_machine_as_test(IncrementalMachine, settings=settings(max_examples=30, stateful_step_count=15, deadline=None))


def test_a_damaged_stored_record_fails_its_file_and_the_next_run_reads_it_again(tmp_path):
    source = tmp_path / "src" / "pkg"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("def f(a):\n    pass\n")
    (source / "other.py").write_text("def g(b):\n    pass\n")
    db = tmp_path / "api.db"
    with SkeletonStore(db) as store:
        package_id, jobs, _ = store.plan(directory(source))
        store.record(package_id, jobs, [read(job) for job in jobs])
        store.finish(package_id, changed=True)
        with store.db:
            store.db.execute("UPDATE files SET record = x'c1' WHERE relpath = 'pkg/__init__.py'")
        store.finish(package_id, changed=True)
        assert ("pkg", "pkg/__init__.py") == store.failures()[0][:2]
        assert [row[0] for row in store.db.execute("SELECT path FROM objects")] == ["pkg.other.g"]
        package_id, jobs, unchanged = store.plan(directory(source))
        assert [job.file.relpath for job in jobs] == ["pkg/__init__.py"] and unchanged == 1
        store.record(package_id, jobs, [read(job) for job in jobs])
        store.finish(package_id, changed=True)
        assert store.failures() == []
        assert sorted(row[0] for row in store.db.execute("SELECT path FROM objects")) == ["pkg.f", "pkg.other.g"]
