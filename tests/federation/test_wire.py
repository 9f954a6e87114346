"""Frames: round trips, hard caps, and refusal (never a crash) of arbitrary and mutated bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.federation import (
    PUSH_CAP,
    PatternStat,
    Push,
    WireError,
    encode_push,
)
from omega_actors.federation.wire import (
    Kind,
    decode_push_body,
    pack_patterns,
    push_device,
    split_frame,
    unpack_patterns,
    verify,
)

KEY = bytes(range(32))
stats = st.builds(PatternStat, st.integers(0, 2**32 - 1), st.integers(1, 65_535), st.integers(0, 255))


def decode(frame: bytes, key: bytes = KEY) -> Push:
    kind, body, mac = split_frame(frame, PUSH_CAP)
    assert kind is Kind.PUSH and push_device(body) == "tv-1"
    verify(kind, body, mac, key)
    return decode_push_body(body)


@given(st.lists(stats, max_size=60, unique_by=lambda s: s.id), st.integers(1, 2**40))
def test_a_push_survives_encoding_exactly_with_its_records_in_id_order(patterns: list[PatternStat], seq: int) -> None:
    push = Push("tv-1", seq, tuple(patterns))
    assert decode(encode_push(push, KEY)) == Push("tv-1", seq, tuple(sorted(patterns, key=lambda p: p.id)))


@given(st.lists(stats, min_size=200, max_size=300, unique_by=lambda s: s.id))
def test_a_push_over_the_cap_is_refused_never_truncated(patterns: list[PatternStat]) -> None:
    with pytest.raises(WireError) as refused:
        encode_push(Push("tv-1", 1, tuple(patterns)), KEY)
    assert refused.value.reason == "oversize"


def test_a_push_signed_with_another_key_is_refused() -> None:
    frame = encode_push(Push("tv-1", 1, (PatternStat(7, 3, 250),)), KEY)
    with pytest.raises(WireError, match="signature"):
        decode(frame, key=bytes(32))


@pytest.mark.parametrize(
    "frame, reason",
    [
        (b"", "malformed"),
        (msgpack.packb([2, 1, b"", b""]), "version"),
        (msgpack.packb([1, 9, b"", b""]), "kind"),
        (msgpack.packb([1, {}, b"", b""]), "kind"),  # found by the fuzz test: an unhashable kind raised TypeError
        (msgpack.packb([1, 1, "text", b""]), "malformed"),
        (msgpack.packb({"a": 1}), "malformed"),
        (b"\x94" + b"\x01" * 2000, "oversize"),
    ],
)
def test_malformed_frames_are_refused_with_their_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(WireError) as refused:
        split_frame(frame, PUSH_CAP)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "blob, reason",
    [(b"\x00\x00\x00", "malformed"), (b"\x00\x00\x00\x01\x00\x01\x05\x00", "malformed"),
     (b"\x00\x00\x00\x01\x00\x00\x05", "range"), (b"\x00\x00\x00\x01\x00\x01\x05" * 2, "duplicate_pattern"),
     (b"\x00\x00\x00\x02\x00\x01\x05" + b"\x00\x00\x00\x01\x00\x01\x05", "malformed")],  # out of id order
)
def test_bad_pattern_records_are_refused(blob: bytes, reason: str) -> None:
    with pytest.raises(WireError) as refused:
        unpack_patterns(blob)
    assert refused.value.reason == reason


@given(st.lists(stats, max_size=80, unique_by=lambda s: s.id))
def test_pattern_records_round_trip_in_id_order(patterns: list[PatternStat]) -> None:
    assert unpack_patterns(pack_patterns(patterns)) == tuple(sorted(patterns, key=lambda p: p.id))
