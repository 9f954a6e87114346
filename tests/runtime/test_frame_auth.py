"""Frame authentication: signed frames round-trip; anything else is refused before it is unpickled."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.errors import SpecError
from omega_actors.runtime import frame_auth
from omega_actors.runtime.frame_auth import (
    MIN_SECRET_BYTES,
    AuthError,
    FrameAuth,
    load_secret,
)

SECRET = b"s" * MIN_SECRET_BYTES
OTHER_SECRET = b"o" * MIN_SECRET_BYTES
T0 = 1_700_000_000.0
WINDOW = 120.0

# Unpickling a Payload appends here: an empty list proves nothing was unpickled.
RAN: list[str] = []


def _record(what: str) -> None:
    RAN.append(what)


class Payload:
    """A pickle whose loading has a visible side effect (by reference to a module-level function)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_record, ("ran",))


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def nothing_ran_yet() -> Iterator[None]:
    RAN.clear()
    yield
    RAN.clear()


def reason(excinfo: pytest.ExceptionInfo[AuthError]) -> str:
    return str(excinfo.value)


def test_the_side_effect_probe_runs_when_unpickled_plainly():
    pickle.loads(pickle.dumps(Payload()))
    assert RAN == ["ran"]


@pytest.mark.parametrize(
    "obj",
    [{"a": 1, "b": [1, 2]}, (1, "two", 3.0), b"\x00\xffraw", Point(1, 2), None, "ACK"],
    ids=["dict", "tuple", "bytes", "dataclass", "none", "ack-as-data"],
)
def test_a_signed_frame_round_trips_to_an_equal_object(obj):
    auth = FrameAuth(SECRET)
    assert auth.loads(auth.dumps(obj)) == obj
    assert auth.rejected == 0


def test_a_frame_signed_in_one_process_is_accepted_by_another_holding_the_same_secret():
    clock = FakeClock()
    frame = FrameAuth(SECRET, clock=clock).dumps(Point(3, 4))
    assert FrameAuth(SECRET, clock=clock).loads(bytearray(frame)) == Point(3, 4)


@pytest.mark.parametrize("text", ["ACK", "ACK+DATAERR"])
def test_thespians_pre_pickled_control_frames_pass_as_their_strings(text):
    auth = FrameAuth(SECRET)
    assert auth.loads(pickle.dumps(text)) == text
    assert auth.rejected == 0


def test_a_control_string_pickled_with_another_protocol_is_refused_as_a_control_frame():
    auth = FrameAuth(SECRET)
    other = next(p for p in range(pickle.HIGHEST_PROTOCOL + 1) if pickle.dumps("ACK", protocol=p) != pickle.dumps("ACK"))
    with pytest.raises(AuthError) as excinfo:
        auth.loads(pickle.dumps("ACK", protocol=other))
    assert reason(excinfo) == "control frame"


def test_a_frame_signed_with_another_secret_is_refused_counted_reported_and_never_unpickled():
    heard: list[str] = []
    auth = FrameAuth(SECRET, on_reject=heard.append)
    with pytest.raises(AuthError) as excinfo:
        auth.loads(FrameAuth(OTHER_SECRET).dumps(Payload()))
    assert reason(excinfo) == "bad signature"
    assert auth.rejected == 1
    assert heard == ["bad signature"]
    assert RAN == []


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_plain_pickle_from_an_unadmitted_peer_is_refused_without_unpickling(protocol):
    auth = FrameAuth(SECRET)
    with pytest.raises(AuthError) as excinfo:
        auth.loads(pickle.dumps(Payload(), protocol=protocol))
    assert reason(excinfo) == "not a signed frame"
    assert auth.rejected == 1
    assert RAN == []


def test_a_forged_frame_with_the_right_magic_but_no_valid_tag_is_refused_without_unpickling():
    auth = FrameAuth(SECRET, clock=FakeClock())
    forged = frame_auth.MAGIC + bytes(8 + 16 + 32) + pickle.dumps(Payload())
    with pytest.raises(AuthError) as excinfo:
        auth.loads(forged)
    assert reason(excinfo) == "bad signature"
    assert RAN == []


@given(index=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_flipping_any_one_byte_of_a_frame_gets_it_refused(index, flip):
    RAN.clear()
    clock = FakeClock()
    frame = bytearray(FrameAuth(SECRET, clock=clock).dumps(Payload()))
    frame[index % len(frame)] ^= flip
    auth = FrameAuth(SECRET, clock=clock)
    with pytest.raises(AuthError):
        auth.loads(bytes(frame))
    assert auth.rejected == 1
    assert RAN == []


@given(data=st.binary())
def test_garbage_is_refused_with_an_auth_error_and_nothing_else(data):
    auth = FrameAuth(SECRET)
    if data in (pickle.dumps("ACK"), pickle.dumps("ACK+DATAERR")):
        return
    with pytest.raises(AuthError):
        auth.loads(data)
    assert auth.rejected == 1


@pytest.mark.parametrize("data", ["a str", None, 42, [b"OMG1"]], ids=["str", "none", "int", "list"])
def test_input_that_is_not_bytes_like_is_refused_as_not_a_signed_frame(data):
    with pytest.raises(AuthError) as excinfo:
        FrameAuth(SECRET).loads(data)
    assert reason(excinfo) == "not a signed frame"


def test_a_replayed_frame_is_refused():
    auth = FrameAuth(SECRET, clock=FakeClock())
    frame = auth.dumps(Point(1, 1))
    auth.loads(frame)
    with pytest.raises(AuthError) as excinfo:
        auth.loads(frame)
    assert reason(excinfo) == "replayed frame"
    assert auth.rejected == 1


def test_a_frame_replayed_by_many_threads_at_once_is_accepted_exactly_once():
    auth = FrameAuth(SECRET, clock=FakeClock())
    frame = auth.dumps("once")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def receive() -> None:
        start.wait()
        try:
            outcomes.append(auth.loads(frame))
        except AuthError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=receive) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["once"] + ["replayed frame"] * 7
    assert auth.rejected == 7


