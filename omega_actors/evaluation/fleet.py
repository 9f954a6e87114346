"""Many TVs in one process: their brains, their sync sessions, and one process's share of a simulated day.

A :class:`FleetWorker` is plain code (the actor in
:mod:`omega_actors.actors.fleet` is its shell). It holds one :class:`Brain`
and one :class:`SyncSession` per TV, all sharing one catalogue of vectors,
so a process runs hundreds of TVs. What it does:

- :meth:`FleetWorker.play`: each view in order: recommend (timed), then
  observe, committed before the view counts as played. A view carries its
  position in its TV's stream and a TV skips positions its memory already
  holds, so a batch sent again after a crash is applied exactly once.
- :meth:`FleetWorker.sync_frames`: for each TV whose session is due, the
  signed push (if anything changed) and one pull request. Sequence numbers
  are stored (one transaction for the whole worker) before a frame leaves.
- :meth:`FleetWorker.push_replied` / :meth:`FleetWorker.pull_replied`: the
  answers; a new bundle page goes into the brain.

Nothing a viewer did leaves through here except the sync frames, and
:class:`FrameCounter` counts every frame handed to the link by kind: the
protocol has no kind that carries an event, so ``raw_events`` counts any
frame that is not a push or a pull.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omega_actors.brain import (
    Brain,
    ConsolidatedPatterns,
    Observation,
    RecommendContext,
)
from omega_actors.brain.catalogue import MediaItem
from omega_actors.brain.settings import BrainSettings
from omega_actors.errors import BrainInputError
from omega_actors.federation.bundle import Bundle, support_of
from omega_actors.federation.device import SyncSession, SyncSettings, bundle_tables
from omega_actors.federation.encoder import LocalPattern
from omega_actors.federation.wire import Kind, WireError, split_frame

SYNC_DB = "sync.sqlite3"



def save_catalogue(path: str | Path, catalogue: Sequence[MediaItem], vectors: np.ndarray) -> None:
    """Items and their vectors in one ``.npz`` (no pickles): what worker processes load instead of a model."""
    np.savez(path, media=np.array([i.media_id for i in catalogue]), titles=np.array([i.title for i in catalogue]),
             genres=np.array(["|".join(i.genres) for i in catalogue]), vectors=vectors)


def load_catalogue(path: str | Path) -> tuple[list[MediaItem], np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        catalogue = [MediaItem(str(m), str(t), tuple(str(g).split("|")) if g else ())
                     for m, t, g in zip(data["media"].tolist(), data["titles"].tolist(), data["genres"].tolist())]
        return catalogue, np.asarray(data["vectors"])

@dataclass(frozen=True, slots=True)
class ViewIn:
    """One view for one TV: its position in that TV's stream makes replaying a batch harmless."""

    tv: str
    position: int
    media_id: str
    watch_fraction: float
    daypart: str
    mood: str = "any"


@dataclass
class PlayReport:
    played: dict[str, int] = field(default_factory=dict)  # tv -> views its memory holds now
    latencies_ms: list[float] = field(default_factory=list)
    hits: int = 0  # views whose item was in the top 10 recommended just before
    recommended: int = 0


@dataclass
class FrameCounter:
    """Counts what crosses the link, by the frame's own kind (read from the frame, not assumed)."""

    counts: Counter[str] = field(default_factory=Counter)
    push_bytes: list[int] = field(default_factory=list)
    pull_bytes: list[int] = field(default_factory=list)

    def sent(self, frame: bytes) -> None:
        try:
            kind, _, _ = split_frame(frame, 1 << 20)
        except WireError:
            kind = None
        if kind is Kind.PUSH:
            self.counts["pushes"] += 1
            self.push_bytes.append(len(frame))
        elif kind is Kind.PULL:
            self.counts["pulls"] += 1
        else:
            self.counts["raw_events"] += 1  # anything else would be data the protocol has no place for


