"""The constellation store's contract, run against every engine: SQLite in a directory, PostgreSQL in a schema."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from omega_actors.errors import StoreError
from omega_actors.storage.constellation import (
    ConstellationStore,
    SQLiteConstellationStore,
)
from omega_actors.storage.constellation_postgres import (
    PostgresConstellationStore,
    redact,
)
from tests.conftest import require_service

POSTGRES_URL = os.environ.get("OMEGA_DATABASE_URL") or "postgresql://127.0.0.1:5432/test"


class Engine:
    """Opens stores at one place (a directory or a schema) and closes every one it opened."""

    def __init__(self, open_: Callable[[], ConstellationStore]) -> None:
        self._open = open_
        self._opened: list[ConstellationStore] = []

    def open(self) -> ConstellationStore:
        store = self._open()
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


def require_postgres() -> None:
    params = conninfo_to_dict(POSTGRES_URL)
    require_service("PostgreSQL", str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = Engine(lambda: SQLiteConstellationStore(tmp_path / "store"))
        yield engine
        engine.close_all()
        return
    require_postgres()
    schema = f"omega_test_{uuid.uuid4().hex[:12]}"
    engine = Engine(lambda: PostgresConstellationStore(POSTGRES_URL, schema=schema))
    try:
        yield engine
    finally:
        engine.close_all()
        drop_schema(schema)


@pytest.fixture
def store(engine: Engine) -> ConstellationStore:
    return engine.open()


def test_enrolled_devices_get_dense_indices_from_one_and_keep_them_when_re_keyed(store):
    assert [store.enroll(name, name.encode()) for name in ("a", "b", "c")] == [1, 2, 3]
    assert store.enroll("b", b"new key", 0.5) == 2
    assert store.enroll("d", b"d") == 4  # re-keying b did not use up an index


def test_two_stores_enrolling_at_once_share_one_dense_run_of_indices(engine, store):
    other = engine.open()
    start = threading.Barrier(2)

    def enroll_all(target: ConstellationStore, prefix: str) -> None:
        start.wait()
        for n in range(20):
            target.enroll(f"{prefix}{n}", b"k")

    threads = [threading.Thread(target=enroll_all, args=pair) for pair in ((store, "a"), (other, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(index for _, index, _, _ in store.devices()) == list(range(1, 41))


def test_devices_lists_every_device_with_its_latest_key_and_quality(store):
    store.enroll("tv1", b"k1", 0.25)
    store.enroll("tv2", b"k2")
    store.enroll("tv1", b"k1 again", 0.75)
    devices = store.devices()
    assert devices == [("tv1", 1, b"k1 again", 0.75), ("tv2", 2, b"k2", 1.0)]
    assert all(type(key) is bytes for _, _, key, _ in devices)


def test_appends_get_increasing_positions(store):
    positions = [store.append(0, batch, b"rows %d" % batch) for batch in (10, 11, 12)]
    assert all(isinstance(p, int) for p in positions) and positions == sorted(set(positions))


def test_a_batch_appended_twice_is_stored_once(store):
    first = store.append(0, 7, b"once")
    assert first is not None
    assert store.append(0, 7, b"once") is None
    assert store.shard(0) == (b"", [(first, b"once")])


def test_a_shard_returns_its_log_in_order_as_bytes(store):
    positions = [store.append(2, batch, bytes([batch]) * 3) for batch in range(5)]
    folded, log = store.shard(2)
    assert folded == b"" and log == [(p, bytes([b]) * 3) for b, p in enumerate(positions)]
    assert all(type(rows) is bytes for _, rows in log)


def test_an_empty_shard_has_no_table_and_no_log(store):
    assert store.shard(5) == (b"", [])


def test_replacing_the_table_drops_the_log_through_the_position_and_keeps_later_rows(store):
    first, second, third = (store.append(1, batch, b"r%d" % batch) for batch in (1, 2, 3))
    store.replace_table(1, b"folded 1-2", second)
    folded, log = store.shard(1)
    assert folded == b"folded 1-2" and type(folded) is bytes
    assert log == [(third, b"r3")]


def test_positions_keep_increasing_after_the_whole_log_was_folded(store):
    last = store.append(0, 1, b"r1")
    store.replace_table(0, b"folded", last)
    later = store.append(0, 2, b"r2")
    assert later is not None and later > last


def test_a_failed_replace_leaves_both_the_table_and_the_log_as_they_were(store):
    position = store.append(0, 1, b"r1")
    store.replace_table(0, b"old", 0)
    with pytest.raises(Exception):
        store.replace_table(0, None, position)  # the table cannot be stored, so the log must not be dropped
    assert store.shard(0) == (b"old", [(position, b"r1")])
    assert store.append(0, 2, b"r2") is not None  # and the store is usable afterwards


def test_shards_are_independent(store):
    a = store.append(0, 1, b"zero")
    b = store.append(1, 1, b"one")  # the same batch id in another shard is another batch
    assert a is not None and b is not None
    store.replace_table(0, b"folded zero", a)
    assert store.shard(0) == (b"folded zero", [])
    assert store.shard(1) == (b"", [(b, b"one")])


def test_bundles_round_trip_and_a_newer_one_replaces_the_older(store):
    assert store.bundle("tv") is None
    store.put_bundle("tv", 1, b"first")
    store.put_bundle("radio", 4, b"other")
    store.put_bundle("tv", 2, b"second")
    assert store.bundle("tv") == (2, b"second") and store.bundle("radio") == (4, b"other")
    assert type(store.bundle("tv")[1]) is bytes


def test_states_round_trip_and_overwrite(store):
    assert store.state("trends") is None
    store.put_state("trends", b"t1")
    store.put_state("trends", b"t2")
    store.put_state("privacy_spent", b"")
    assert store.state("trends") == b"t2" and type(store.state("trends")) is bytes
    assert store.state("privacy_spent") == b""


def test_everything_survives_closing_and_reopening_the_store(engine, store):
    store.enroll("tv1", b"key", 0.5)
    kept = store.append(3, 1, b"kept")
    folded = store.append(3, 2, b"folded")
    store.replace_table(3, b"table", min(kept, folded))
    store.put_bundle("tv", 9, b"body")
    store.put_state("trends", b"state")
    store.close()
    reopened = engine.open()
    assert reopened.devices() == [("tv1", 1, b"key", 0.5)]
    assert reopened.shard(3) == (b"table", [(max(kept, folded), b"folded")])
    assert reopened.bundle("tv") == (9, b"body") and reopened.state("trends") == b"state"
    assert reopened.append(3, 2, b"folded") is None  # still remembered as stored
    assert reopened.enroll("tv2", b"k2") == 2


def test_a_shard_must_be_a_whole_number_not_below_zero(store):
    for shard in (-1, 1.0, True, "0"):
        with pytest.raises(StoreError, match="a shard is a whole number"):
            store.append(shard, 1, b"r")


# PostgreSQL only: its configuration can be wrong in ways a directory cannot.


def test_a_schema_name_with_anything_but_identifier_characters_is_refused():
    for schema in ("", "omega; DROP TABLE x", "9lives", 'a"b', "x" * 64):
        with pytest.raises(StoreError, match="a schema name is"):
            PostgresConstellationStore("postgresql://127.0.0.1:1/none", schema=schema)


def test_an_unreachable_database_is_a_store_error_naming_the_url_without_its_password():
    with pytest.raises(StoreError, match="cannot connect") as caught:
        PostgresConstellationStore("postgresql://omega:s3cret@127.0.0.1:1/none?connect_timeout=2")
    assert "postgresql://omega:***@127.0.0.1:1/none" in str(caught.value) and "s3cret" not in str(caught.value)


def test_a_password_is_hidden_in_every_form_of_connection_string():
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://h/db?password=pw&sslmode=require") == "postgresql://h/db?password=***&sslmode=require"
    assert redact("host=h password='p w' dbname=db") == "host=h password=*** dbname=db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
