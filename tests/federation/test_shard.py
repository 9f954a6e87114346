"""One shard's vectorised aggregation against a plain per-pattern computation."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.federation.ingest import ROW
from omega_actors.federation.shard import ShardState, Weighting

rows_strategy = st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 12), st.integers(1, 300), st.integers(0, 255), st.integers(1, 4)),
    min_size=1, max_size=60,
)  # (pattern, device, trials, rate_q, seq)


def naive(rows: list[tuple[int, int, int, int, int]], weighting: Weighting, quality: dict[int, float]) -> dict[int, tuple[int, float, float]]:
    latest: dict[tuple[int, int], tuple[int, int, int]] = {}
    for pattern, device, trials, rate_q, seq in rows:  # the highest seq wins; among equal seqs, the last one
        if (pattern, device) not in latest or seq >= latest[(pattern, device)][0]:
            latest[(pattern, device)] = (seq, trials, rate_q)
    out = {}
    for pattern in sorted({p for p, _ in latest}):
        entries = sorted((rate_q / 255, min(trials * quality.get(device, 1.0), weighting.max_weight))
                         for (p, device), (_, trials, rate_q) in latest.items() if p == pattern)
        if len(entries) < weighting.k:
            continue
        cut = math.floor(len(entries) * weighting.trim)
        kept = entries[cut: len(entries) - cut] if len(entries) - 2 * cut >= 1 else entries
        total = sum(w for _, w in kept)
        rate = sum(r * w for r, w in kept) / total if total > 0 else sum(r for r, _ in kept) / len(kept)
        out[pattern] = (len(entries), total, rate)
    return out


def test_equal_rates_are_trimmed_by_weight_not_by_device_order() -> None:
    # Devices 1 and 2 tie at the middle rate with different weights; the trim keeps one of them.
    rows = [(3, 1, 5, 1, 1), (3, 2, 1, 1, 1), (3, 3, 1, 0, 1), (3, 4, 1, 2, 1), (3, 5, 1, 2, 1)]
    weighting = Weighting(k=1, max_weight=200.0, trim=0.4)
    array = np.zeros(len(rows), ROW)
    for i, (pattern, device, trials, rate_q, seq) in enumerate(rows):
        array[i] = (pattern, device, seq, trials, rate_q)
    state = ShardState()
    state.append(array)
    got = state.aggregate(weighting, np.ones(13))
    assert float(got["weight"][0]) == naive(rows, weighting, {})[3][1]


@settings(max_examples=300, deadline=None)
@given(rows_strategy, st.integers(1, 4), st.sampled_from([0.0, 0.1, 0.25, 0.4]), st.floats(1, 200),
       st.dictionaries(st.integers(1, 12), st.floats(0, 1), max_size=6), st.integers(1, 4))
def test_aggregation_matches_the_plain_computation_however_the_rows_were_batched(
    rows: list[tuple[int, int, int, int, int]], k: int, trim: float, max_weight: float, quality: dict[int, float], batches: int
) -> None:
    weighting = Weighting(k=k, max_weight=max_weight, trim=trim)
    array = np.zeros(len(rows), ROW)
    for i, (pattern, device, trials, rate_q, seq) in enumerate(rows):
        array[i] = (pattern, device, seq, trials, rate_q)
    state = ShardState()
    for part in np.array_split(array, batches):  # in arrival order, folded in between some batches
        state.append(part)
        if len(part) % 2:
            state.compact()
    scale = np.ones(13)
    for device, q in quality.items():
        scale[device] = q
    got = state.aggregate(weighting, scale)
    expected = naive(rows, weighting, quality)
    assert got["pattern"].tolist() == sorted(expected)
    for row in got:
        devices, total, rate = expected[int(row["pattern"])]
        assert int(row["devices"]) == devices
        assert math.isclose(float(row["weight"]), total, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(float(row["rate"]), rate, rel_tol=1e-9, abs_tol=1e-12)
