"""Frames: round trips, hard caps, and refusal (never a crash) of arbitrary and mutated bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.federation import (
    PUSH_CAP,
    REASONS,
    Aggregator,
    PatternStat,
    Push,
    Refusal,
    WireError,
    decode_reply,
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
def test_a_push_survives_encoding_exactly(patterns: list[PatternStat], seq: int) -> None:
    push = Push("tv-1", seq, tuple(patterns))
    assert decode(encode_push(push, KEY)) == push


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
     (b"\x00\x00\x00\x01\x00\x00\x05", "range"), (b"\x00\x00\x00\x01\x00\x01\x05" * 2, "duplicate_pattern")],
)
def test_bad_pattern_records_are_refused(blob: bytes, reason: str) -> None:
    with pytest.raises(WireError) as refused:
        unpack_patterns(blob)
    assert refused.value.reason == reason


@given(st.lists(stats, max_size=80, unique_by=lambda s: s.id))
def test_pattern_records_round_trip(patterns: list[PatternStat]) -> None:
    assert unpack_patterns(pack_patterns(patterns)) == tuple(patterns)


@settings(max_examples=500)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_and_counted_never_raised(data: bytes) -> None:
    aggregator = Aggregator(k=1)
    key = aggregator.enroll("tv-1")
    reply = aggregator.ingest(data)
    assert reply is None or isinstance(decode_reply(reply, key), Refusal)  # a signed answer only to a known device
    assert sum(aggregator.counts[reason] for reason in REASONS) == 1
    assert aggregator.release() == []


@settings(max_examples=500)
@given(st.data())
def test_a_mutated_valid_frame_is_refused_or_means_exactly_what_was_signed(data: st.DataObject) -> None:
    aggregator = Aggregator(k=1)
    key = aggregator.enroll("tv-1")
    push = Push("tv-1", 1, tuple(data.draw(st.lists(stats, min_size=1, max_size=20, unique_by=lambda s: s.id))))
    frame = bytearray(encode_push(push, key))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(frame) - 1))
        frame[position] = data.draw(st.integers(0, 255))
    aggregator.ingest(bytes(frame))
    if aggregator.counts["accepted"]:
        # Only a mutation that left the signed content intact can be accepted: it must mean the same.
        assert {r.id for r in aggregator.release()} == {s.id for s in push.patterns}
    else:
        assert sum(aggregator.counts[reason] for reason in REASONS) == 1
