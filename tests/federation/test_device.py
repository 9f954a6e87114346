"""A device's sync session: scheduling with jitter and backoff, a bounded memory of pushes, bundles by its own keys."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.errors import ConfigError
from omega_actors.federation import (
    Ack,
    LocalPattern,
    SyncSession,
    SyncSettings,
    bundle_tables,
    pattern_id,
)
from omega_actors.federation.bundle import Bundle
from omega_actors.federation.wire import Refusal, encode_ack, encode_refusal

KEY = bytes(range(32))


def session(**settings: object) -> SyncSession:
    return SyncSession("tv-1", KEY, SyncSettings(**settings), random.Random(4))  # type: ignore[arg-type]


def test_after_a_success_the_next_sync_is_a_jittered_interval_away() -> None:
    s = session(interval_min=300, interval_max=900)
    delays = [s.finish(1000.0, ok=True) - 1000.0 for _ in range(200)]
    assert all(300 <= d <= 900 for d in delays) and max(delays) - min(delays) > 300


def test_failures_back_off_exponentially_up_to_the_maximum_and_a_success_resets() -> None:
    s = session(backoff_base=5, backoff_max=60)
    ceilings = []
    for failure in range(1, 8):
        delay = s.finish(0.0, ok=False)
        ceilings.append(min(60, 5 * 2 ** (failure - 1)))
        assert 2.5 <= delay <= ceilings[-1]
    assert s.failures == 7
    s.finish(0.0, ok=True)
    assert s.failures == 0


def test_offline_the_session_remembers_a_bounded_number_of_unacknowledged_pushes() -> None:
    s = session(max_in_flight=3)
    for trials in range(10, 20):
        assert s.push_frame([LocalPattern("evening|*|Drama", trials, trials)]) is not None
        assert s.on_push_reply(None) is False
    assert len(s.builder.in_flight) == 3 and s.builder.seq == 10
    # The next push carries the latest values, which is all the constellation needs.
    s.push_frame([LocalPattern("evening|*|Drama", 25, 25)])
    assert s.on_push_reply(encode_ack(Ack("tv-1", 11), KEY)) is True
    assert s.builder.acked == {pattern_id("evening|*|Drama"): (25, 255)} and not s.builder.in_flight


def test_a_refusal_or_a_forged_ack_is_a_failed_push() -> None:
    s = session()
    s.push_frame([LocalPattern("evening|*|Drama", 10, 10)])
    assert s.on_push_reply(encode_refusal(Refusal("range"), KEY)) is False and s.counts["refused_range"] == 1
    assert s.on_push_reply(encode_ack(Ack("tv-1", 1), bytes(32))) is False and s.counts["bad_reply_signature"] == 1
    assert not s.builder.acked


def test_a_bundle_is_read_through_the_devices_own_keys_only() -> None:
    known = ["evening|*|Drama", "evening|happy|Comedy"]
    bundle = Bundle("all", 3, {pattern_id(known[0]): 0.9, pattern_id("morning|*|News"): 0.7},
                    {pattern_id(known[1]): 0.4})
    rates, trends = bundle_tables(bundle, known)
    assert rates == {known[0]: 0.9} and trends == {known[1]: 0.4}


@pytest.mark.parametrize("field, value", [("interval_max", 10.0), ("threshold", 1.5), ("max_in_flight", 0),
                                          ("timeout", float("nan"))])
def test_bad_sync_settings_name_the_key(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        SyncSettings(**{field: value})  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=6000))
def test_any_bytes_as_a_pull_reply_are_counted_never_raised_or_applied(data: bytes) -> None:
    s = session()
    assert s.on_pull_reply(data) is None
    assert s.bundle_version == 0 and sum(s.counts.values()) == 1


def test_a_replay_refusal_makes_the_device_jump_past_the_constellations_number_keeping_its_values() -> None:
    s = session()
    s.push_frame([LocalPattern("evening|*|Drama", 10, 10)])  # seq 1, but the constellation has seen 40
    assert s.on_push_reply(encode_refusal(Refusal("replay", 40), KEY)) is False
    assert s.builder.seq == 40 and not s.builder.acked
    s.push_frame([LocalPattern("evening|*|Drama", 10, 10)])
    assert s.builder.seq == 41 and pattern_id("evening|*|Drama") in s.builder.in_flight[41]


def test_a_late_ack_for_an_earlier_push_is_applied_but_does_not_end_the_current_one() -> None:
    s = session()
    s.push_frame([LocalPattern("evening|*|Drama", 10, 10)])
    s.push_frame([LocalPattern("evening|*|Drama", 12, 12), LocalPattern("evening|*|News", 9, 9)])
    assert s.on_push_reply(encode_ack(Ack("tv-1", 1), KEY)) is None
    assert s.on_push_reply(encode_ack(Ack("tv-1", 2), KEY)) is True
    assert s.builder.acked[pattern_id("evening|*|News")] == (9, 255)
