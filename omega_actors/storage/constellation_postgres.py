"""The constellation's store on PostgreSQL: the contract of :class:`~omega_actors.storage.constellation.ConstellationStore`.

:func:`~omega_actors.storage.constellation.open_store` picks it when
``OMEGA_DATABASE_URL`` is set::

    store = PostgresConstellationStore("postgresql://db.example/omega", schema="omega")
    position = store.append(3, batch_id, rows)  # committed on return; None if batch_id was stored before

Everything lives in one schema (created with its tables when missing):
``devices``, ``bundles``, ``states``, ``shard_log`` (one row per committed
batch) and ``shard_folded`` (one folded table per shard). One connection,
one lock, and every method is one transaction committed before it returns.

Design notes:

- Device indices are ``max(idx) + 1`` under a table lock, not an identity
  column. A sequence burns a value on every conflicting upsert (each
  re-enroll) and every rolled-back insert; the indices size a numpy array,
  so they stay dense, as SQLite's rowids do.
- An append or a fold of a shard holds an advisory lock on that shard for
  its transaction. Log positions come from one sequence, and the lock makes
  a shard's positions commit in the order they were drawn, even with several
  writers: a fold ``through`` a position never passes over a smaller one
  still uncommitted.
- ``shard`` reads in REPEATABLE READ, so the folded table and the log come
  from one snapshot, never from either side of a fold.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from omega_actors.errors import StoreError

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_SHARD = (1 << 31) - 1  # the shard column is a PostgreSQL int
_SETUP = -1  # the advisory lock taken while creating the schema; shards lock their own number (>= 0)

_DDL: tuple[LiteralString, ...] = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {devices} (idx bigint PRIMARY KEY, name text NOT NULL UNIQUE, key bytea NOT NULL,"
    " quality double precision NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {bundles} (cohort text PRIMARY KEY, version bigint NOT NULL, body bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {states} (name text PRIMARY KEY, value bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {shard_log} (pos bigserial PRIMARY KEY, shard int NOT NULL, batch bigint NOT NULL,"
    " rows bytea NOT NULL, UNIQUE (shard, batch))",
    "CREATE TABLE IF NOT EXISTS {shard_folded} (shard int PRIMARY KEY, rows bytea NOT NULL, through bigint NOT NULL)",
)
_QUERIES: dict[str, LiteralString] = {
    "lock_devices": "LOCK TABLE {devices} IN SHARE ROW EXCLUSIVE MODE",
    "enroll": "INSERT INTO {devices} (idx, name, key, quality) SELECT coalesce(max(idx), 0) + 1, %s, %s, %s"
              " FROM {devices} ON CONFLICT (name) DO UPDATE SET key = excluded.key, quality = excluded.quality"
              " RETURNING idx",
    "devices": "SELECT name, idx, key, quality FROM {devices} ORDER BY idx",
    "append": "INSERT INTO {shard_log} (shard, batch, rows) VALUES (%s, %s, %s)"
              " ON CONFLICT (shard, batch) DO NOTHING RETURNING pos",
    "folded": "SELECT rows FROM {shard_folded} WHERE shard = %s",
    "log": "SELECT pos, rows FROM {shard_log} WHERE shard = %s ORDER BY pos",
    "fold": "INSERT INTO {shard_folded} (shard, rows, through) VALUES (%s, %s, %s)"
            " ON CONFLICT (shard) DO UPDATE SET rows = excluded.rows, through = excluded.through",
    "drop_log": "DELETE FROM {shard_log} WHERE shard = %s AND pos <= %s",
    "put_bundle": "INSERT INTO {bundles} (cohort, version, body) VALUES (%s, %s, %s)"
                  " ON CONFLICT (cohort) DO UPDATE SET version = excluded.version, body = excluded.body",
    "bundle": "SELECT version, body FROM {bundles} WHERE cohort = %s",
    "put_state": "INSERT INTO {states} (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    "state": "SELECT value FROM {states} WHERE name = %s",
}  # fmt: skip


def redact(url: str) -> str:
    """``url`` without its password, fit for an error message (URI or ``key=value`` form)."""
    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _check_schema(schema: object) -> str:
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError("a schema name is a letter or underscore, then letters, digits or underscores, "
                         f"63 characters at most; got {schema!r}")
    return schema


def _check_shard(shard: object) -> int:
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard <= _MAX_SHARD:
        raise StoreError(f"a shard is a whole number from 0 to {_MAX_SHARD}; got {shard!r}")
    return shard


def _lock_key(schema: str) -> int:
    """The schema's half of its advisory lock keys: a stable signed 32-bit hash."""
    key = zlib.crc32(schema.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


class PostgresConstellationStore:
    def __init__(self, url: str, schema: str = "omega") -> None:
        self.schema = _check_schema(schema)
        self._where = f"{redact(url)} (schema {schema})"
        self._lock = threading.Lock()
        self._lock_key = _lock_key(schema)
        names: dict[str, sql.Composable] = {"schema": sql.Identifier(schema)}
        names.update((table, sql.Identifier(schema, table)) for table in ("devices", "bundles", "states", "shard_log",
                                                                           "shard_folded"))
        self._sql = {name: sql.SQL(text).format(**names) for name, text in _QUERIES.items()}
        try:
            self._conn = psycopg.connect(url, autocommit=False)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the constellation store at {self._where}: {exc}") from None
        try:
            self._create(names)
        except BaseException:
            self._conn.close()
            raise

    def _create(self, names: dict[str, sql.Composable]) -> None:
        with self._transaction() as cur:
            # Two stores starting at once would race on CREATE ... IF NOT EXISTS (a unique violation in the catalog).
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self._lock_key, _SETUP))
            for statement in _DDL:
                cur.execute(sql.SQL(statement).format(**names))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction under the lock: committed when the block ends, rolled back when it raises."""
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    yield cur
                self._conn.commit()
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, psycopg.OperationalError):
                    raise StoreError(f"the constellation store at {self._where} failed: {exc}") from exc
                raise

    def _rollback(self) -> None:
        if self._conn.closed:
            return
        try:
            self._conn.rollback()
        except psycopg.Error:
            pass  # the connection is gone; the error that brought us here is the one to report

    def _lock_shard(self, cur: psycopg.Cursor[Any], shard: int) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self._lock_key, shard))

    def enroll(self, name: str, key: bytes, quality: float = 1.0) -> int:
        with self._transaction() as cur:
            cur.execute(self._sql["lock_devices"])  # max(idx) + 1 must not be read by two enrolls at once
            cur.execute(self._sql["enroll"], (name, key, float(quality)))
            return int(_one(cur)[0])

    def devices(self) -> list[tuple[str, int, bytes, float]]:
        with self._transaction() as cur:
            cur.execute(self._sql["devices"])
            return [(n, int(i), bytes(k), float(q)) for n, i, k, q in cur.fetchall()]

    def append(self, shard: int, batch: int, rows: bytes) -> int | None:
        shard = _check_shard(shard)
        with self._transaction() as cur:
            self._lock_shard(cur, shard)
            cur.execute(self._sql["append"], (shard, batch, rows))
            row = cur.fetchone()
            return int(row[0]) if row else None

    def shard(self, shard: int) -> tuple[bytes, list[tuple[int, bytes]]]:
        shard = _check_shard(shard)
        with self._transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(self._sql["folded"], (shard,))
            folded = cur.fetchone()
            cur.execute(self._sql["log"], (shard,))
            log = [(int(p), bytes(r)) for p, r in cur.fetchall()]
            return (bytes(folded[0]) if folded else b""), log

    def replace_table(self, shard: int, table: bytes, through: int) -> None:
        shard = _check_shard(shard)
        with self._transaction() as cur:
            self._lock_shard(cur, shard)
            cur.execute(self._sql["fold"], (shard, table, through))
            cur.execute(self._sql["drop_log"], (shard, through))

    def put_bundle(self, cohort: str, version: int, body: bytes) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql["put_bundle"], (cohort, version, body))

    def bundle(self, cohort: str) -> tuple[int, bytes] | None:
        with self._transaction() as cur:
            cur.execute(self._sql["bundle"], (cohort,))
            row = cur.fetchone()
            return (int(row[0]), bytes(row[1])) if row else None

    def put_state(self, name: str, value: bytes) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql["put_state"], (name, value))

    def state(self, name: str) -> bytes | None:
        with self._transaction() as cur:
            cur.execute(self._sql["state"], (name,))
            row = cur.fetchone()
            return bytes(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _one(cur: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cur.fetchone()
    if row is None:
        raise StoreError("PostgreSQL returned no row where the statement always returns one")
    return tuple(row)
