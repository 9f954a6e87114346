"""Injectable clocks.

Restart intensity, backoff resets and anything else that reasons about time
reads a :class:`Clock`, never ``time`` directly, so tests can move time by
hand instead of sleeping.

- :class:`MonotonicClock`: the real one (the default).
- :class:`ManualClock`: moved by hand, for pure code in one process.
- :class:`FileClock`: moved by hand and shared between processes through an
  8-byte memory-mapped file, so actors on ``multiprocTCPBase`` (one process
  each) all see the time a test sets. It pickles as its path.

Timers that wake an actor up (backoff delays, shutdown timeouts) still run on
real time: a clock here decides what *counts* as recent, not when mail comes.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from typing import Protocol, runtime_checkable

from .frame_types import travels

_DOUBLE = struct.Struct("<d")


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences are meaningful."""
        ...


@travels
class MonotonicClock:
    """``time.monotonic``: system-wide on Linux, so comparable across processes."""

    def now(self) -> float:
        return time.monotonic()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MonotonicClock)

    def __hash__(self) -> int:
        return hash(MonotonicClock)

    def __repr__(self) -> str:
        return "MonotonicClock()"


@travels
class ManualClock:
    """A clock that only moves when told to (one process only)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward; got {seconds!r} seconds")
        self._now += seconds


@travels
class FileClock:
    """A hand-moved clock shared by every process that opens the same file.

    ``FileClock.create(path, start)`` writes the file; ``FileClock(path)``
    only names it, so rebuilding one from a frame touches no file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._map: mmap.mmap | None = None

    @classmethod
    def create(cls, path: str | os.PathLike[str], start: float) -> FileClock:
        """A new clock file at ``path``, reading ``start``."""
        with open(path, "wb") as handle:
            handle.write(_DOUBLE.pack(float(start)))
        return cls(path)

    def _mapped(self) -> mmap.mmap:
        if self._map is None:
            with open(self.path, "r+b") as handle:
                self._map = mmap.mmap(handle.fileno(), _DOUBLE.size)
        return self._map

    def now(self) -> float:
        return float(_DOUBLE.unpack_from(self._mapped(), 0)[0])

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward; got {seconds!r} seconds")
        _DOUBLE.pack_into(self._mapped(), 0, self.now() + seconds)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def __getstate__(self) -> dict[str, str]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.path = state["path"]
        self._map = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileClock) and other.path == self.path

    def __hash__(self) -> int:
        return hash((FileClock, self.path))

    def __repr__(self) -> str:
        return f"FileClock({self.path!r})"
