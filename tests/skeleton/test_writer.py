"""The store on its own thread: calls run there in order, and a failed write is raised, never swallowed.

Tests hold a call on the store's thread with a :class:`threading.Event` when
they need to know where it is; none of them sleeps.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from omega_actors.skeleton.store import SkeletonStore
from omega_actors.skeleton.writer import StoreWriter

WAIT = 10.0  # seconds: only ever reached if the writer is broken


class Boom(Exception):
    pass


@pytest.fixture
def writer(tmp_path: Path):
    writer = StoreWriter(tmp_path / "skeleton.db")
    yield writer
    writer.close()


def fail(store: SkeletonStore, go: threading.Event, message: str) -> None:
    assert go.wait(WAIT)
    raise Boom(message)


def test_calls_run_in_the_order_given_all_on_one_thread_that_is_not_the_callers(writer: StoreWriter) -> None:
    seen: list[tuple[int, int]] = []
    for index in range(50):
        writer.submit(lambda store, index: seen.append((index, threading.get_ident())), index)
    order = writer.ask(lambda store: list(seen))
    assert [index for index, _ in order] == list(range(50))
    threads = {thread for _, thread in order}
    assert len(threads) == 1 and threads != {threading.get_ident()}


def test_the_store_is_made_and_used_on_the_writers_thread(writer: StoreWriter, tmp_path: Path) -> None:
    def counts(store: SkeletonStore) -> dict[str, int]:
        return store.counts()  # sqlite3 raises ProgrammingError if a connection is used off its own thread

    assert writer.ask(counts)["packages"] == 0
    assert writer.ask(lambda store: store.path) == tmp_path / "skeleton.db"


def test_submit_does_not_wait_for_the_call_and_ask_waits_for_everything_before_it(writer: StoreWriter) -> None:
    go, done = threading.Event(), threading.Event()
    writer.submit(lambda store: (go.wait(WAIT), done.set()))
    assert not done.is_set(), "submit waited for its call"
    go.set()
    assert writer.ask(lambda store: done.is_set())


def test_a_failed_submitted_call_is_raised_by_the_next_call(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "skeleton.db")
    go, past = threading.Event(), threading.Event()
    writer.submit(fail, go, "disk full")
    writer.submit(lambda store: past.set())  # the failure is not done yet: nothing to raise
    go.set()
    assert past.wait(WAIT)  # the failed call has run: calls run in order
    with pytest.raises(Boom, match="disk full"):
        writer.submit(lambda store: None)
    with pytest.raises(Boom, match="disk full"):
        writer.ask(lambda store: None)
    with pytest.raises(Boom, match="disk full"):
        writer.close()


def test_a_failed_submitted_call_is_raised_by_close_and_the_store_is_closed_anyway(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = []
    close = SkeletonStore.close
    monkeypatch.setattr(SkeletonStore, "close", lambda store: (close(store), closed.append(threading.get_ident())))
    writer = StoreWriter(tmp_path / "skeleton.db")
    thread = writer.ask(lambda store: threading.get_ident())
    go = threading.Event()
    writer.submit(fail, go, "constraint failed")
    go.set()
    with pytest.raises(Boom, match="constraint failed"):
        writer.close()
    assert closed == [thread], "the store is closed once, on its own thread"


def test_an_ask_that_fails_raises_its_own_exception_to_the_asker(writer: StoreWriter) -> None:
    def bad(store: SkeletonStore) -> None:
        raise Boom("no such package")

    with pytest.raises(Boom, match="no such package"):
        writer.ask(bad)
    assert writer.ask(lambda store: "still serving") == "still serving"


def test_close_waits_for_every_submitted_call(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "skeleton.db")
    ran: list[int] = []
    go = threading.Event()
    writer.submit(lambda store: go.wait(WAIT))
    for index in range(20):
        writer.submit(lambda store, index: ran.append(index), index)
    go.set()
    writer.close()
    assert ran == list(range(20))
