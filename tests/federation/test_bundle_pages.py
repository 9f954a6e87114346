"""A release larger than one pull: pages that tile the id space, each under the cap, pulled one per sync."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.federation.bundle import (
    MAX_PAGES,
    PATTERN_RECORD,
    bundle_frame,
    decode_bundle,
    encode_pages,
    page_capacity,
    support_of,
)
from omega_actors.federation.constellation import Constellation, ConstellationSettings
from omega_actors.federation.device import SyncSession, SyncSettings
from omega_actors.federation.encoder import LocalPattern
from omega_actors.federation.publisher import Publisher, PublishSettings
from omega_actors.federation.shard import AGGREGATE, Weighting
from omega_actors.federation.wire import WireError
from omega_actors.storage.constellation import SQLiteConstellationStore

KEY = bytes(range(32))


def released(ids: list[int]) -> np.ndarray:
    rows = np.zeros(len(ids), AGGREGATE)
    rows["pattern"] = ids
    rows["rate"] = 1.0
    rows["devices"] = [5 + i % 40 for i in range(len(ids))]
    return rows


@settings(max_examples=30, deadline=None)
@given(st.sets(st.integers(0, (1 << 32) - 1), max_size=900), st.sampled_from([300, 1024, 5120]))
def test_pages_tile_the_id_space_hold_every_pattern_once_and_fit_the_cap(ids: set[int], cap: int) -> None:
    rows = released(sorted(ids))
    pages = [decode_bundle(bundle_frame(body, KEY, cap), KEY, cap) for body in encode_pages("all", 3, rows, cap)]
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert all(p.pages == len(pages) + 1 and p.version == 3 for p in pages)
    if pages:
        assert pages[0].lo == 0 and pages[-1].hi == 1 << 32
        assert all(a.hi == b.lo for a, b in zip(pages, pages[1:]))
    got = np.concatenate([p.records["id"] for p in pages]) if pages else np.zeros(0)
    assert got.tolist() == sorted(ids)
    supports = np.concatenate([support_of(p.records["support"]) for p in pages]) if pages else np.zeros(0)
    assert np.all(np.abs(supports - rows["devices"]) <= 0.05 * rows["devices"] + 0.5)


def test_a_device_pulls_one_page_per_sync_until_it_holds_the_release_then_hears_only_news(tmp_path) -> None:
    store = SQLiteConstellationStore(tmp_path)
    settings_ = ConstellationSettings(shards=2, weighting=Weighting(k=1), publish=PublishSettings(pull_cap=400))
    constellation = Constellation(store, settings_)
    session = SyncSession("tv-1", constellation.enroll("tv-1"), SyncSettings(pull_cap=400))
    patterns = [LocalPattern("", 3, 3, ident) for ident in range(1000, 1140)]  # 140 patterns: several pages of 400 bytes
    assert constellation.submit([session.push_frame(patterns)]) is not None
    constellation.publish()
    pages_seen = []
    for _ in range(20):
        bundle = session.on_pull_reply(constellation.pull(session.pull_frame()))
        if bundle is None:
            break
        pages_seen.append(bundle.page)
    assert session.caught_up and session.pages > 2
    assert pages_seen == list(range(session.pages))
    quiet = constellation.pull(session.pull_frame())
    assert quiet is not None and len(quiet) < 80 and session.on_pull_reply(quiet) is None
    constellation.publish()  # a new release: checking page 0 for news brings it, and the other pages are now old
    fresh = session.on_pull_reply(constellation.pull(session.pull_frame()))
    assert fresh is not None and (fresh.page, fresh.version) == (0, 2)
    assert not session.caught_up and session.next_page() == 1
    store.close()


def test_a_device_reaches_every_page_even_when_a_release_comes_before_each_pull(tmp_path) -> None:
    store = SQLiteConstellationStore(tmp_path)
    settings_ = ConstellationSettings(shards=2, weighting=Weighting(k=1), publish=PublishSettings(pull_cap=400))
    constellation = Constellation(store, settings_)
    session = SyncSession("tv-1", constellation.enroll("tv-1"), SyncSettings(pull_cap=400))
    constellation.submit([session.push_frame([LocalPattern("", 3, 3, ident) for ident in range(1000, 1140)])])
    fetched: set[int] = set()
    for _ in range(12):
        constellation.publish()  # releases outpace syncs, as with a 60 s release interval and 5-15 min syncs
        bundle = session.on_pull_reply(constellation.pull(session.pull_frame()))
        if bundle is not None:
            fetched.add(bundle.page)
    assert session.pages > 3 and fetched == set(range(session.pages))
    store.close()


def test_an_empty_release_is_one_page_that_clears_every_id() -> None:
    (body,) = encode_pages("all", 4, released([]))
    page = decode_bundle(bundle_frame(body, KEY), KEY)
    assert (page.page, page.pages, page.lo, page.hi, len(page.records)) == (1, 2, 0, 1 << 32, 0)


def test_a_headline_page_repeating_an_id_is_refused_even_when_signed() -> None:
    body = msgpack.packb(["all", 1, bytes(np.array([(7, 10, 8), (7, 10, 8)], PATTERN_RECORD).tobytes()), b"", 0, 1, 0, 0],
                         use_bin_type=True)
    with pytest.raises(WireError) as refused:
        decode_bundle(bundle_frame(body, KEY), KEY)
    assert refused.value.reason == "duplicate_pattern"


def test_a_device_whose_constellation_went_back_in_versions_starts_over(tmp_path) -> None:
    session = SyncSession("tv-1", KEY, SyncSettings())
    session.held, session.latest, session.pages = {0: 9, 1: 9}, 9, 2
    older = bundle_frame(msgpack.packb(["all", 2, b"", b"", 0, 3, 0, 0], use_bin_type=True), KEY)
    assert session.on_pull_reply(older) is not None
    assert (session.latest, session.held, session.pages) == (2, {0: 2}, 3)


def test_a_release_too_large_for_every_page_keeps_the_best_supported_and_stays_consistent() -> None:
    publisher = Publisher(PublishSettings(pull_cap=256))
    per_page = page_capacity("all", 1, 256)
    rows = released(list(range(10, 10 + (MAX_PAGES - 1) * per_page + 50)))
    release = publisher.release(rows, "all", 100.0)
    assert release is not None and release.version == publisher.version == 1
    assert len(release.pages) == MAX_PAGES - 1
    kept = np.concatenate([decode_bundle(bundle_frame(body, KEY, 256), KEY, 256).records["id"] for body in release.pages])
    dropped = set(rows["pattern"].tolist()) - set(kept.tolist())
    assert len(dropped) == 50
    assert max(rows["devices"][np.isin(rows["pattern"], list(dropped))]) <= min(rows["devices"][np.isin(rows["pattern"], kept)])
