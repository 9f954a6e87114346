"""The constellation in one process: idempotent ingest against a pure model, refusals, weighting, bundles, restarts."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.federation import (
    REASONS,
    Ack,
    Constellation,
    ConstellationSettings,
    LocalPattern,
    PatternStat,
    Push,
    PushBuilder,
    Refusal,
    Weighting,
    decode_reply,
    encode_push,
    pattern_id,
)
from omega_actors.federation.bundle import (
    PullRequest,
    decode_bundle,
    encode_pull_request,
)
from omega_actors.storage.constellation import SQLiteConstellationStore

KEYS = [f"evening|*|g{n}" for n in range(6)]
stats = st.builds(PatternStat, st.integers(0, 2**32 - 1), st.integers(1, 65_535), st.integers(0, 255))


@contextmanager
def constellation(path: Path | None = None, **options: object) -> Iterator[Constellation]:
    weighting = Weighting(**{k: options.pop(k) for k in ("k", "max_weight", "trim") if k in options})  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as scratch:
        store = SQLiteConstellationStore(path or scratch)
        try:
            yield Constellation(store, ConstellationSettings(weighting=weighting, **options))  # type: ignore[arg-type]
        finally:
            store.close()


def push(c: Constellation, key: bytes, device: str, seq: int, *patterns: PatternStat) -> Ack | Refusal:
    return decode_reply(c.submit([encode_push(Push(device, seq, patterns), key)])[0], key)


def released(c: Constellation) -> dict[int, tuple[int, float, float]]:
    rows = c.aggregates()
    return {int(p): (int(d), float(w), float(r)) for p, d, w, r in zip(rows["pattern"], rows["devices"], rows["weight"], rows["rate"])}


def test_a_pattern_is_released_only_once_k_devices_contributed() -> None:
    with constellation(k=3) as c:
        keys = [c.enroll(f"tv-{n}") for n in range(3)]
        for n in range(2):
            push(c, keys[n], f"tv-{n}", 1, PatternStat(1, 10, 255))
        assert released(c) == {}
        push(c, keys[2], "tv-2", 1, PatternStat(1, 10, 255))
        assert released(c) == {1: (3, 30.0, 1.0)}


def test_a_replayed_push_changes_nothing_and_is_refused_with_the_last_committed_number() -> None:
    """Never acknowledged: a replay may be a push whose commit was cut short, so its values must come again."""
    with constellation(k=1) as c:
        key = c.enroll("tv-0")
        assert push(c, key, "tv-0", 3, PatternStat(1, 10, 200)) == Ack("tv-0", 3)
        before = released(c)
        assert push(c, key, "tv-0", 2, PatternStat(1, 10, 0)) == Refusal("replay", 3)
        assert released(c) == before and c.stats()["replay"] == 1 and c.stats()["gap"] == 1


def test_heavy_devices_are_clipped_quality_weighs_and_trimming_drops_the_extremes() -> None:
    with constellation(k=1, max_weight=10) as c:
        heavy, light = c.enroll("tv-0"), c.enroll("tv-1")
        push(c, heavy, "tv-0", 1, PatternStat(1, 1000, 255))  # weight clipped to 10
        push(c, light, "tv-1", 1, PatternStat(1, 10, 0))
        assert released(c)[1][2] == pytest.approx(0.5)
        doubtful = c.enroll("tv-2", quality=0.0)  # a device the operator does not trust weighs nothing
        push(c, doubtful, "tv-2", 1, PatternStat(1, 50, 255))
        assert released(c)[1][1:] == pytest.approx((20.0, 0.5))
    with constellation(k=1, trim=0.2) as c:
        for number, rate_q in enumerate((0, 200, 200, 200, 255)):
            push(c, c.enroll(f"tv-{number}"), f"tv-{number}", 1, PatternStat(1, 10, rate_q))
        assert released(c)[1][0] == 5 and released(c)[1][2] == pytest.approx(200 / 255)


def test_unknown_devices_and_bad_signatures_are_refused_counted_and_not_answered() -> None:
    with constellation(k=1) as c:
        c.enroll("tv-0")
        stranger = encode_push(Push("tv-9", 1, (PatternStat(1, 1, 1),)), bytes(32))
        forged = encode_push(Push("tv-0", 1, (PatternStat(1, 1, 1),)), bytes(32))
        assert c.submit([stranger, forged]) == [None, None]
        assert (c.stats()["unknown_device"], c.stats()["signature"]) == (1, 1)
        assert released(c) == {}


def test_a_bad_record_refuses_its_whole_push_and_only_it() -> None:
    with constellation(k=1) as c:
        key = c.enroll("tv-0")
        good = encode_push(Push("tv-0", 2, (PatternStat(2, 5, 250),)), key)
        twice = encode_push(Push("tv-0", 1, (PatternStat(1, 5, 250), PatternStat(1, 6, 250))), key)
        replies = [decode_reply(r, key) for r in c.submit([twice, good])]
        assert replies == [Refusal("duplicate_pattern"), Ack("tv-0", 2)]
        assert released(c) == {2: (1, 5.0, pytest.approx(250 / 255))}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_arbitrary_bytes_are_refused_and_counted_never_raised(data: bytes) -> None:
    with constellation(k=1) as c:
        key = c.enroll("tv-1")
        (reply,) = c.submit([data])
        assert reply is None or isinstance(decode_reply(reply, key), Refusal)  # signed answers go to known devices only
        assert sum(c.stats().get(reason, 0) for reason in REASONS) == 1 and released(c) == {}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_mutated_valid_frame_is_refused_or_means_exactly_what_was_signed(data: st.DataObject) -> None:
    with constellation(k=1) as c:
        key = c.enroll("tv-1")
        patterns = tuple(data.draw(st.lists(stats, min_size=1, max_size=20, unique_by=lambda s: s.id)))
        frame = bytearray(encode_push(Push("tv-1", 1, patterns), key))
        for _ in range(data.draw(st.integers(1, 4))):
            frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
        c.submit([bytes(frame)])
        if c.stats().get("accepted"):
            # Only a mutation that left the signed content intact can be accepted: it must mean the same.
            assert set(released(c)) == {s.id for s in patterns}
        else:
            assert sum(c.stats().get(reason, 0) for reason in REASONS) == 1 and released(c) == {}


# The pure model: each device's value of a pattern is the one from its accepted push with the highest
# sequence number; a push is accepted when its number is above the device's last committed one at the
# start of its batch. Weighted means follow from that, whatever was replayed, batched, folded or restarted.

ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 3), st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 300),
                                                                          st.integers(0, 255)), min_size=1, max_size=4)),
        st.tuples(st.just("replay"), st.integers(0, 3), st.integers(0, 50)),
        st.tuples(st.just("batch"), st.integers(2, 6)),
        st.just(("fold",)),
        st.just(("restart",)),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(ops)
def test_any_mix_of_pushes_replays_batches_folds_and_restarts_matches_the_pure_model(script: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as path:
        stack: list = []
        c_ref = [Constellation(SQLiteConstellationStore(path), ConstellationSettings(shards=3, weighting=Weighting(k=1, max_weight=100)))]
        keys = [c_ref[0].enroll(f"tv-{n}") for n in range(4)]
        seqs = [0] * 4
        sent: list[tuple[int, int, dict[int, tuple[int, int]]]] = []  # (device, seq, values)
        frames: list[bytes] = []
        committed = [0] * 4
        model: dict[tuple[int, int], tuple[int, int, int]] = {}  # (device, pattern) -> (seq, trials, rate_q)

        def submit(chosen: list[int]) -> None:
            start = list(committed)
            replies = c_ref[0].submit([frames[i] for i in chosen])
            for i, reply in zip(chosen, replies):
                device, seq, values = sent[i]
                answer = decode_reply(reply or b"", keys[device])
                # An ack means committed, and only a push above the last committed number is committed.
                assert (answer == Ack(f"tv-{device}", seq)) == (seq > start[device]), (answer, seq, start[device])
                if seq > start[device]:
                    committed[device] = max(committed[device], seq)
                    for pattern, (trials, rate_q) in values.items():
                        if model.get((device, pattern), (0,))[0] < seq:
                            model[(device, pattern)] = (seq, trials, rate_q)

        for op in script:
            if op[0] == "push":
                _, device, raw = op
                values = {pattern_id(k): (t, r) for k, t, r in raw}
                seqs[device] += 1
                sent.append((device, seqs[device], values))
                frames.append(encode_push(Push(f"tv-{device}", seqs[device], tuple(PatternStat(p, t, r) for p, (t, r) in values.items())), keys[device]))
                stack.append(len(frames) - 1)
            elif op[0] == "replay" and frames:
                stack.append(op[2] % len(frames))
            elif op[0] == "batch" and stack:
                chosen, stack[:] = stack[-op[1]:], stack[: -op[1]]
                submit(chosen)
            elif op[0] == "fold":
                c_ref[0].compact()
            elif op[0] == "restart":
                c_ref[0].store.close()
                c_ref[0] = Constellation(SQLiteConstellationStore(path), ConstellationSettings(shards=3, weighting=Weighting(k=1, max_weight=100)))
        if stack:
            submit(stack)
        expected: dict[int, list[tuple[float, float]]] = {}
        for (device, pattern), (_, trials, rate_q) in model.items():
            expected.setdefault(pattern, []).append((min(trials, 100.0), rate_q / 255))
        got = released(c_ref[0])
        c_ref[0].store.close()
        assert set(got) == set(expected)
        for pattern, entries in expected.items():
            weight = sum(w for w, _ in entries)
            assert got[pattern][:2] == (len(entries), pytest.approx(weight))
            assert got[pattern][2] == pytest.approx(sum(w * r for w, r in entries) / weight)


def test_nothing_committed_is_lost_when_the_process_restarts() -> None:
    with tempfile.TemporaryDirectory() as path:
        with constellation(Path(path), k=1) as c:
            key = c.enroll("tv-0")
            push(c, key, "tv-0", 1, PatternStat(1, 10, 200))
            before = released(c)
        with constellation(Path(path), k=1) as again:
            assert released(again) == before
            assert push(again, key, "tv-0", 1, PatternStat(1, 10, 0)) == Refusal("replay", 1)  # across the restart
            assert released(again) == before


def test_the_builder_pushes_only_successful_patterns_that_changed_since_the_last_ack() -> None:
    with constellation(k=1) as c:
        key = c.enroll("tv-0")
        builder = PushBuilder("tv-0", key)
        patterns = [LocalPattern("evening|any|Comedy", 10, 9), LocalPattern("evening|any|Drama", 10, 5)]
        frame = builder.build(patterns)
        assert frame is not None
        builder.acknowledged(decode_reply(c.submit([frame])[0], key))
        assert list(released(c)) == [pattern_id("evening|any|Comedy")]
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
        assert all(pattern_id(p.key) in carried for p in patterns if p.trials > max(left_out))


def test_a_pull_gets_the_cohorts_bundle_and_then_only_unchanged_until_the_next_release() -> None:
    with constellation(k=2) as c:
        keys = {f"tv-{n}": c.enroll(f"tv-{n}") for n in range(3)}
        request = encode_pull_request(PullRequest("tv-0", "all", 0), keys["tv-0"])
        assert decode_reply(c.pull(request) or b"", keys["tv-0"]) == Refusal("unavailable")
        for name, key in keys.items():
            push(c, key, name, 1, PatternStat(pattern_id(KEYS[0]), 20, 230))
        release = c.publish()
        assert release is not None and release.version == 1 and release.patterns == 1
        bodies = set()
        for name, key in keys.items():
            bundle = decode_bundle(c.pull(encode_pull_request(PullRequest(name, "all", 0), key)) or b"", key)
            assert bundle.patterns == {pattern_id(KEYS[0]): 230 / 255} and bundle.support == {pattern_id(KEYS[0]): 3}
            bodies.add((bundle.version, tuple(sorted(bundle.patterns.items()))))
        assert len(bodies) == 1  # the same for every TV in the cohort
        unchanged = decode_bundle(c.pull(encode_pull_request(PullRequest("tv-0", "all", 1), keys["tv-0"])) or b"", keys["tv-0"])
        assert unchanged.unchanged and unchanged.version == 1
        stranger = encode_pull_request(PullRequest("tv-9", "all", 0), bytes(32))
        assert c.pull(stranger) is None and c.stats()["pull_unknown_device"] == 1


def test_the_pull_bundle_never_passes_its_cap_and_keeps_the_best_supported_patterns() -> None:
    with constellation(k=1) as c:
        rng = np.random.default_rng(3)
        devices = {f"tv-{n}": c.enroll(f"tv-{n}") for n in range(5)}
        for number, (name, key) in enumerate(devices.items()):
            ids = rng.choice(2**32 - 1, size=140, replace=False)
            # Pattern 7 is reported by every device: it must be in the bundle whatever else is cut.
            records = [PatternStat(7, 20, 255)] + [PatternStat(int(i), 20, 240) for i in ids[: 139]]
            push(c, key, name, 1, *records)
        release = c.publish()
        assert release is not None and release.patterns < 700  # more than fit
        frame = c.pull(encode_pull_request(PullRequest("tv-0", "all", 0), devices["tv-0"])) or b""
        assert len(frame) <= 5120
        assert 7 in (decode_bundle(frame, devices["tv-0"]).patterns or {})


def test_a_push_whose_records_are_out_of_id_order_is_refused_as_malformed() -> None:
    import msgpack

    from omega_actors.federation.wire import Kind, _frame

    with constellation(k=1) as c:
        key = c.enroll("tv-0")
        records = b"\x00\x00\x00\x02\x00\x05\xfa" + b"\x00\x00\x00\x01\x00\x05\xfa"
        frame = _frame(Kind.PUSH, msgpack.packb(["tv-0", 1, records], use_bin_type=True), key)
        assert decode_reply(c.submit([frame])[0], key) == Refusal("malformed")
        assert released(c) == {}


def test_a_push_whose_commit_was_cut_short_between_shards_is_never_acknowledged_and_comes_again() -> None:
    with tempfile.TemporaryDirectory() as path:
        with constellation(Path(path), k=1, shards=2) as c:
            key = c.enroll("tv-0")
            builder = PushBuilder("tv-0", key)
            frame = builder.build([LocalPattern("evening|*|g0", 10, 10), LocalPattern("evening|*|g1", 10, 10),
                                   LocalPattern("evening|*|g2", 10, 10), LocalPattern("evening|*|g3", 10, 10)])
            assert frame is not None
            parts = c.ingest.decode([frame]).by_shard(2)
            assert all(len(part) for part in parts)
            c.shards[0].commit(1, parts[0])  # the process dies here: shard 1 never commits, no ack is signed
        with constellation(Path(path), k=1, shards=2) as again:
            reply = decode_reply(again.submit([frame])[0], key)  # redelivered: shard 0 has its number
            assert reply == Refusal("replay", 1)
            assert not builder.acked  # the device keeps every value pending
            frame = builder.build([LocalPattern("evening|*|g0", 10, 10), LocalPattern("evening|*|g1", 10, 10),
                                   LocalPattern("evening|*|g2", 10, 10), LocalPattern("evening|*|g3", 10, 10)])
            assert frame is not None and builder.seq == 2
            builder.acknowledged(decode_reply(again.submit([frame])[0], key))
            assert set(released(again)) == {pattern_id(f"evening|*|g{n}") for n in range(4)}
            assert set(builder.acked) == set(released(again))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_pull_request_bytes_are_answered_refused_or_ignored_never_raised(data: st.DataObject) -> None:
    with constellation(k=1) as c:
        key = c.enroll("tv-1")
        push(c, key, "tv-1", 1, PatternStat(5, 10, 250))
        c.publish()
        frame = bytearray(encode_pull_request(PullRequest("tv-1", "all", data.draw(st.integers(0, 3))), key))
        if data.draw(st.booleans()):
            frame = bytearray(data.draw(st.binary(max_size=300)))
        else:
            for _ in range(data.draw(st.integers(0, 3))):
                frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
        reply = c.pull(bytes(frame))
        if reply is not None:  # signed for the device: a bundle, or a refusal with a reason
            try:
                decode_bundle(reply, key)
            except Exception:
                assert isinstance(decode_reply(reply, key), Refusal)
        assert released(c) == {5: (1, 10.0, pytest.approx(250 / 255))}
