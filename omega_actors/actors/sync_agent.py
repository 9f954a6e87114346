"""The sync agent: one per TV, under its brain's supervisor, pushing what works and pulling what the fleet knows.

One sync, driven by messages (nothing waits in a handler on the actor link):

1. ask the memory actor for a :class:`SyncView` (the TV's pattern
   statistics and the pattern keys it could use);
2. push the changed, successful ones (:class:`~omega_actors.federation.device.SyncSession`
   chooses them and signs the frame);
3. pull the cohort's bundle and, when it is new, hand the memory actor the
   fleet's rates and trends (:class:`~omega_actors.actors.tv_brain.ApplyPatterns`);
4. schedule the next sync: a jittered 5-15 minutes after a success,
   backoff after a failure. Time is read from the ``clock`` given (the
   runtime's, so a simulation can compress it); a ``tick`` timer checks it.

Links: ``link = "actors"`` talks to the constellation's ingest and publisher
by registered name, and enrolls itself there on first start (in-cluster
only). ``link = "nats"`` speaks to a constellation over NATS JetStream; its
key is provisioned into ``<data_dir>/<tv>/sync.key`` beforehand. With
``link = "off"`` the TV never syncs. Everything the agent knows survives a
restart: its key and its last sequence number are files (``sync.key``,
``sync.seq``, written atomically, the number before each push leaves), its
statistics live in the brain, and the acknowledged state is rebuilt by the
next push (values are cumulative). A TV that lost its files re-enrolls and
starts above the last number the constellation committed for it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..brain import ConsolidatedPatterns
from ..errors import ConfigError
from ..federation.device import SyncSession, SyncSettings, bundle_tables
from ..federation.encoder import LocalPattern
from ..federation.transport import Link
from ..runtime import (
    Actor,
    Address,
    Backoff,
    ChildSpec,
    Clock,
    MonotonicClock,
    emit,
    handler,
    settings_from_table,
)
from ..storage.files import write_atomically
from .sync_messages import (
    INGEST,
    PUBLISHER,
    Enroll,
    Enrolled,
    PullFrame,
    PullReply,
    PushFrame,
    PushReply,
)
from .tv_brain import ApplyPatterns, GetSyncView, SyncView

LINKS = ("actors", "nats", "off")
IDLE, VIEW, PUSH, PULL = "idle", "view", "push", "pull"


@dataclass(frozen=True)
class SyncNow:
    """Sync at once (tests, operators); answered with :class:`SyncReport` when the sync ends."""


@dataclass(frozen=True)
class SyncReport:
    ok: bool
    bundle_version: int
    counts: dict[str, int]


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class CycleTimeout:
    cycle: int


class SyncAgent(Actor):
    @classmethod
    def child_spec(cls, id: str, *args: Any, **options: Any) -> ChildSpec:
        """Its spec, with the link and the sync settings checked here rather than in a child's start."""
        _checked(options.get("link", "actors"), options.get("sync"))
        return super().child_spec(id, *args, **options)

    def __init__(self, tv: str, data_dir: str = "", sync: Mapping[str, Any] | None = None, link: str = "actors",
                 nats_url: str = "", nats_prefix: str = "omega", clock: Clock | None = None, tick: float = 1.0,
                 memory: str = "") -> None:
        self.settings = _checked(link, sync)
        self.tv, self.link_kind, self.nats_url, self.nats_prefix = tv, link, nats_url, nats_prefix
        self.directory = Path(data_dir or ".omega/brains") / tv
        self.clock = clock or MonotonicClock()
        self.tick_seconds = tick
        self.memory = memory or f"tv.{tv}.memory"
        self.session: SyncSession | None = None
        self.link: Link | None = None
        self.cycle = 0
        self.stage = IDLE
        self.vocabulary: tuple[str, ...] = ()
        self.waiting: list[Address] = []
        self.enroll_due = 0.0
        self.enroll_attempts = 0

    # Lifecycle.

    def started(self) -> None:
        if self.link_kind == "off":
            return
        if self._stored_key() is None and self.link_kind == "nats":
            emit(logging.WARNING, "sync_key_missing", self.path, tv=self.tv, file=str(self._key_file()))
        self._enroll_again()
        self.send_after(self.tick_seconds, Tick())

    def stopping(self, reason: object) -> None:
        if self.link is not None:
            self.link.close()

    def _key_file(self) -> Path:
        return self.directory / "sync.key"

    def _stored_key(self) -> bytes | None:
        try:
            key = self._key_file().read_bytes()
        except FileNotFoundError:
            return None
        return key if len(key) == 32 else None

    @handler
    def enrolled(self, message: Enrolled) -> None:
        if message.device != self.tv or not isinstance(message.key, bytes) or not isinstance(message.seq, int):
            return
        # Every enrollment re-keys the device, and answers come in the order the ingest handled them:
        # the last one received holds the key in force (retries may have crossed).
        self._write(self._seq_file(), str(max(message.seq, self._stored_seq())).encode())
        self._write(self._key_file(), message.key)
        if self.session is None:
            self._begin(message.key)
        else:
            self.session.key = self.session.builder.key = message.key
            self.session.builder.seq = max(self.session.builder.seq, message.seq)

    def _seq_file(self) -> Path:
        return self.directory / "sync.seq"

    def _stored_seq(self) -> int:
        try:
            return int(self._seq_file().read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _write(self, path: Path, data: bytes) -> None:
        """Atomically and durably: a torn key file would lock the TV out; a stale seq would look like replays."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, mode=0o600)  # the key is a secret

    def _begin(self, key: bytes) -> None:
        rng = random.Random()
        self.session = SyncSession(self.tv, key, self.settings, rng)
        # Sequence numbers outlive this instance: a restarted agent that began at 1 again would see its
        # pushes refused as replays until the constellation's answer made it jump.
        self.session.builder.seq = self._stored_seq()
        # The first sync comes at a random point of one interval: a fleet that boots together spreads out.
        self.session.due = self.clock.now() + rng.uniform(0, self.settings.interval_min)
        if self.link_kind == "nats":
            from ..federation.nats_transport import NatsLink

            self.link = NatsLink(self.nats_url, self.nats_prefix)

    # When to sync.

    @handler
    def tick(self, message: Tick) -> None:
        if self.session is None:
            self._enroll_again()
        elif self.stage == IDLE and self.session.is_due(self.clock.now()):
            self._start()
        self.send_after(self.tick_seconds, Tick())

    def _enroll_again(self) -> None:
        """No key yet: the ingest was not up, or its answer was lost. Ask again, backing off; or read a provisioned key."""
        key = self._stored_key()
        if key is not None:
            self._begin(key)
            return
        now = self.clock.now()
        if self.link_kind == "actors" and now >= self.enroll_due:
            self.enroll_attempts += 1
            backoff = Backoff(initial=self.settings.backoff_base, maximum=self.settings.backoff_max)
            self.enroll_due = now + backoff.delay(self.enroll_attempts, random.random())
            self.send_named(INGEST, Enroll(self.tv))

    @handler
    def sync_now(self, message: SyncNow) -> SyncReport | None:
        if self.session is None:
            return SyncReport(False, 0, {"not_enrolled": 1})
        if self.sender is not None:
            self.waiting.append(self.sender)
        if self.stage == IDLE:
            self._start()
        return None

    def _start(self) -> None:
        self.stage = VIEW
        self.cycle += 1
        self.send_named(self.memory, GetSyncView())
        self.send_after(self.settings.timeout * 3, CycleTimeout(self.cycle))

    # One sync: each answer is taken only in the stage that waits for it, so a late one cannot end another.

    @handler
    def view(self, message: SyncView) -> None:
        if self.stage != VIEW or self.session is None:
            return
        self.vocabulary = message.vocabulary
        frame = self.session.push_frame(LocalPattern(k, t, s) for k, t, s in message.patterns)
        if frame is not None:
            self._write(self._seq_file(), str(self.session.builder.seq).encode())  # before the push can be committed
        if self.link is not None:  # NATS: a bounded blocking exchange on this actor's own thread
            pushed = frame is None or self.session.on_push_reply(self.link.push(frame, self.settings.timeout)) is True
            if not pushed:
                self._finish(False)
                return
            self._pulled(self.link.pull(self.session.pull_frame(), self.settings.timeout))
        elif frame is None:
            self._pull()
        else:
            self.stage = PUSH
            self.send_named(INGEST, PushFrame(frame))

    @handler
    def push_reply(self, message: PushReply) -> None:
        if self.session is None:
            return
        pushed = self.session.on_push_reply(message.frame)  # a late ack is applied whatever the stage
        if self.stage != PUSH or pushed is None:
            return
        if pushed:
            self._pull()
        else:
            self._finish(False)

    def _pull(self) -> None:
        assert self.session is not None
        self.stage = PULL
        self.send_named(PUBLISHER, PullFrame(self.session.pull_frame()))

    @handler
    def pull_reply(self, message: PullReply) -> None:
        if self.stage == PULL:
            self._pulled(message.frame)

    def _pulled(self, reply: bytes | None) -> None:
        assert self.session is not None
        bundle = self.session.on_pull_reply(reply)
        if bundle is not None:
            rates, trends = bundle_tables(bundle, self.vocabulary)
            self.send_named(self.memory, ApplyPatterns(ConsolidatedPatterns(rates, {}, trends)))
        # No bundle published yet, or the same one: the push still succeeded.
        self._finish(reply is not None)

    @handler
    def cycle_timeout(self, message: CycleTimeout) -> None:
        if self.stage != IDLE and message.cycle == self.cycle:
            self._finish(False)

    def _finish(self, ok: bool) -> None:
        assert self.session is not None
        self.stage = IDLE
        self.session.finish(self.clock.now(), ok)
        self.increment("syncs_ok" if ok else "syncs_failed")
        report = SyncReport(ok, self.session.bundle_version, dict(self.session.counts))
        for waiter in self.waiting:
            self.send(waiter, report)
        self.waiting = []


def _checked(link: object, sync: Mapping[str, Any] | None) -> SyncSettings:
    if link not in LINKS:
        raise ConfigError(f"expected one of {', '.join(LINKS)}; got {link!r}", key="sync.link")
    return settings_from_table(SyncSettings, dict(sync or {}), section="sync")
