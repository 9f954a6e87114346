"""The aggregation core: idempotence under replay and reordering, k-anonymity, weighting, refusals by reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omega_actors.federation import (
    Ack,
    Aggregator,
    LocalPattern,
    PatternStat,
    Push,
    PushBuilder,
    Refusal,
    decode_reply,
    encode_push,
    pattern_id,
)


def push(aggregator: Aggregator, device: str, seq: int, *stats: PatternStat) -> Ack | Refusal:
    key = aggregator.keys[device]
    return decode_reply(aggregator.ingest(encode_push(Push(device, seq, stats), key)), key)


def enrolled(count: int, **settings: object) -> Aggregator:
    aggregator = Aggregator(**settings)  # type: ignore[arg-type]
    for number in range(count):
        aggregator.enroll(f"tv-{number}")
    return aggregator


def test_a_pattern_is_released_only_once_k_devices_contributed() -> None:
    aggregator = enrolled(3, k=3)
    for number in range(2):
        push(aggregator, f"tv-{number}", 1, PatternStat(1, 10, 255))
    assert aggregator.release() == []
    push(aggregator, "tv-2", 1, PatternStat(1, 10, 255))
    (released,) = aggregator.release()
    assert (released.id, released.devices, released.rate) == (1, 3, 1.0)


def test_a_replayed_push_is_acknowledged_again_and_changes_nothing() -> None:
    aggregator = enrolled(1, k=1)
    assert push(aggregator, "tv-0", 1, PatternStat(1, 10, 200)) == Ack("tv-0", 1)
    before = aggregator.release()
    assert push(aggregator, "tv-0", 1, PatternStat(1, 10, 200)) == Ack("tv-0", 1)
    assert aggregator.release() == before and aggregator.counts["replay"] == 1


def test_an_older_push_after_a_newer_one_changes_nothing_and_a_gap_is_counted() -> None:
    aggregator = enrolled(1, k=1)
    push(aggregator, "tv-0", 3, PatternStat(1, 20, 255))
    push(aggregator, "tv-0", 2, PatternStat(1, 10, 0))
    assert aggregator.release()[0].rate == 1.0
    assert aggregator.counts["gap"] == 1 and aggregator.counts["replay"] == 1


def test_heavy_devices_are_clipped_and_trimming_drops_the_extremes() -> None:
    aggregator = enrolled(3, k=1, max_weight=10)
    push(aggregator, "tv-0", 1, PatternStat(1, 1000, 255))  # weight clipped to 10
    push(aggregator, "tv-1", 1, PatternStat(1, 10, 0))
    assert aggregator.release()[0].rate == pytest.approx(0.5)
    trimmed = enrolled(5, k=1, trim=0.2)
    for number, rate_q in enumerate((0, 200, 200, 200, 255)):
        push(trimmed, f"tv-{number}", 1, PatternStat(1, 10, rate_q))
    assert trimmed.release()[0].rate == pytest.approx(200 / 255)


def test_unknown_devices_and_bad_signatures_are_refused_and_counted() -> None:
    aggregator = enrolled(1, k=1)
    stranger = encode_push(Push("tv-9", 1, (PatternStat(1, 1, 1),)), bytes(32))
    forged = encode_push(Push("tv-0", 1, (PatternStat(1, 1, 1),)), bytes(32))
    assert aggregator.ingest(stranger) is None and aggregator.ingest(forged) is None
    assert (aggregator.counts["unknown_device"], aggregator.counts["signature"]) == (1, 1)
    assert aggregator.release() == []


# The whole loop: a device's builder and the aggregator, with pushes lost, duplicated and reordered.

deliveries = st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=40)  # (which push, acknowledged back?)


@given(st.lists(st.integers(0, 30), min_size=1, max_size=12), deliveries)
def test_any_delivery_order_ends_with_the_latest_push_of_each_device(successes: list[int], order: list[tuple[int, bool]]) -> None:
    aggregator = Aggregator(k=1)
    key = aggregator.enroll("tv-0")
    builder = PushBuilder("tv-0", key)
    frames = []
    for trial, extra in enumerate(successes, start=1):
        # Cumulative statistics that keep changing: trials grow, the rate stays above the threshold.
        frame = builder.build([LocalPattern("evening|any|Comedy", 40 + trial + extra, 40 + trial + extra)])
        if frame is not None:
            frames.append(frame)
    for which, acknowledge in order:
        if frames:
            reply = decode_reply(aggregator.ingest(frames[which % len(frames)]), key)
            if acknowledge and isinstance(reply, Ack):
                builder.acknowledged(reply)
    for frame in frames:  # whatever happened before, every frame arrives at least once in the end
        aggregator.ingest(frame)
    (released,) = aggregator.release()
    assert released.id == pattern_id("evening|any|Comedy")
    assert released.weight == min(40 + len(successes) + successes[-1], aggregator.max_weight)


def test_the_builder_pushes_only_successful_patterns_that_changed_since_the_last_ack() -> None:
    aggregator = enrolled(1, k=1)
    builder = PushBuilder("tv-0", aggregator.keys["tv-0"])
    patterns = [LocalPattern("evening|any|Comedy", 10, 9), LocalPattern("evening|any|Drama", 10, 5)]
    frame = builder.build(patterns)
    assert frame is not None
    builder.acknowledged(decode_reply(aggregator.ingest(frame), aggregator.keys["tv-0"]))
    assert [r.id for r in aggregator.release()] == [pattern_id("evening|any|Comedy")]
    assert builder.build(patterns) is None  # nothing changed since the ack
    assert builder.build([LocalPattern("evening|any|Comedy", 11, 10)]) is not None


@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(0, 100)), min_size=1, max_size=600))
def test_the_builder_never_emits_a_frame_over_the_cap_and_prefers_the_most_trials(raw: list[tuple[int, int]]) -> None:
    builder = PushBuilder("a-device-with-a-long-identifier-0123456789", bytes(32))
    patterns = [LocalPattern(f"k{n}", trials, trials) for n, (trials, _) in enumerate(raw)]
    frame = builder.build(patterns)
    assert frame is not None and len(frame) <= 1024
    carried = builder.in_flight[builder.seq]
    left_out = [p.trials for p in patterns if pattern_id(p.key) not in carried]
    if left_out:
        assert len(carried) >= 60
        # Priority: everything with more trials than any pattern left out travelled.
        assert all(pattern_id(p.key) in carried for p in patterns if p.trials > max(left_out))
