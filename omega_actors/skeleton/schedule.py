"""Who reads which file, and what happens when a worker dies holding some: pure code.

The coordinator actor is a thin shell around :class:`Schedule`. The rules:

- **Largest first.** Packages are taken largest first (by bytes to read) and,
  inside a package, files largest first, so that the run does not end
  waiting on one big package or one big file.
- **Batches.** A batch is up to ``batch_files`` files or ``batch_bytes``
  bytes (a file bigger than that is a batch of its own): on Thespian's TCP
  transport a message costs about a millisecond, a file a few.
- **Pipelining.** A worker holds up to ``depth`` batches, so it never waits
  for the coordinator between two. It reads them in the order sent, so the
  oldest batch it holds is the one it is reading.
- **A lost worker** (it crashed, or was killed for taking longer than its
  batch's :meth:`Schedule.budget`) loses what it held. The batch it was
  reading is split: its files come back one per batch, marked suspect, ahead
  of all other work. A suspect that is lost again is the culprit: it is
  recorded as failed with the reason, and the run goes on. The batches it
  had not started go back to the front of the queue as they were.
- **Exactly once.** Every file ends either read (ok, failed by the parser,
  or unchanged) or failed by a lost worker, once. An outcome for a file
  that already has one (a late reply from an instance that was given up
  on) is ignored and counted; nothing is stored twice, nothing is skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .store import FileOutcome, FileStatus, Job

PENDING, RUNNING, DONE = "pending", "running", "done"


@dataclass(frozen=True)
class Batch:
    id: int
    jobs: tuple[Job, ...]
    suspect: bool = False

    @property
    def size(self) -> int:
        return sum(job.file.size for job in self.jobs)


@dataclass(frozen=True)
class Limits:
    batch_files: int = 32
    batch_bytes: int = 512 * 1024
    depth: int = 2
    timeout: float = 30.0  # seconds a batch may take, plus its bytes at min_bytes_per_s
    min_bytes_per_s: float = 100_000.0


@dataclass
class Finished:
    """What a call changed: outcomes to store, and packages with every file settled."""

    outcomes: list[tuple[Job, FileOutcome]] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)


def _key(job: Job) -> tuple[str, str]:
    return job.package, job.file.relpath


class Schedule:
    def __init__(self, jobs: Iterable[Job], limits: Limits = Limits()) -> None:
        self.limits = limits
        jobs = list(jobs)
        by_package: dict[str, list[Job]] = {}
        for job in jobs:
            by_package.setdefault(job.package, []).append(job)
        order = sorted(by_package, key=lambda name: -sum(job.file.size for job in by_package[name]))
        self.queue: deque[Job] = deque(
            job for name in order for job in sorted(by_package[name], key=lambda job: -job.file.size))
        self.suspects: deque[Job] = deque()
        self.state = {_key(job): PENDING for job in jobs}
        self.left = {name: len(group) for name, group in by_package.items()}
        self.held: dict[str, deque[Batch]] = {}
        self.duplicates = 0
        self._ids = 0

    # Handing out work.

    def take(self, worker: str) -> Batch | None:
        """The next batch for ``worker``, if it holds fewer than ``depth`` and work is left."""
        held = self.held.setdefault(worker, deque())
        if len(held) >= self.limits.depth:
            return None
        batch = self._suspect() or self._batch()
        if batch is None:
            return None
        for job in batch.jobs:
            self.state[_key(job)] = RUNNING
        held.append(batch)
        return batch

    def _suspect(self) -> Batch | None:
        while self.suspects:
            job = self.suspects.popleft()
            if self.state[_key(job)] == PENDING:
                return self._new((job,), suspect=True)
        return None

    def _batch(self) -> Batch | None:
        jobs: list[Job] = []
        size = 0
        while self.queue and len(jobs) < self.limits.batch_files:
            job = self.queue[0]
            if self.state[_key(job)] != PENDING:
                self.queue.popleft()
                continue
            if jobs and size + job.file.size > self.limits.batch_bytes:
                break
            jobs.append(self.queue.popleft())
            size += job.file.size
        return self._new(tuple(jobs)) if jobs else None

    def _new(self, jobs: tuple[Job, ...], suspect: bool = False) -> Batch:
        self._ids += 1
        return Batch(self._ids, jobs, suspect)

    def budget(self, batch: Batch) -> float:
        """Seconds ``batch`` may take once its worker starts it."""
        return self.limits.timeout + batch.size / self.limits.min_bytes_per_s

    def reading(self, worker: str) -> Batch | None:
        """The batch ``worker`` is reading now: the oldest it holds."""
        held = self.held.get(worker)
        return held[0] if held else None

    # What comes back.

    def done(self, worker: str, batch_id: int, outcomes: Sequence[FileOutcome]) -> Finished:
        """A batch's outcomes; those for files that already have one are ignored."""
        held = self.held.get(worker, deque())
        batch = next((b for b in held if b.id == batch_id), None)
        if batch is not None:
            held.remove(batch)
        # Two packages can ship the same path (tests/__init__.py) and share a batch: an outcome
        # goes to the first file of the batch, in order, with its path and no outcome yet.
        waiting: dict[str, deque[Job]] = {}
        for job in batch.jobs if batch else ():
            waiting.setdefault(job.file.relpath, deque()).append(job)
        finished = Finished()
        for outcome in outcomes:
            same_path = waiting.get(outcome.relpath)
            match = same_path.popleft() if same_path else None
            if match is None or self.state.get(_key(match)) == DONE:
                self.duplicates += 1
                continue
            self._settle(match, outcome, finished)
        if batch is not None:
            self._requeue(job for job in batch.jobs if self.state[_key(job)] == RUNNING)
        return finished

    def lost(self, worker: str, reason: str) -> Finished:
        """``worker`` ended without answering: what it held comes back, or fails if it was a suspect."""
        held = self.held.pop(worker, deque())
        finished = Finished()
        if not held:
            return finished
        reading = held.popleft()
        unsettled = [job for job in reading.jobs if self.state[_key(job)] == RUNNING]
        if reading.suspect:
            for job in unsettled:
                self._settle(job, FileOutcome(job.file.relpath, FileStatus.FAILED, "", reason=f"worker lost while reading it: {reason}"), finished)
        else:
            for job in unsettled:
                self.state[_key(job)] = PENDING
            self.suspects.extendleft(reversed(unsettled))
        for batch in reversed(held):
            self._requeue(job for job in batch.jobs if self.state[_key(job)] == RUNNING)
        return finished

    def _requeue(self, jobs: Iterable[Job]) -> None:
        back = list(jobs)
        for job in back:
            self.state[_key(job)] = PENDING
        self.queue.extendleft(reversed(back))

    def _settle(self, job: Job, outcome: FileOutcome, finished: Finished) -> None:
        self.state[_key(job)] = DONE
        finished.outcomes.append((job, outcome))
        self.left[job.package] -= 1
        if self.left[job.package] == 0:
            finished.packages.append(job.package)

    # Where the run is.

    @property
    def complete(self) -> bool:
        return all(left == 0 for left in self.left.values())

    def counts(self) -> dict[str, int]:
        states = list(self.state.values())
        return {"files": len(states), "done": states.count(DONE), "running": states.count(RUNNING),
                "suspects": sum(1 for job in self.suspects if self.state[_key(job)] == PENDING)}