@pytest.mark.parametrize("skew", [WINDOW + 1, -(WINDOW + 1)], ids=["older", "newer"])
def test_a_frame_outside_the_window_is_refused_as_stale(skew):
    clock = FakeClock()
    frame = FrameAuth(SECRET, clock=clock).dumps("late")
    clock.now += skew
    with pytest.raises(AuthError) as excinfo:
        FrameAuth(SECRET, window=WINDOW, clock=clock).loads(frame)
    assert reason(excinfo) == "stale timestamp"


@pytest.mark.parametrize("skew", [WINDOW, -WINDOW], ids=["older", "newer"])
def test_a_frame_at_the_edge_of_the_window_is_still_accepted(skew):
    clock = FakeClock()
    frame = FrameAuth(SECRET, clock=clock).dumps("edge")
    clock.now += skew
    assert FrameAuth(SECRET, window=WINDOW, clock=clock).loads(frame) == "edge"


def test_the_replay_cache_forgets_nonces_once_their_frames_are_stale():
    clock = FakeClock()
    auth = FrameAuth(SECRET, window=WINDOW, clock=clock)
    old = auth.dumps("old")
    auth.loads(old)
    assert len(auth._seen) == 1
    clock.now += WINDOW + 1
    auth.loads(auth.dumps("new"))
    assert len(auth._seen) == 1
    # The forgotten frame is still refused: its timestamp now gives it away.
    with pytest.raises(AuthError) as excinfo:
        auth.loads(old)
    assert reason(excinfo) == "stale timestamp"


def test_the_replay_cache_is_bounded_and_drops_its_oldest_nonces_first(monkeypatch):
    monkeypatch.setattr(frame_auth, "REPLAY_CACHE_LIMIT", 3)
    auth = FrameAuth(SECRET, clock=FakeClock())
    frames = [auth.dumps(n) for n in range(5)]
    for frame in frames:
        auth.loads(frame)
    assert len(auth._seen) == 3
    # The documented cost of the bound: an early-forgotten frame can be replayed...
    assert auth.loads(frames[0]) == 0
    # ...while the ones still remembered cannot.
    with pytest.raises(AuthError, match="replayed frame"):
        auth.loads(frames[-1])


def test_the_default_replay_cache_bound_is_the_documented_one():
    assert frame_auth.REPLAY_CACHE_LIMIT == 100_000


@pytest.mark.parametrize("secret", [b"", b"x" * (MIN_SECRET_BYTES - 1), "s" * MIN_SECRET_BYTES], ids=["empty", "short", "str"])
def test_a_secret_shorter_than_the_minimum_or_not_bytes_is_refused(secret):
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_BYTES} bytes"):
        FrameAuth(secret)


@pytest.mark.parametrize("window", [0, -1.0, float("inf"), float("nan"), "120"])
def test_a_window_that_is_not_a_positive_number_of_seconds_is_refused(window):
    with pytest.raises(ValueError, match="window must be a positive number of seconds"):
        FrameAuth(SECRET, window=window)


def write_secret(path: Path, content: bytes, mode: int = 0o600) -> str:
    path.write_bytes(content)
    os.chmod(path, mode)
    return str(path)


def test_load_secret_reads_a_private_file_without_its_trailing_newline(tmp_path):
    path = write_secret(tmp_path / "cluster.secret", SECRET + b"\n")
    assert load_secret(path) == SECRET


def test_load_secret_refuses_a_secret_that_is_too_short(tmp_path):
    path = write_secret(tmp_path / "cluster.secret", b"x" * (MIN_SECRET_BYTES - 1) + b"  \n")
    with pytest.raises(SpecError, match=f"expected at least {MIN_SECRET_BYTES}") as excinfo:
        load_secret(path)
    assert path in str(excinfo.value) and excinfo.value.key == "secret_file"


def test_load_secret_refuses_a_file_others_can_read_and_says_how_to_fix_it(tmp_path):
    path = write_secret(tmp_path / "cluster.secret", SECRET, mode=0o644)
    with pytest.raises(SpecError, match="readable by group or others") as excinfo:
        load_secret(path)
    assert f"chmod 600 {path}" in str(excinfo.value) and excinfo.value.key == "secret_file"


def test_load_secret_refuses_a_missing_file(tmp_path):
    path = str(tmp_path / "absent.secret")
    with pytest.raises(SpecError, match="does not exist") as excinfo:
        load_secret(path)
    assert path in str(excinfo.value) and excinfo.value.key == "secret_file"


def test_load_secret_refuses_a_path_it_cannot_read(tmp_path):
    path = tmp_path / "a-directory"
    path.mkdir(mode=0o700)
    with pytest.raises(SpecError, match="cannot be read") as excinfo:
        load_secret(str(path))
    assert str(path) in str(excinfo.value) and excinfo.value.key == "secret_file"
