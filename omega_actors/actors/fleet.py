"""The simulated fleet's actors: worker processes of many TVs each, and a conductor that plays steps.

The tree (:func:`omega_actors.app.fleet.fleet_spec`): the constellation, then
the workers (:class:`FleetWorkerActor`, each running a
:class:`~omega_actors.evaluation.fleet.FleetWorker` of many TVs), then the
:class:`Conductor`.

A step, driven by messages (nothing waits in a handler):

1. the driver asks the conductor :class:`Step` (views per worker);
2. the conductor sends each worker :class:`Play`; a worker plays its
   views, then sends each due TV's push to the ingest and pull to the
   publisher, as itself, tagged with the TV's name;
3. a worker answers :class:`Played` when every answer came back, or when
   ``sync_timeout`` passed (an unanswered sync fails and backs off, as on
   a real TV);
4. when every worker played, the conductor answers :class:`Stepped`.

A worker that crashed or was killed never answers: the conductor sends the
same :class:`Play` again after ``retry`` seconds, to whatever instance is
registered by then. Views carry their position in each TV's stream, so a
replayed batch is applied once. A fault can be asked for: ``Play.fail_at``
makes the worker's handler raise after that many views (let it crash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..brain.settings import BrainSettings
from ..evaluation.fleet import FleetWorker, ViewIn, load_catalogue
from ..federation.device import SyncSettings
from ..runtime import Actor, ActorFailed, Address, emit, handler, settings_from_table
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

CONDUCTOR = "fleet.conductor"
ENROLL_RETRY = 30.0  # seconds before a TV with no answer to its Enroll asks again
CATALOGUE_FILE = "catalogue.npz"


def worker_name(index: int) -> str:
    return f"fleet.worker.{index}"


@dataclass(frozen=True)
class Play:
    step: int
    views: tuple[ViewIn, ...]
    now: float  # simulated seconds: when sessions are due
    recommend: bool = True
    sync_all: bool = False  # every TV syncs, due or not (the final rounds)
    sync: bool = True
    fail_at: int | None = None  # fault injection: raise after this many views
    offline: frozenset[str] = frozenset()  # TVs whose network is down: they play, but do not sync


@dataclass(frozen=True)
class Played:
    step: int
    worker: int
    played: dict[str, int]  # tv -> views its memory holds (committed)
    latencies_ms: tuple[float, ...]
    hits: int
    recommended: int
    acked: tuple[tuple[str, int, tuple[int, ...]], ...]  # (tv, seq, pattern ids) acknowledged by the constellation
    push_bytes: tuple[int, ...]
    pull_bytes: tuple[int, ...]
    frames: dict[str, int]  # what crossed the link, by kind, since the last report
    syncs_ok: int
    syncs_failed: int
    caught_up: bool


@dataclass(frozen=True)
class SyncTimeout:
    step: int


@dataclass(frozen=True)
class OpenBrains:
    pass


@dataclass(frozen=True)
class Rank:
    n: int = 10


@dataclass(frozen=True)
class Ranked:
    ranked: dict[str, list[str]]


@dataclass(frozen=True)
class Step:
    step: int
    views: dict[int, tuple[ViewIn, ...]]  # worker -> its views, in order
    now: float
    recommend: bool = True
    sync_all: bool = False
    sync: bool = True
    faults: dict[int, int] = field(default_factory=dict)  # worker -> fail_at
    offline: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Stepped:
    step: int
    reports: tuple[Played, ...]
    retries: int


@dataclass(frozen=True)
class Retry:
    step: int
    rearm: bool = True


class FleetWorkerActor(Actor):
    """A shell around a :class:`FleetWorker` of the TVs it was given (:func:`fleet_spec` deals them round-robin)."""

    def __init__(self, index: int, tvs: Sequence[str], directory: str, brain: Mapping[str, Any] | None = None,
                 sync: Mapping[str, Any] | None = None, sync_timeout: float = 20.0) -> None:
        self.index, self.tvs, self.directory = index, tuple(tvs), Path(directory)
        self.brain_settings = BrainSettings.from_table(dict(brain or {}))
        self.sync_settings = settings_from_table(SyncSettings, dict(sync or {}), section="sync")
        self.sync_timeout = sync_timeout
        self.worker: FleetWorker | None = None
        self.step = -1
        self.conductor: Address | None = None
        self.outstanding: dict[str, int] = {}  # tv -> answers still awaited this step
        self.ok: dict[str, bool] = {}
        self.now = 0.0
        self.report: dict[str, Any] = {}
        self.acked: list[tuple[str, int, tuple[int, ...]]] = []  # acks not yet reported (late ones included)
        self.answered: Played | None = None  # the last step's answer, sent again if that Play comes again
        self.enrolling: dict[str, float] = {}  # tv -> when its Enroll was sent (each one re-keys the TV)

    def started(self) -> None:
        self.send(self.address, OpenBrains())  # opening hundreds of brains is work for a handler, not for start

    def stopping(self, reason: object) -> None:
        if self.worker is not None:
            self.worker.close()

    @handler
    def open_brains(self, message: OpenBrains) -> None:
        catalogue, vectors = load_catalogue(self.directory / CATALOGUE_FILE)
        self.worker = FleetWorker(self.directory / f"worker-{self.index}", self.tvs, catalogue, vectors,
                                  self.brain_settings, self.sync_settings)
        self._enroll()

    def _enroll(self) -> None:
        """Ask for the keys still missing, once per TV unless the answer is long overdue (the ingest died)."""
        assert self.worker is not None
        now = time.monotonic()
        for tv in self.worker.unenrolled():
            if now - self.enrolling.get(tv, -ENROLL_RETRY) >= ENROLL_RETRY:
                self.enrolling[tv] = now
                self.send_named(INGEST, Enroll(tv))

    @handler
    def enrolled(self, message: Enrolled) -> None:
        if self.worker is not None and isinstance(message.key, bytes) and isinstance(message.seq, int):
            self.enrolling.pop(message.device, None)
            self.worker.enrolled(message.device, message.key, message.seq)

    @handler
    def play(self, message: Play) -> None:
        assert self.worker is not None
        if message.step == self.step:
            if not self.outstanding and self.answered is not None and self.sender is not None:
                self.send(self.sender, self.answered)  # our answer was lost, or crossed the retry
            return  # otherwise the step is syncing and its answer is on the way
        self.step, self.conductor, self.now = message.step, self.sender, message.now
        views = message.views
        if message.fail_at is not None:
            self.worker.play(views[: message.fail_at], message.recommend)
            raise RuntimeError(f"fault injected into {self.path} after {message.fail_at} views")
        played = self.worker.play(views, message.recommend)
        self.report = {"latencies_ms": played.latencies_ms, "hits": played.hits, "recommended": played.recommended,
                       "ok": 0, "failed": 0}
        if not message.sync:
            self._answer()
            return
        self._enroll()
        offline = message.offline if isinstance(message.offline, frozenset) else frozenset()
        for tv, push, pull in self.worker.sync_frames(message.now, self.tvs if message.sync_all else None, offline):
            self.outstanding[tv], self.ok[tv] = 1, True
            tag = f"{tv}#{message.step}"  # the round too: a late answer must not settle this step's sync
            if push is not None:
                self.outstanding[tv] += 1
                self.send_named(INGEST, PushFrame(push, tag))
            self.send_named(PUBLISHER, PullFrame(pull, tag))
        if self.outstanding:
            self.send_after(self.sync_timeout, SyncTimeout(message.step))
        else:
            self._answer()

    @handler
    def push_reply(self, message: PushReply) -> None:
        tv, current = self._tagged(message.tag)
        if self.worker is None or tv is None:
            return
        acked = self.worker.push_replied(tv, message.frame)
        if acked is not None:
            self.acked.append((tv, *acked))  # reported with this step's answer, or the next one's
        elif current:
            self.ok[tv] = False
        if current:
            self._answered(tv)

    @handler
    def pull_reply(self, message: PullReply) -> None:
        tv, current = self._tagged(message.tag)
        if self.worker is None or tv is None:
            return
        if not self.worker.pull_replied(tv, message.frame) and current:
            self.ok[tv] = False
        if current:
            self._answered(tv)

    def _tagged(self, tag: object) -> tuple[str | None, bool]:
        """The TV a reply is for, and whether it answers this step's sync (a late one is applied, not counted)."""
        if not isinstance(tag, str):
            return None, False
        tv, _, step = tag.rpartition("#")
        return tv, step == str(self.step) and tv in self.outstanding

    def _answered(self, tv: str) -> None:
        self.outstanding[tv] -= 1
        if self.outstanding[tv] == 0:
            self._finish(tv)
            if not self.outstanding:
                self._answer()

    def _finish(self, tv: str) -> None:
        assert self.worker is not None
        del self.outstanding[tv]
        ok = self.ok.pop(tv, False)
        self.worker.finish_sync(tv, self.now, ok)
        self.report["ok" if ok else "failed"] += 1

    @handler
    def sync_timed_out(self, message: SyncTimeout) -> None:
        if message.step != self.step or not self.outstanding:
            return
        emit(logging.INFO, "fleet_sync_timeout", self.path, tvs=len(self.outstanding))
        for tv in list(self.outstanding):
            self.ok[tv] = False
            self._finish(tv)
        self._answer()

    def _answer(self) -> None:
        assert self.worker is not None
        link = self.worker.link
        report = Played(
            self.step, self.index, dict(self.worker.played), tuple(self.report.get("latencies_ms", ())),
            self.report.get("hits", 0), self.report.get("recommended", 0), tuple(self.acked),
            tuple(link.push_bytes), tuple(link.pull_bytes), dict(link.counts), self.report.get("ok", 0),
            self.report.get("failed", 0), self.worker.caught_up(),
        )
        link.push_bytes.clear()
        link.pull_bytes.clear()
        link.counts.clear()
        self.acked, self.report, self.answered = [], {}, report
        if self.conductor is not None:
            self.send(self.conductor, report)

    @handler
    def rank(self, message: Rank) -> Ranked:
        assert self.worker is not None
        return Ranked(self.worker.rank(self.tvs, message.n))


