"""Clocks: ManualClock in one process, FileClock shared through a mapped file."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_actors.runtime.clock import Clock, FileClock, ManualClock, MonotonicClock

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clocks() -> Iterator[list[FileClock]]:
    """FileClocks opened by a test, closed afterwards."""
    opened: list[FileClock] = []
    yield opened
    for clock in opened:
        clock.close()


def open_clock(clocks: list[FileClock], path: str | Path, start: float | None = None) -> FileClock:
    clock = FileClock(path) if start is None else FileClock.create(path, start)
    clocks.append(clock)
    return clock


def run_python(code: str, *args: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


# --- ManualClock -------------------------------------------------------------


def test_a_manual_clock_starts_at_zero_unless_told_otherwise() -> None:
    assert ManualClock().now() == 0.0
    assert ManualClock(start=12.5).now() == 12.5


def test_a_manual_clock_start_is_kept_as_a_float() -> None:
    assert type(ManualClock(3).now()) is float


def test_a_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(100.0)
    assert clock.now() == clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.advance(0)
    assert clock.now() == 102.5
    clock.advance(7)
    assert clock.now() == 109.5


@pytest.mark.parametrize("seconds", [-0.001, -5, math.nan])
def test_a_manual_clock_refuses_to_move_backwards_or_by_nan(seconds: float) -> None:
    clock = ManualClock(10.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds)
    assert clock.now() == 10.0


# --- MonotonicClock and the protocol -----------------------------------------


def test_every_clock_satisfies_the_clock_protocol(tmp_path: Path, clocks: list[FileClock]) -> None:
    assert isinstance(MonotonicClock(), Clock)
    assert isinstance(ManualClock(), Clock)
    assert isinstance(open_clock(clocks, tmp_path / "clock", start=0.0), Clock)
    assert not isinstance(object(), Clock)


def test_the_monotonic_clock_never_goes_back() -> None:
    clock = MonotonicClock()
    readings = [clock.now() for _ in range(100)]
    assert readings == sorted(readings)


def test_monotonic_clocks_are_all_equal_and_pickle_to_an_equal_one() -> None:
    assert MonotonicClock() == MonotonicClock()
    assert hash(MonotonicClock()) == hash(MonotonicClock())
    assert pickle.loads(pickle.dumps(MonotonicClock())) == MonotonicClock()
    assert MonotonicClock() != ManualClock()
    assert repr(MonotonicClock()) == "MonotonicClock()"


# --- FileClock in one process ------------------------------------------------


def test_a_file_clock_starts_at_the_given_time(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=42.0)
    assert clock.now() == 42.0
    assert (tmp_path / "clock").stat().st_size == 8


def test_a_file_clock_advances_by_the_given_seconds(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=1.0)
    clock.advance(2.5)
    clock.advance(0)
    clock.advance(10)
    assert clock.now() == 13.5


@pytest.mark.parametrize("seconds", [-1.0, math.nan])
def test_a_file_clock_refuses_to_move_backwards_or_by_nan(
    tmp_path: Path, clocks: list[FileClock], seconds: float
) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=5.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds)
    assert clock.now() == 5.0


def test_a_second_file_clock_on_the_same_path_sees_the_first_advance(
    tmp_path: Path, clocks: list[FileClock]
) -> None:
    first = open_clock(clocks, tmp_path / "clock", start=0.0)
    second = open_clock(clocks, tmp_path / "clock")
    assert second.now() == 0.0
    first.advance(3.0)
    assert second.now() == 3.0
    second.advance(4.0)
    assert first.now() == 7.0


def test_opening_without_a_start_keeps_the_shared_time(tmp_path: Path, clocks: list[FileClock]) -> None:
    first = open_clock(clocks, tmp_path / "clock", start=10.0)
    first.advance(5.0)
    assert open_clock(clocks, tmp_path / "clock").now() == 15.0


def test_opening_with_a_start_resets_the_shared_time(tmp_path: Path, clocks: list[FileClock]) -> None:
    first = open_clock(clocks, tmp_path / "clock", start=10.0)
    first.advance(5.0)
    open_clock(clocks, tmp_path / "clock", start=1.0)
    assert first.now() == 1.0


def test_a_file_clock_pickles_as_its_path_and_stays_shared(tmp_path: Path, clocks: list[FileClock]) -> None:
    first = open_clock(clocks, tmp_path / "clock", start=0.0)
    first.now()  # map the file, so there is a mapping that must not travel
    copy = pickle.loads(pickle.dumps(first))
    clocks.append(copy)
    assert copy.__getstate__() == {"path": str(tmp_path / "clock")}
    assert copy == first
    first.advance(8.0)
    assert copy.now() == 8.0
    copy.advance(1.0)
    assert first.now() == 9.0


def test_unpickling_does_not_reset_the_shared_time(tmp_path: Path, clocks: list[FileClock]) -> None:
    first = open_clock(clocks, tmp_path / "clock", start=100.0)
    payload = pickle.dumps(first)
    first.advance(1.0)
    copy = pickle.loads(payload)
    clocks.append(copy)
    assert copy.now() == 101.0


def test_a_closed_file_clock_maps_the_file_again_when_read(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=2.0)
    clock.advance(1.0)
    clock.close()
    clock.close()  # closing twice is harmless
    assert clock.now() == 3.0


def test_a_file_clock_on_a_missing_file_fails_when_read(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        clock.now()


def test_a_file_clock_takes_a_path_object_and_keeps_a_string(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=0.0)
    assert clock.path == str(tmp_path / "clock")
    assert repr(clock) == f"FileClock({str(tmp_path / 'clock')!r})"


def test_file_clocks_are_equal_by_path(tmp_path: Path, clocks: list[FileClock]) -> None:
    one = open_clock(clocks, tmp_path / "one", start=0.0)
    same = open_clock(clocks, str(tmp_path / "one"))
    other = open_clock(clocks, tmp_path / "other", start=0.0)
    assert one == same and hash(one) == hash(same)
    assert one != other
    assert len({one, same, other}) == 2


# --- FileClock across processes ----------------------------------------------

READ_BY_PATH = """
import sys
from omega_actors.runtime.clock import FileClock
print(repr(FileClock(sys.argv[1]).now()))
"""

READ_PICKLED = """
import pickle, sys
clock = pickle.loads(sys.stdin.buffer.read())
print(type(clock).__name__, repr(clock.now()))
"""

ADVANCE_BY_PATH = """
import sys
from omega_actors.runtime.clock import FileClock
FileClock(sys.argv[1]).advance(float(sys.argv[2]))
"""


def test_another_process_reads_the_time_advanced_here(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=1000.0)
    clock.advance(0.25)
    assert float(run_python(READ_BY_PATH, clock.path)) == 1000.25


def test_another_process_reads_a_pickled_clock_advanced_here(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=0.0)
    payload = pickle.dumps(clock)
    clock.advance(61.5)
    assert run_python(READ_PICKLED, stdin=payload) == "FileClock 61.5"


def test_time_advanced_in_another_process_is_seen_here(tmp_path: Path, clocks: list[FileClock]) -> None:
    clock = open_clock(clocks, tmp_path / "clock", start=5.0)
    assert clock.now() == 5.0  # mapped before the other process writes
    run_python(ADVANCE_BY_PATH, clock.path, "2.5")
    assert clock.now() == 7.5
