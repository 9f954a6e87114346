"""The skeleton extractor's pool: a coordinator and one extractor worker per core.

The tree (:func:`omega_actors.app.skeleton.skeleton_spec`): a supervisor of
:class:`ExtractorWorker` children (``skeleton.workers``, each worker named
``skeleton.worker-<n>``), then the :class:`Coordinator` (``skeleton.coordinator``).

On the tcp base every worker is a process. The coordinator owns the store
(one SQLite writer), plans each package (what changed since the last run),
and hands out batches through :class:`~omega_actors.skeleton.schedule.Schedule`.
It learns that a worker ended from the supervisor's ``omega.child.exited``
events, and it has a worker that outlives its batch's budget killed by the
workers' supervisor (``KillChild``, OTP's ``exit(Child, kill)``): a parse that
never ends cannot be asked to stop. The supervisor restarts the worker;
the registry holds the mail meanwhile.

Ask :class:`Extract` once per run (the reply comes when every file has an
outcome), and :class:`GetProgress` at any time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..runtime import Actor, Event, KillChild, Refused, Restart, handler
from ..skeleton.extract import unpack
from ..skeleton.reader import DEFAULT_MAX_FILE_BYTES, read
from ..skeleton.schedule import Batch, Finished, Limits, Schedule
from ..skeleton.sources import PackageSource
from ..skeleton.store import FileOutcome, FileStatus, Job, SkeletonStore
from ..skeleton.writer import StoreWriter

COORDINATOR = "skeleton.coordinator"
WORKERS = "skeleton.workers"


@dataclass(frozen=True)
class Extract:
    packages: tuple[PackageSource, ...]
    db: str


@dataclass(frozen=True)
class Work:
    """A batch for a worker; ``run`` tells this run's batches from a previous one's."""

    run: int
    batch: Batch


@dataclass(frozen=True)
class WorkDone:
    run: int
    batch_id: int
    worker: str
    outcomes: tuple[FileOutcome, ...]
    cpu_seconds: float


@dataclass(frozen=True)
class GetProgress:
    pass


@dataclass(frozen=True)
class Progress:
    run: int
    running: bool
    files: int = 0
    done: int = 0
    failed: int = 0
    unchanged: int = 0
    packages: int = 0
    packages_done: int = 0
    workers_lost: int = 0
    duplicates_ignored: int = 0
    worker_cpu_seconds: float = 0.0
    started_at: float = 0.0
    failures: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class _Watchdog:
    run: int
    worker: str
    generation: int


@dataclass
class _Run:
    number: int
    store: StoreWriter
    schedule: Schedule
    ids: dict[str, int]
    changed: set[str] = field(default_factory=set)
    progress: dict[str, Any] = field(
        default_factory=lambda: {"unchanged": 0, "failed": 0, "workers_lost": 0, "cpu": 0.0, "started": 0.0, "packages_done": 0})


class ExtractorWorker(Actor):
    """Reads the files of each batch it is sent; a crash or a hang is the coordinator's to handle."""

    restart = Restart.PERMANENT

    def __init__(self, worker: str, full_docs: bool = False, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self.worker = worker
        self.full_docs = full_docs
        self.max_file_bytes = max_file_bytes

    @handler
    def work(self, message: Work) -> WorkDone:
        started = time.process_time()
        # An AST is a tree with no cycles: the cycle collector would only re-scan it.
        gc.disable()
        try:
            outcomes = tuple(read(job, full_docs=self.full_docs, max_file_bytes=self.max_file_bytes) for job in message.batch.jobs)
        finally:
            gc.enable()
        return WorkDone(message.run, message.batch.id, self.worker, outcomes, time.process_time() - started)


class Coordinator(Actor):
    restart = Restart.PERMANENT

    def __init__(self, workers: Sequence[str], limits: Limits = Limits()) -> None:
        self.workers = list(workers)
        self.limits = limits
        self.run: _Run | None = None
        self.runs = 0
        self.generation = {worker: 0 for worker in self.workers}
        self.last: Progress = Progress(run=0, running=False)

    def started(self) -> None:
        parent = self.path.rpartition("/")[0]
        tokens = [*parent.split("/"), "workers"] if parent else ["workers"]
        self.subscribe(".".join(["omega", "child", "*", *tokens, "*"]))

    @handler
    def extract(self, message: Extract) -> Progress | Refused:
        """Start a run; the answer is its first progress, and GetProgress follows it to the end."""
        if self.run is not None:
            return Refused("extract", "an extraction is running; ask GetProgress")
        self.runs += 1
        store = StoreWriter(message.db)
        jobs: list[Job] = []
        ids: dict[str, int] = {}
        unchanged = 0
        for package in message.packages:
            ids[package.name], todo, same = store.ask(SkeletonStore.plan, package)
            jobs.extend(todo)
            unchanged += same
        run = self.run = _Run(self.runs, store, Schedule(jobs, self.limits), ids)
        run.progress.update(unchanged=unchanged, started=time.time())
        for name, package_id in ids.items():
            if name not in run.schedule.left:
                store.submit(SkeletonStore.finish, package_id, False)
                run.progress["packages_done"] += 1
        for worker in self.workers:
            self._feed(worker)
            self._arm(worker)
        self._maybe_finish()
        return self.get_progress(GetProgress())

    @handler
    def work_done(self, message: WorkDone) -> None:
        run = self.run
        if run is None or message.run != run.number or message.worker not in self.generation:
            return self.increment("stale_replies")
        if not isinstance(message.batch_id, int) or not isinstance(message.outcomes, tuple):
            return self.increment("malformed_replies")  # its files stay held: the watchdog gives them back
        run.progress["cpu"] += message.cpu_seconds if isinstance(message.cpu_seconds, float) else 0.0
        self._apply(run.schedule.done(message.worker, message.batch_id, [_checked(o, self.increment) for o in message.outcomes]))
        self._feed(message.worker)
        self._arm(message.worker)  # it starts the next batch it holds now
        self._maybe_finish()

    @handler
    def worker_event(self, message: Event) -> None:
        kind, worker = message.subject.split(".")[2], message.subject.rpartition(".")[2]
        run = self.run
        if run is None or worker not in self.generation:
            return
        if kind == "started":
            self._arm(worker)  # a new instance: the budget of what it holds starts now
            return
        reason = message.payload.get("reason") if isinstance(message.payload, dict) else None
        self.generation[worker] += 1  # no watchdog while it is down
        if run.schedule.reading(worker) is not None:
            run.progress["workers_lost"] += 1
        self._apply(run.schedule.lost(worker, str(reason or "ended")))
        self._feed(worker)  # the registry holds the mail until the new instance is up
        self._maybe_finish()

    @handler
    def watchdog(self, message: _Watchdog) -> None:
        run = self.run
        if run is None or message.run != run.number or self.generation.get(message.worker) != message.generation:
            return
        batch = run.schedule.reading(message.worker)
        if batch is not None:
            budget = run.schedule.budget(batch)
            self.send_named(WORKERS, KillChild(message.worker, f"no answer in {budget:.1f} s"))

    @handler
    def get_progress(self, message: GetProgress) -> Progress:
        run = self.run
        if run is None:
            return self.last
        counts = run.schedule.counts()
        return Progress(
            run.number, True, counts["files"], counts["done"], run.progress["failed"], run.progress["unchanged"],
            len(run.ids), run.progress["packages_done"], run.progress["workers_lost"], run.schedule.duplicates,
            run.progress["cpu"], run.progress["started"],
        )

    # Feeding workers and keeping the store.

    def _feed(self, worker: str) -> None:
        run = self.run
        assert run is not None
        while (batch := run.schedule.take(worker)) is not None:
            self.send_named(f"skeleton.{worker}", Work(run.number, batch))

    def _arm(self, worker: str) -> None:
        run = self.run
        assert run is not None
        self.generation[worker] += 1
        batch = run.schedule.reading(worker)
        if batch is not None:
            self.send_after(run.schedule.budget(batch), _Watchdog(run.number, worker, self.generation[worker]))

    def _apply(self, finished: Finished) -> None:
        run = self.run
        assert run is not None
        by_package: dict[str, tuple[list[Job], list[FileOutcome]]] = {}
        for job, outcome in finished.outcomes:
            jobs, outcomes = by_package.setdefault(job.package, ([], []))
            jobs.append(job)
            outcomes.append(outcome)
            run.progress["failed"] += outcome.status == FileStatus.FAILED
        for package, (jobs, outcomes) in by_package.items():
            run.store.submit(SkeletonStore.record, run.ids[package], jobs, outcomes)
            if any(outcome.status != FileStatus.SAME for outcome in outcomes):
                run.changed.add(package)
        for package in finished.packages:
            run.store.submit(SkeletonStore.finish, run.ids[package], package in run.changed)
            run.progress["packages_done"] += 1

    def _maybe_finish(self) -> None:
        run = self.run
        if run is None or not run.schedule.complete:
            return
        last = self.get_progress(GetProgress())
        failures = [failure for failure in run.store.ask(SkeletonStore.failures) if failure[0] in run.ids]
        self.run = None
        run.store.close()
        self.last = replace(last, running=False, failures=tuple(failures))

    def stopping(self, reason: Any) -> None:
        if self.run is not None:
            self.run.store.close()


def _checked(outcome: object, count: Any) -> FileOutcome:
    """An outcome as the store needs it; anything else fails its file rather than the run or the store."""
    if isinstance(outcome, FileOutcome) and isinstance(outcome.relpath, str) and isinstance(outcome.sha256, str):
        status, record = outcome.status, outcome.record
        if (status == FileStatus.OK and isinstance(record, bytes) and _readable(record)) or (
                status in (FileStatus.FAILED, FileStatus.SAME) and record is None and isinstance(outcome.reason, (str, type(None)))):
            return outcome
    count("malformed_outcomes")
    relpath = getattr(outcome, "relpath", None)
    return FileOutcome(relpath if isinstance(relpath, str) else "", FileStatus.FAILED, "", reason="malformed outcome from its worker")


def _readable(record: bytes) -> bool:
    try:
        unpack(record)
    except ValueError:
        return False
    return True
