"""A NATS ingest server in its own process, for tests that kill it.

Run as ``python -m tests.federation.nats_server_proc STORE URL PREFIX SIGNALS [--ack-wait S] [--crash-after-commit]``.
It tells the test what happened through files in SIGNALS, each written whole (renamed into place):

- ``ready``: serving;
- ``committed.json``: with ``--crash-after-commit``, the first batch is committed (its frame count);
  the process then dies with ``os._exit(9)`` before any answer or ack, as a power cut would;
- ``stats.json``: after SIGTERM, the constellation's stats and the server's counters; exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from omega_actors.federation.constellation import Constellation, ConstellationSettings
from omega_actors.federation.nats_transport import NatsIngestServer
from omega_actors.federation.shard import Weighting
from omega_actors.storage.constellation import SQLiteConstellationStore


def settings() -> ConstellationSettings:
    """The tests' constellation: two shards, every pattern released from one device on."""
    return ConstellationSettings(shards=2, weighting=Weighting(k=1))


def signal_file(path: Path, content: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(content)
    partial.rename(path)  # the test never sees half a file


class CrashAfterCommit(Constellation):
    """Commits the first batch, then dies before the server can answer or ack it."""

    signals: Path

    def submit(self, frames: Sequence[bytes]) -> list[bytes | None]:
        replies = super().submit(frames)
        signal_file(self.signals / "committed.json", json.dumps({"frames": len(frames)}))
        os._exit(9)
        return replies


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("store", "url", "prefix", "signals"):
        parser.add_argument(name)
    parser.add_argument("--ack-wait", type=float, default=5.0)
    parser.add_argument("--crash-after-commit", action="store_true")
    args = parser.parse_args()
    signals = Path(args.signals)
    # Blocked before any thread starts, so only sigwait below ever receives it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    store = SQLiteConstellationStore(args.store)
    kind = CrashAfterCommit if args.crash_after_commit else Constellation
    constellation = kind(store, settings())
    if isinstance(constellation, CrashAfterCommit):
        constellation.signals = signals
    server = NatsIngestServer(constellation, args.url, args.prefix, ack_wait=args.ack_wait)
    server.start()
    signal_file(signals / "ready", "")
    signal.sigwait({signal.SIGTERM})
    server.stop()
    stats = constellation.stats() | {"server_batches": server.batches, "server_messages": server.messages}
    store.close()
    signal_file(signals / "stats.json", json.dumps(stats))


if __name__ == "__main__":
    main()
