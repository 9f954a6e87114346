"""NATS with JetStream between devices and the constellation: answers, bundles, a crash before the ack, offline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nats
import pytest

from omega_actors.federation.bundle import (
    PullRequest,
    decode_bundle,
    encode_pull_request,
)
from omega_actors.federation.constellation import Constellation
from omega_actors.federation.encoder import LocalPattern, PushBuilder
from omega_actors.federation.nats_transport import (
    NatsIngestServer,
    NatsLink,
    delete_stream,
    stream_name,
)
from omega_actors.federation.wire import Ack, Refusal, decode_reply, pattern_id
from omega_actors.storage.constellation import SQLiteConstellationStore
from tests.conftest import require_service
from tests.federation.nats_server_proc import settings
from tests.runtime.conftest import wait_until

NATS = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parents[2]
WAIT = 120.0  # generous: the tests share a loaded 2-core machine


@pytest.fixture
def prefix() -> Iterator[str]:
    """A subject prefix (and so a stream) of this test's own; the stream is deleted afterwards."""
    require_service("NATS", "127.0.0.1", 4222)
    name = f"omega_t{uuid.uuid4().hex[:10]}"
    yield name
    delete_stream(NATS, name)


def patterns(device: int) -> list[LocalPattern]:
    return [LocalPattern("evening|calm|jazz", 10 + device, 9 + device), LocalPattern(f"morning|news|d{device}", 20, 19)]


def push_frame(name: str, key: bytes, n: int) -> bytes:
    frame = PushBuilder(name, key).build(patterns(n))
    assert frame is not None
    return frame


def test_devices_get_their_signed_acks_and_pull_the_published_bundle_through_nats(tmp_path: Path, prefix: str) -> None:
    constellation = Constellation(SQLiteConstellationStore(tmp_path), settings())
    names = [f"tv{n}" for n in range(3)]
    keys = {name: constellation.enroll(name) for name in names}
    server = NatsIngestServer(constellation, NATS, prefix)
    server.start()
    links = {name: NatsLink(NATS, prefix) for name in names}
    try:
        for n, name in enumerate(names):
            reply = links[name].push(push_frame(name, keys[name], n), timeout=WAIT)
            assert reply is not None, f"{name} got no answer"
            assert decode_reply(reply, keys[name]) == Ack(name, 1)
        assert server.call(constellation.publish) is not None  # on the server's thread: one thread touches it
        answer = links["tv0"].pull(encode_pull_request(PullRequest("tv0", "all"), keys["tv0"]), timeout=WAIT)
        assert answer is not None
        bundle = decode_bundle(answer, keys["tv0"])
        assert bundle.patterns is not None
        assert {pattern_id("evening|calm|jazz"), pattern_id("morning|news|d2")} <= set(bundle.patterns)
        assert server.messages == 3
    finally:
        for link in links.values():
            link.close()
        server.stop()
        constellation.store.close()


def start_server(store: Path, prefix: str, signals: Path, *flags: str) -> subprocess.Popen[bytes]:
    """A server process on ``store``; its output goes to ``<signals>.log``."""
    signals.mkdir()
    with signals.with_suffix(".log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.federation.nats_server_proc", str(store), NATS, prefix, str(signals),
             "--ack-wait", "2", *flags],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def reference_aggregates(tmp_path: Path, keys: dict[str, bytes], frames: list[bytes]) -> list[object]:
    """The same devices and pushes in one process, one batch, no crash."""
    store = SQLiteConstellationStore(tmp_path / "reference")
    for name, key in keys.items():  # same order, so the same device indexes
        store.enroll(name, key)
    reference = Constellation(store, settings())
    reference.submit(frames)
    try:
        return reference.aggregates().tolist()
    finally:
        store.close()


def create_stream(tmp_path: Path, prefix: str) -> None:
    """The stream and its consumer, as a first server run leaves them (a consumer keeps its first ack_wait)."""
    scratch = SQLiteConstellationStore(tmp_path / "scratch")
    server = NatsIngestServer(Constellation(scratch, settings()), NATS, prefix, ack_wait=2.0)
    server.start()
    server.stop()
    scratch.close()


def stored(prefix: str) -> int:
    """How many pushes the stream holds, not yet acked."""

    async def count() -> int:
        nc = await nats.connect(NATS)
        try:
            return int((await nc.jetstream().stream_info(stream_name(prefix))).state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


@pytest.mark.slow
def test_a_server_killed_after_committing_and_before_acking_loses_nothing_and_counts_nothing_twice(
        tmp_path: Path, prefix: str) -> None:
    store = tmp_path / "store"
    enrolling = Constellation(SQLiteConstellationStore(store), settings())
    keys = {f"tv{n}": enrolling.enroll(f"tv{n}") for n in range(8)}
    enrolling.store.close()
    frames = [push_frame(name, key, n) for n, (name, key) in enumerate(keys.items())]
    create_stream(tmp_path, prefix)
    link = NatsLink(NATS, prefix)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with ThreadPoolExecutor(len(frames)) as pool:
            # The devices push once and wait: their answers can only come from the second server.
            replies = [pool.submit(link.push, frame, WAIT) for frame in frames]
            wait_until(lambda: stored(prefix) == len(frames), timeout=WAIT, what="every push stored in the stream")
            procs.append(start_server(store, prefix, tmp_path / "first", "--crash-after-commit"))
            assert procs[0].wait(WAIT) == 9, (tmp_path / "first.log").read_text()
            crashed = json.loads((tmp_path / "first" / "committed.json").read_text())["frames"]
            procs.append(start_server(store, prefix, tmp_path / "second"))
            acks = [decode_reply(reply.result(WAIT) or b"", keys[f"tv{n}"]) for n, reply in enumerate(replies)]
        # Redelivered after their commit: refused as replays (never acked on trust), with the committed number.
        assert acks == [Refusal("replay", 1)] * len(frames)
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(WAIT) == 0, (tmp_path / "second.log").read_text()
    finally:
        link.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)
    stats = json.loads((tmp_path / "second" / "stats.json").read_text())
    assert crashed == len(frames)  # all of them committed in the one batch the crash left unacked
    assert (stats["replay"], stats.get("accepted", 0)) == (len(frames), 0)  # redelivered, absorbed
    recovered_store = SQLiteConstellationStore(store)
    try:
        recovered = Constellation(recovered_store, settings()).aggregates().tolist()
    finally:
        recovered_store.close()
    assert recovered == reference_aggregates(tmp_path, keys, frames)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_link_to_an_unreachable_server_answers_none_quickly_and_never_raises() -> None:
    link = NatsLink(f"nats://127.0.0.1:{free_port()}", f"omega_t{uuid.uuid4().hex[:10]}")
    try:
        started = time.monotonic()
        assert link.push(push_frame("tv0", os.urandom(32), 0), timeout=30.0) is None
        assert link.pull(b"\x00not a frame", timeout=30.0) is None
        assert time.monotonic() - started < 10.0  # refused at once: no waiting out the timeouts
    finally:
        link.close()