class FleetWorker:
    def __init__(self, directory: str | Path, tvs: Sequence[str], catalogue: Sequence[MediaItem], vectors: np.ndarray,
                 brain: BrainSettings | None = None, sync: SyncSettings | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings = brain or BrainSettings()
        self.sync_settings = sync or SyncSettings()
        self.brains: dict[str, Brain] = {}
        self.played: dict[str, int] = {}
        self.sessions: dict[str, SyncSession] = {}
        self.link = FrameCounter()
        self.db = sqlite3.connect(self.directory / SYNC_DB, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS tvs (name TEXT PRIMARY KEY, key BLOB NOT NULL, seq INTEGER NOT NULL)")
        try:
            for tv in tvs:
                self._open(tv, catalogue, vectors)
            for name, key, seq in self.db.execute("SELECT name, key, seq FROM tvs").fetchall():
                if name in self.brains:
                    self._begin(name, bytes(key), int(seq))
        except BaseException:
            self.close()
            raise

    def _open(self, tv: str, catalogue: Sequence[MediaItem], vectors: np.ndarray) -> None:
        brain = Brain.open(self.directory / tv, None, self.settings)
        self.brains[tv] = brain
        if len(brain) < len(catalogue):
            brain.add_items(list(catalogue), vectors)
        self.played[tv] = brain.reflexion.count()

    def close(self) -> None:
        for brain in self.brains.values():
            brain.close()
        self.brains.clear()
        self.db.close()

    # Keys.

    def unenrolled(self) -> list[str]:
        return [tv for tv in self.brains if tv not in self.sessions]

    def enrolled(self, tv: str, key: bytes, seq: int) -> None:
        if tv not in self.brains or len(key) != 32:
            return
        seq = max(seq, self.sessions[tv].builder.seq if tv in self.sessions else 0)
        self.db.execute("INSERT INTO tvs VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET key = excluded.key, "
                        "seq = excluded.seq", (tv, key, seq))
        self._begin(tv, key, seq)

    def _begin(self, tv: str, key: bytes, seq: int) -> None:
        session = SyncSession(tv, key, self.sync_settings)
        session.builder.seq = seq
        self.sessions[tv] = session

    # Views.

    def play(self, views: Iterable[ViewIn], recommend: bool = True) -> PlayReport:
        report = PlayReport()
        for view in views:
            brain = self.brains.get(view.tv)
            if brain is None or view.position < self.played[view.tv]:
                continue  # not ours, or played before a crash
            if view.position > self.played[view.tv]:
                raise ValueError(f"{view.tv}: view {view.position} arrived before view {self.played[view.tv]}")
            shown: tuple[str, ...] = ()
            if recommend:
                started = time.perf_counter()
                context = RecommendContext(view.daypart, view.mood, unseen_only=True)
                shown = tuple(r.media_id for r in brain.recommend_with(context, None))
                report.latencies_ms.append((time.perf_counter() - started) * 1000)
                report.recommended += 1
                report.hits += view.media_id in shown
            brain.observe(Observation(view.media_id, view.watch_fraction, view.daypart, view.mood, shown))
            self.played[view.tv] += 1
        report.played = dict(self.played)
        return report

    def rank(self, tvs: Iterable[str], n: int = 10) -> dict[str, list[str]]:
        """Each TV's top ``n`` of everything it never played, in its most frequent daypart."""
        ranked = {}
        for tv in tvs:
            brain = self.brains[tv]
            context = RecommendContext(brain.usual_daypart(), n=n, unseen_only=True)
            ranked[tv] = [r.media_id for r in brain.recommend_with(context, None, exhaustive=True)]
        return ranked

    # Sync.

    def sync_frames(self, now: float, tvs: Iterable[str] | None = None,
                    offline: Collection[str] = ()) -> list[tuple[str, bytes | None, bytes]]:
        """(tv, push or None, pull) for each due TV (or each of ``tvs``) not offline; their seqs are stored first."""
        chosen = [tv for tv in (self.sessions if tvs is None else tvs)
                  if tv in self.sessions and tv not in offline and (tvs is not None or self.sessions[tv].is_due(now))]
        out = []
        for tv in chosen:
            session = self.sessions[tv]
            push = session.push_frame(self._patterns(tv))
            out.append((tv, push, session.pull_frame()))
        self.db.execute("BEGIN")
        self.db.executemany("UPDATE tvs SET seq = ? WHERE name = ?",
                            [(self.sessions[tv].builder.seq, tv) for tv, push, _ in out if push is not None])
        self.db.execute("COMMIT")
        for _, push, pull in out:
            if push is not None:
                self.link.sent(push)
            self.link.sent(pull)
        return out

    def _patterns(self, tv: str) -> list[LocalPattern]:
        brain = self.brains[tv]
        patterns = [LocalPattern(key, trials, successes) for key, trials, successes in brain.local_patterns()]
        patterns += [LocalPattern("", count, count, ident) for ident, count in brain.cowatch_patterns()]
        return patterns

    def push_replied(self, tv: str, frame: bytes | None) -> tuple[int, tuple[int, ...]] | None:
        """Apply a push answer; (seq, pattern ids) it acknowledged, or None."""
        session = self.sessions.get(tv)
        if session is None:
            return None
        carried = dict(session.builder.in_flight)
        session.acked_seq = 0
        session.on_push_reply(frame)
        if session.acked_seq in carried:  # this answer acknowledged that push (maybe an older, late one)
            return session.acked_seq, tuple(carried[session.acked_seq])
        return None

    def pull_replied(self, tv: str, frame: bytes | None) -> bool:
        """Apply a pull answer; True when it was a bundle page (new or unchanged)."""
        session = self.sessions.get(tv)
        if session is None:
            return False
        if frame is not None:
            self.link.pull_bytes.append(len(frame))
        before = session.counts.get("pull_bytes", 0)
        bundle = session.on_pull_reply(frame)
        if bundle is not None:
            try:
                self._apply(tv, bundle)
            except BrainInputError:
                # Signed by the constellation, yet unusable: count it, and let the page be asked for again.
                session.held.pop(bundle.page, None)
                session.counts["bad_bundle_apply"] = session.counts.get("bad_bundle_apply", 0) + 1
                return False
        return session.counts.get("pull_bytes", 0) > before

    def finish_sync(self, tv: str, now: float, ok: bool) -> None:
        if tv in self.sessions:
            self.sessions[tv].finish(now, ok)

    def _apply(self, tv: str, bundle: Bundle) -> None:
        brain = self.brains[tv]
        rows = bundle.records
        if bundle.page == 0:
            rates, trends = bundle_tables(bundle, brain.pattern_vocabulary())
            brain.apply_patterns(ConsolidatedPatterns(rates, {}, trends))
            if rows is not None and len(rows):  # the best-supported items and pairs come first, before their pages
                brain.merge_fleet_records(rows["id"].astype(np.uint64), support_of(rows["support"]))
        elif rows is not None:
            brain.apply_fleet_page(bundle.lo, bundle.hi, rows["id"].astype(np.uint64), support_of(rows["support"]))

    def caught_up(self) -> bool:
        return all(session.caught_up for session in self.sessions.values())
