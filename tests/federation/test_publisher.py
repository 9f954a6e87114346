"""Release rounds: trends over a moving baseline, the privacy budget, and the pull cap."""

from __future__ import annotations

import numpy as np
import pytest

from omega_actors.federation.bundle import bundle_frame, decode_bundle
from omega_actors.federation.publisher import Publisher, PublishSettings, TrendDetector
from omega_actors.federation.shard import AGGREGATE

KEY = bytes(32)


def aggregates(rates: dict[int, float], devices: int = 60, weight: float = 1000.0) -> np.ndarray:
    rows = np.zeros(len(rates), AGGREGATE)
    rows["pattern"] = sorted(rates)
    rows["rate"] = [rates[p] for p in sorted(rates)]
    rows["devices"], rows["weight"] = devices, weight
    return rows


def test_a_pattern_trends_when_its_rate_rises_over_its_baseline_after_warmup() -> None:
    detector = TrendDetector(alpha=0.3, min_rise=0.05, rise_scale=0.25, warmup=2)
    for _ in range(3):  # steady: no trend, whatever the level
        assert len(detector.update(aggregates({1: 0.5, 2: 0.9}))) == 0
    trends = detector.update(aggregates({1: 0.7, 2: 0.9}))
    assert trends["pattern"].tolist() == [1]
    assert trends["score"][0] == pytest.approx(min(1.0, (0.7 - 0.5) / 0.25))
    # The baseline follows: a rate that stays up stops trending.
    for _ in range(20):
        detector.update(aggregates({1: 0.7, 2: 0.9}))
    assert len(detector.update(aggregates({1: 0.7, 2: 0.9}))) == 0


def test_a_new_pattern_does_not_trend_before_its_warmup() -> None:
    detector = TrendDetector(warmup=3)
    detector.update(aggregates({1: 0.2}))
    assert len(detector.update(aggregates({1: 0.2, 5: 1.0}))) == 0
    assert len(detector.update(aggregates({1: 0.9, 5: 1.0}))) == 0  # pattern 1 has seen 2 rounds only


def test_trend_baselines_survive_a_restart_through_their_bytes() -> None:
    detector = TrendDetector(warmup=1)
    detector.update(aggregates({1: 0.5}))
    again = TrendDetector(warmup=1)
    again.load(detector.to_bytes())
    assert again.update(aggregates({1: 0.8}))["pattern"].tolist() == [1]


def test_the_privacy_budget_refuses_releases_past_the_maximum_epsilon() -> None:
    publisher = Publisher(PublishSettings(epsilon=1.0, max_epsilon=2.5))
    rows = aggregates({1: 0.5, 2: 0.9})
    first, second = publisher.release(rows, "all", 100.0), publisher.release(rows, "all", 100.0)
    assert first is not None and second is not None and first.noised
    assert publisher.release(rows, "all", 100.0) is None and publisher.refused == 1
    assert publisher.budget.spent == pytest.approx(2.0) and publisher.version == 2


def test_noise_is_scaled_to_one_devices_influence() -> None:
    publisher = Publisher(PublishSettings(epsilon=1.0, max_epsilon=1e6))
    many = aggregates({p: 0.5 for p in range(200)}, weight=1e6)  # one device moves these by 1e-4 at most
    release = publisher.release(many, "all", 100.0)
    assert release is not None
    bundle = decode_bundle(bundle_frame(release.body, KEY), KEY)
    assert bundle.patterns is not None
    assert max(abs(rate - 0.5) for rate in bundle.patterns.values()) <= 2 / 255  # quantization, not noise


def test_without_epsilon_no_budget_is_spent_and_rates_travel_exactly_to_a_quantum() -> None:
    publisher = Publisher(PublishSettings())
    release = publisher.release(aggregates({1: 0.5}), "all", 100.0)
    assert release is not None and not release.noised and publisher.budget.spent == 0
    bundle = decode_bundle(bundle_frame(release.body, KEY), KEY)
    assert bundle.patterns == {1: pytest.approx(0.5, abs=0.5 / 255)}


@pytest.mark.parametrize("field, value", [("alpha", 0.0), ("epsilon", -1.0), ("pull_cap", 10), ("warmup", -1)])
def test_bad_publish_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        PublishSettings(**{field: value})  # type: ignore[arg-type]
