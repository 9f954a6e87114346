"""The constellation's durable state: enrolled devices, shard logs and tables, bundles, small named states.

One contract (:class:`ConstellationStore`), two engines:

- :class:`SQLiteConstellationStore`, the embedded default: a directory with
  ``constellation.sqlite`` (devices, bundles, states) and one
  ``shard-<n>.sqlite`` per shard, so shard processes never wait on each
  other's writes. WAL with ``synchronous=FULL``: a commit survives power
  loss, not just a killed process.
- :class:`~omega_actors.storage.constellation_postgres.PostgresConstellationStore`
  (psycopg), chosen when ``OMEGA_DATABASE_URL`` is set.

The store deals in bytes only: a shard's rows are the federation layer's
fixed-width arrays, written as one blob per committed batch (``append``)
and folded into one blob per shard (``replace_table``). That is what lets
one commit carry thousands of pushes. ``append`` is idempotent by batch id,
so a batch sent again after its shard was killed is stored once (or, once
the log was folded past it, again: folding keeps one row per device and
pattern, so a second copy changes nothing).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from omega_actors.errors import StoreError


class ConstellationStore(Protocol):
    def enroll(self, name: str, key: bytes, quality: float = 1.0) -> int:
        """Enroll (or re-key) a device; its dense index, stable for its lifetime."""
        ...

    def devices(self) -> list[tuple[str, int, bytes, float]]:
        """(name, index, key, quality) of every enrolled device."""
        ...

    def append(self, shard: int, batch: int, rows: bytes) -> int | None:
        """Store one batch's rows, committed on return; its log position, or None when ``batch`` was stored before."""
        ...

    def shard(self, shard: int) -> tuple[bytes, list[tuple[int, bytes]]]:
        """The shard's folded table and its log since then, as (position, rows) in order."""
        ...

    def replace_table(self, shard: int, table: bytes, through: int) -> None:
        """Store a folded table and drop the log up to ``through``, in one transaction."""
        ...

    def put_bundle(self, cohort: str, version: int, body: bytes) -> None: ...

    def bundle(self, cohort: str) -> tuple[int, bytes] | None: ...

    def put_state(self, name: str, value: bytes) -> None: ...

    def state(self, name: str) -> bytes | None: ...

    def close(self) -> None: ...


_MAIN_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, key BLOB NOT NULL, quality REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (cohort TEXT PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS states (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
_SHARD_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (pos INTEGER PRIMARY KEY AUTOINCREMENT, batch INTEGER NOT NULL UNIQUE, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS folded (id INTEGER PRIMARY KEY CHECK (id = 0), rows BLOB NOT NULL, through INTEGER NOT NULL);
"""


def _enter_wal(db: sqlite3.Connection, deadline: float) -> None:
    # Two connections switching a new file to WAL at once: SQLite answers one "database is locked" at once,
    # without its busy timeout (it would deadlock otherwise), so the loser waits and asks again.
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteConstellationStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the constellation store at {self.directory}: {exc}") from None
        self._lock = threading.Lock()
        self._connections: dict[str, sqlite3.Connection] = {}

    def _db(self, name: str, schema: str) -> sqlite3.Connection:
        db = self._connections.get(name)
        if db is None:
            db = sqlite3.connect(self.directory / name, isolation_level=None, check_same_thread=False, timeout=30.0)
            _enter_wal(db, deadline=time.monotonic() + 30.0)
            db.execute("PRAGMA synchronous=FULL")  # an ack is a promise: the commit must survive power loss
            db.executescript(schema)
            self._connections[name] = db
        return db

    def _main(self) -> sqlite3.Connection:
        return self._db("constellation.sqlite", _MAIN_SCHEMA)

    def _shard(self, shard: int) -> sqlite3.Connection:
        if isinstance(shard, bool) or not isinstance(shard, int) or shard < 0:
            raise StoreError(f"a shard is a whole number >= 0; got {shard!r}")
        return self._db(f"shard-{shard}.sqlite", _SHARD_SCHEMA)

    def enroll(self, name: str, key: bytes, quality: float = 1.0) -> int:
        with self._lock:
            db = self._main()
            db.execute("INSERT INTO devices (name, key, quality) VALUES (?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET key = excluded.key, quality = excluded.quality",
                       (name, key, float(quality)))
            return int(db.execute("SELECT idx FROM devices WHERE name = ?", (name,)).fetchone()[0])

    def devices(self) -> list[tuple[str, int, bytes, float]]:
        with self._lock:
            return [(n, int(i), bytes(k), float(q))
                    for n, i, k, q in self._main().execute("SELECT name, idx, key, quality FROM devices ORDER BY idx")]

    def append(self, shard: int, batch: int, rows: bytes) -> int | None:
        with self._lock:
            db = self._shard(shard)
            cursor = db.execute("INSERT INTO log (batch, rows) VALUES (?, ?) ON CONFLICT (batch) DO NOTHING", (batch, rows))
            return int(cursor.lastrowid) if cursor.rowcount == 1 and cursor.lastrowid is not None else None

    def shard(self, shard: int) -> tuple[bytes, list[tuple[int, bytes]]]:
        with self._lock:
            db = self._shard(shard)
            db.execute("BEGIN")
            try:
                folded = db.execute("SELECT rows, through FROM folded").fetchone()
                log = [(int(p), bytes(r)) for p, r in db.execute("SELECT pos, rows FROM log ORDER BY pos")]
            finally:
                db.execute("COMMIT")
            return (bytes(folded[0]) if folded else b""), log

    def replace_table(self, shard: int, table: bytes, through: int) -> None:
        with self._lock:
            db = self._shard(shard)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT INTO folded VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET rows = excluded.rows, "
                           "through = excluded.through", (table, through))
                db.execute("DELETE FROM log WHERE pos <= ?", (through,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def put_bundle(self, cohort: str, version: int, body: bytes) -> None:
        with self._lock:
            self._main().execute("INSERT INTO bundles VALUES (?, ?, ?) ON CONFLICT (cohort) DO UPDATE SET "
                                 "version = excluded.version, body = excluded.body", (cohort, version, body))

    def bundle(self, cohort: str) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._main().execute("SELECT version, body FROM bundles WHERE cohort = ?", (cohort,)).fetchone()
            return (int(row[0]), bytes(row[1])) if row else None

    def put_state(self, name: str, value: bytes) -> None:
        with self._lock:
            self._main().execute("INSERT INTO states VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                                 (name, value))

    def state(self, name: str) -> bytes | None:
        with self._lock:
            row = self._main().execute("SELECT value FROM states WHERE name = ?", (name,)).fetchone()
            return bytes(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            for db in self._connections.values():
                db.close()
            self._connections.clear()


def open_store(directory: str | os.PathLike[str], url: str | None = None) -> ConstellationStore:
    """PostgreSQL when ``url`` (or ``OMEGA_DATABASE_URL``) is set, else SQLite in ``directory``."""
    url = url if url is not None else os.environ.get("OMEGA_DATABASE_URL") or None
    if url:
        from omega_actors.storage.constellation_postgres import (
            PostgresConstellationStore,
        )

        return PostgresConstellationStore(url)
    return SQLiteConstellationStore(directory)