class Conductor(Actor):
    """Plays one :class:`Step` across every worker and answers when all of them did (resending to the fallen)."""

    def __init__(self, workers: int, retry: float = 30.0) -> None:
        self.workers = workers
        self.retry = retry
        self.current: Step | None = None
        self.asker: Address | None = None
        self.reports: dict[int, Played] = {}
        self.retries = 0

    @handler
    def step(self, message: Step) -> None:
        self.current, self.asker, self.reports, self.retries = message, self.sender, {}, 0
        for worker in range(self.workers):
            self._send(worker, message.faults.get(worker))
        self.send_after(self.retry, Retry(message.step))

    def _send(self, worker: int, fail_at: int | None = None) -> None:
        step = self.current
        assert step is not None
        self.send_named(worker_name(worker), Play(step.step, step.views.get(worker, ()), step.now, step.recommend,
                                                  step.sync_all, step.sync, fail_at, step.offline))

    @handler
    def played(self, message: Played) -> None:
        if self.current is None or message.step != self.current.step or message.worker in self.reports:
            return  # a late or repeated answer: the first one counts
        self.reports[message.worker] = message
        if len(self.reports) == self.workers and self.asker is not None:
            self.send(self.asker, Stepped(message.step, tuple(self.reports[w] for w in range(self.workers)), self.retries))
            self.current = None

    @handler
    def failed(self, message: ActorFailed) -> None:
        # A Play that crashed its worker: the supervisor restarts it; send the step again once it is back.
        if self.current is not None:
            self.send_after(min(self.retry, 1.0), Retry(self.current.step, rearm=False))

    @handler
    def retry_step(self, message: Retry) -> None:
        if self.current is None or message.step != self.current.step:
            return
        for worker in range(self.workers):
            if worker not in self.reports:
                self.retries += 1
                self._send(worker)
        if message.rearm:  # one periodic chain per step; a crash's early retry does not start another
            self.send_after(self.retry, Retry(message.step))
