"""The store on a thread of its own, so that the coordinator keeps its workers fed while it writes.

Rebuilding a large package's API (numpy: about 20,000 objects) takes about
half a second. Done in the coordinator's handler, that is half a second in
which the workers run dry. :class:`StoreWriter` owns the
:class:`~.store.SkeletonStore` on one thread (SQLite connections stay on the
thread that made them) and runs every call there, in order; the coordinator
only waits when it needs an answer (a plan) or at the end of a run. SQLite
releases the GIL while it writes, so the two overlap.

A failed write is not swallowed: the next call or :meth:`StoreWriter.close`
raises it, and the coordinator crashes (let it crash).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .store import SkeletonStore

T = TypeVar("T")


class StoreWriter:
    def __init__(self, path: str | Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skeleton-store")
        self._pending: list[Future[Any]] = []
        self._store: SkeletonStore = self._pool.submit(SkeletonStore, path).result()

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        """Run ``call(store, *args)`` on the store's thread, after what came before."""
        self._raise_failures()
        self._pending.append(self._pool.submit(call, self._store, *args))

    def ask(self, call: Callable[..., T], *args: Any) -> T:
        """Run ``call(store, *args)`` after everything before it, and wait for its result."""
        self._raise_failures()
        return self._pool.submit(call, self._store, *args).result()

    def close(self) -> None:
        """Wait for every write, close the store, and raise the first failure, if any."""
        try:
            self._pool.submit(self._store.close)
            self._pool.shutdown(wait=True)
        finally:
            self._raise_failures()

    def _raise_failures(self) -> None:
        still = []
        for future in self._pending:
            if not future.done():
                still.append(future)
            elif future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        self._pending = still
