"""The skeleton store: one SQLite file, normalised, indexed for name lookups.

Tables (``sqlite3 skeleton.db .schema`` shows them with their indexes):

- ``packages``: name, version, origin (installed, directory, wheel, sdist), root;
- ``files``: each source file of a package, keyed by its path inside the
  package, with size, mtime and SHA-256, ``status`` ``ok`` or ``failed`` with
  the ``reason``, and the file's extracted record (msgpack);
- ``modules``, ``objects``, ``parameters``, ``exports``: the package's API
  as :mod:`.resolve` decides it, rebuilt from the stored records whenever a
  file of the package changed.

**Incremental.** :meth:`SkeletonStore.plan` sorts a package's files into those
whose size and mtime match what is stored (not read again) and those to
extract; a worker that finds the content hash unchanged reports ``same`` and
the file is not parsed again either (:meth:`SkeletonStore.touch`). Files gone
from the package are dropped. A package whose files all stayed the same keeps
its API rows as they are. A change to a package's files marks it stale (a
``stale:<id>`` row in ``meta``) in the transaction that makes the change, and
:meth:`SkeletonStore.finish` clears the mark in the one that rebuilds the API:
a run that stops in between leaves the rebuild to the next run.

Every write of one batch or one package is one transaction, so a crash
leaves the store as it was before that batch. :meth:`SkeletonStore.query` runs on a
read-only connection: a query cannot change the store, nor attach another file.

A file that is not a skeleton store (not SQLite, or another program's
database) is refused before anything is written to it.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .extract import unpack
from .resolve import PackageApi, resolve_package
from .signature import format_signature
from .sources import PackageSource, SourceFile

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, version TEXT NOT NULL, origin TEXT NOT NULL,
    root TEXT NOT NULL, extracted_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    relpath TEXT NOT NULL, module TEXT NOT NULL, is_stub INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason TEXT, record BLOB, UNIQUE (package_id, relpath));
CREATE TABLE IF NOT EXISTS modules (
    id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    name TEXT NOT NULL, is_package INTEGER NOT NULL, has_source INTEGER NOT NULL, has_stub INTEGER NOT NULL,
    doc TEXT, all_names TEXT, public INTEGER NOT NULL, UNIQUE (package_id, name));
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    module TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL,
    line INTEGER NOT NULL, end_line INTEGER NOT NULL, doc TEXT, decorators TEXT NOT NULL, bases TEXT NOT NULL,
    signature TEXT, returns TEXT, is_async INTEGER NOT NULL, annotation TEXT, value TEXT,
    locally_public INTEGER NOT NULL, public INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parameters (
    object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE, position INTEGER NOT NULL,
    name TEXT NOT NULL, kind TEXT NOT NULL, annotation TEXT, default_value TEXT, PRIMARY KEY (object_id, position));
CREATE TABLE IF NOT EXISTS exports (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE, module TEXT NOT NULL,
    name TEXT NOT NULL, target TEXT, resolved TEXT, public INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS objects_path ON objects (path);
CREATE INDEX IF NOT EXISTS objects_name ON objects (name);
CREATE INDEX IF NOT EXISTS objects_package ON objects (package_id);
CREATE INDEX IF NOT EXISTS modules_name ON modules (name);
CREATE INDEX IF NOT EXISTS exports_name ON exports (module, name);
CREATE INDEX IF NOT EXISTS exports_package ON exports (package_id);
CREATE INDEX IF NOT EXISTS files_failed ON files (status) WHERE status = 'failed';
"""



@dataclass(frozen=True)
class Job:
    """One file to read: ``known`` is the stored hash, so an unchanged file is not parsed again."""

    package: str
    file: SourceFile
    known: str | None


class FileStatus(enum.StrEnum):
    """What became of one file (the values are the ``files.status`` column's)."""

    OK = "ok"  # read and parsed: ``record`` holds its skeleton
    FAILED = "failed"  # ``reason`` says why
    SAME = "same"  # its hash is the stored one: not parsed again


@dataclass(frozen=True)
class FileOutcome:
    """What a worker made of one file."""

    relpath: str
    status: FileStatus
    sha256: str
    record: bytes | None = None
    reason: str | None = None


class SkeletonStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Implicit transactions: every write below runs inside `with self.db`, one commit per batch or package.
        self.db = sqlite3.connect(self.path, isolation_level="DEFERRED")
        try:
            new = self._check_schema()  # reads only: a file that is not a skeleton store is left as it was
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: a large package rewrites its rows in one transaction
            # A new store gets its tables and its schema row in one transaction; on an existing one this writes nothing.
            mark = f"INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');" if new else ""
            self.db.executescript(f"BEGIN; {SCHEMA} {mark} COMMIT;")
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise StoreError(f"{self.path}: not a skeleton database: {error}") from error
        except StoreError:
            self.db.close()
            raise

    def _check_schema(self) -> bool:
        """True for a new store; raises StoreError for a file that is not a skeleton store of this version."""
        tables = [row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if "meta" in tables else None
        if tables and row is None:
            raise StoreError(f"{self.path}: not a skeleton database: it has tables ({', '.join(tables)}) and no skeleton schema")
        if row is not None and row[0] != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: skeleton schema {row[0]}, this version reads {SCHEMA_VERSION}")
        return not tables

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SkeletonStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Extraction: plan, record outcomes, finish.

    def plan(self, source: PackageSource) -> tuple[int, list[Job], int]:
        """(package id, files to read, files unchanged by size and mtime); drops files gone from the package."""
        package_id = self._package_id(source)
        stored = {row[0]: row[1:] for row in self.db.execute(
            "SELECT relpath, size, mtime_ns, sha256, status FROM files WHERE package_id = ?", (package_id,))}
        present = {file.relpath for file in source.files}
        gone = [(package_id, relpath) for relpath in stored if relpath not in present]
        with self.db:
            self.db.executemany("DELETE FROM files WHERE package_id = ? AND relpath = ?", gone)
            if gone:
                self._mark_stale(package_id)
        jobs, unchanged = [], 0
        for file in source.files:
            old = stored.get(file.relpath)
            if old is not None and old[0] == file.size and old[1] == file.mtime_ns:
                unchanged += 1
            else:
                jobs.append(Job(source.name, file, old[2] if old else None))
        return package_id, jobs, unchanged

    def _package_id(self, source: PackageSource) -> int:
        with self.db:
            self.db.execute(
                "INSERT INTO packages (name, version, origin, root, extracted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, origin = excluded.origin, root = excluded.root",
                (source.name, source.version, source.origin, str(source.root), time.time()),
            )
        return int(self.db.execute("SELECT id FROM packages WHERE name = ?", (source.name,)).fetchone()[0])

    def record(self, package_id: int, jobs: Sequence[Job], outcomes: Sequence[FileOutcome]) -> bool:
        """Store one batch's outcomes (one transaction); True if any file's content changed."""
        by_path = {job.file.relpath: job.file for job in jobs}
        changed = False
        with self.db:
            for outcome in outcomes:
                file = by_path[outcome.relpath]
                if outcome.status == FileStatus.SAME:
                    self.touch(package_id, file)
                    continue
                changed = True
                self.db.execute(
                    "INSERT INTO files (package_id, relpath, module, is_stub, size, mtime_ns, sha256, status, reason, record) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, relpath) DO UPDATE SET "
                    "module = excluded.module, is_stub = excluded.is_stub, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                    "sha256 = excluded.sha256, status = excluded.status, reason = excluded.reason, record = excluded.record",
                    (package_id, file.relpath, file.module, int(file.is_stub), file.size, file.mtime_ns,
                     outcome.sha256, outcome.status, outcome.reason, outcome.record),
                )
            if changed:
                self._mark_stale(package_id)
        return changed

    def _mark_stale(self, package_id: int) -> None:
        """In the caller's transaction: the package's API no longer matches its files."""
        self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, '')", (f"stale:{package_id}",))

    def touch(self, package_id: int, file: SourceFile) -> None:
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE package_id = ? AND relpath = ?",
                        (file.size, file.mtime_ns, package_id, file.relpath))

    def finish(self, package_id: int, changed: bool) -> PackageApi | None:
        """Rebuild the package's API rows from its stored records, if anything changed."""
        stale = self.db.execute("SELECT 1 FROM meta WHERE key = ?", (f"stale:{package_id}",)).fetchone() is not None
        if not changed and not stale and self._has_api(package_id):
            return None
        records, unreadable = [], []
        for relpath, blob in self.db.execute("SELECT relpath, record FROM files WHERE package_id = ? AND status = 'ok'", (package_id,)):
            try:
                records.append(unpack(blob))
            except ValueError as error:  # a damaged row fails its file, not every later run of the package
                unreadable.append((f"stored record unreadable: {error}"[:300], package_id, relpath))
        api = resolve_package(records)
        with self.db:
            # size -1: the next run reads the file again instead of trusting its size and mtime.
            self.db.executemany("UPDATE files SET status = 'failed', reason = ?, record = NULL, size = -1, sha256 = '' "
                                "WHERE package_id = ? AND relpath = ?", unreadable)
            for table in ("modules", "objects", "exports"):
                self.db.execute(f"DELETE FROM {table} WHERE package_id = ?", (package_id,))
            self._write_api(package_id, api)
            self.db.execute("UPDATE packages SET extracted_at = ? WHERE id = ?", (time.time(), package_id))
            self.db.execute("DELETE FROM meta WHERE key = ?", (f"stale:{package_id}",))
        return api

    def _has_api(self, package_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM modules WHERE package_id = ? LIMIT 1", (package_id,)).fetchone() is not None

    def _write_api(self, package_id: int, api: PackageApi) -> None:
        self.db.executemany("INSERT INTO modules (package_id, name, is_package, has_source, has_stub, doc, all_names, public) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            (package_id, m.name, int(m.is_package), int(m.has_source), int(m.has_stub), m.doc,
             json.dumps(list(m.all_names)) if m.all_names is not None else None, int(m.public)) for m in api.modules])
        # Ids are given here rather than read back row by row, so that both tables load with executemany.
        first = int(self.db.execute("SELECT coalesce(max(id), 0) FROM objects").fetchone()[0]) + 1
        rows: list[tuple[Any, ...]] = []
        parameters: list[tuple[Any, ...]] = []
        for object_id, obj in enumerate(api.objects, start=first):
            d = obj.definition
            signature = format_signature(d.parameters, d.returns) if d.kind in ("function", "method") else None
            rows.append((object_id, package_id, obj.module, obj.path, obj.name, obj.parent, d.kind, d.line, d.end_line, d.doc,
                         json.dumps(d.decorators), json.dumps(d.bases), signature, d.returns, int(d.is_async),
                         d.annotation, d.value, int(obj.locally_public), int(obj.public)))
            parameters.extend((object_id, i, *p) for i, p in enumerate(d.parameters))
        self.db.executemany(
            "INSERT INTO objects (id, package_id, module, path, name, parent, kind, line, end_line, doc, decorators, bases, "
            "signature, returns, is_async, annotation, value, locally_public, public) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.db.executemany("INSERT INTO parameters VALUES (?, ?, ?, ?, ?, ?)", parameters)
        self.db.executemany("INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?)", [
            (package_id, e.module, e.name, e.target, e.resolved, int(e.public)) for e in api.exports])

    # Reading.

    def failures(self, package: str | None = None) -> list[tuple[str, str, str]]:
        """(package, path, reason) of every file that failed."""
        sql = ("SELECT p.name, f.relpath, f.reason FROM files f JOIN packages p ON p.id = f.package_id "
               "WHERE f.status = 'failed'" + (" AND p.name = ?" if package else "") + " ORDER BY p.name, f.relpath")
        return [tuple(row) for row in self.db.execute(sql, (package,) if package else ())]

    def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "packages": one("SELECT count(*) FROM packages").fetchone()[0],
            "files": one("SELECT count(*) FROM files").fetchone()[0],
            "failed": one("SELECT count(*) FROM files WHERE status = 'failed'").fetchone()[0],
            "modules": one("SELECT count(*) FROM modules").fetchone()[0],
            "objects": one("SELECT count(*) FROM objects").fetchone()[0],
            "public": one("SELECT count(*) FROM objects WHERE public").fetchone()[0],
        }

    def files(self, package: str) -> list[tuple[str, str, str]]:
        """(path, status, sha256) of a package's files, by path."""
        return [tuple(row) for row in self.db.execute(
            "SELECT f.relpath, f.status, f.sha256 FROM files f JOIN packages p ON p.id = f.package_id "
            "WHERE p.name = ? ORDER BY f.relpath", (package,))]


def query(path: str | Path, sql: str, parameters: Iterable[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; returns (column names, rows)."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such skeleton database")
    db = sqlite3.connect(f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro", uri=True)
    db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # ATTACH and VACUUM INTO would create files elsewhere
    try:
        db.execute("PRAGMA query_only = ON")
        cursor = db.execute(sql, tuple(parameters))
        columns = [column[0] for column in cursor.description or ()]
        return columns, [tuple(row) for row in cursor.fetchall()]
    except sqlite3.Error as error:
        raise StoreError(f"query refused: {error}") from error
    finally:
        db.close()
