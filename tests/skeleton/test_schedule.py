"""Who reads which file: :class:`Schedule` against a model of the rules in its docstring.

The model keeps the same state as plain lists (a queue, suspects ahead of
it, the batches each worker holds, the outcome each file ended with) and
follows the rules as written: largest first, batches of ``batch_files`` or
``batch_bytes``, at most ``depth`` held, a lost worker's reading batch split
into suspects, a suspect lost again failed, batches not started requeued as
they were, every file settled exactly once. The machine drives both with
workers taking batches, answering them (in full, in part, twice, late) and
being lost, and asserts that they agree after every step; at the end it
answers everything still open and checks that every file ended with exactly
one outcome.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from omega_actors.skeleton.schedule import Batch, Finished, Limits, Schedule
from omega_actors.skeleton.sources import SourceFile
from omega_actors.skeleton.store import FileOutcome, Job

Key = tuple[str, str]  # (package, relpath)
LOST = "lost"  # the model's tag for a file failed because its worker was lost twice


def job(package: str, relpath: str, size: int) -> Job:
    path = Path("/nowhere") / package / relpath
    return Job(package, SourceFile(relpath, path, relpath.removesuffix(".py"), False, False, size, 0), None)


def key(job: Job) -> Key:
    return job.package, job.file.relpath


def keys(batch: Batch) -> list[Key]:
    return [key(job) for job in batch.jobs]


def answer(batch: Batch, tag: str = "") -> list[FileOutcome]:
    """A worker's full reply, in batch order; ``sha256`` names the file so that mix-ups show."""
    return [FileOutcome(job.file.relpath, "ok", f"{tag}{job.package}/{job.file.relpath}") for job in batch.jobs]


# The model.


@dataclass
class Held:
    id: int
    files: list[Key]
    suspect: bool


@dataclass
class Model:
    """The rules of schedule.py's docstring, on lists."""

    limits: Limits
    sizes: dict[Key, int]
    files_of: dict[str, set[Key]]
    queue: list[Key]
    suspects: list[Key] = field(default_factory=list)
    held: dict[str, list[Held]] = field(default_factory=dict)
    settled: dict[Key, str] = field(default_factory=dict)  # file -> the tag of its one outcome
    duplicates: int = 0

    @classmethod
    def start(cls, jobs: list[Job], limits: Limits) -> Model:
        sizes = {key(job): job.file.size for job in jobs}
        packages: list[str] = list(dict.fromkeys(job.package for job in jobs))  # in order of appearance
        files_of = {name: {key(job) for job in jobs if job.package == name} for name in packages}
        total = {name: sum(sizes[k] for k in files_of[name]) for name in packages}
        queue = []
        for name in sorted(packages, key=lambda name: -total[name]):  # largest package first; ties as given
            queue += sorted((key(job) for job in jobs if job.package == name), key=lambda k: -sizes[k])
        return cls(limits, sizes, files_of, queue)

    def take(self, worker: str) -> tuple[list[Key], bool] | None:
        if len(self.held.get(worker, [])) >= self.limits.depth:
            return None
        if self.suspects:
            return [self.suspects.pop(0)], True
        batch: list[Key] = []
        while self.queue and len(batch) < self.limits.batch_files:
            size = sum(self.sizes[k] for k in batch) + self.sizes[self.queue[0]]
            if batch and size > self.limits.batch_bytes:
                break
            batch.append(self.queue.pop(0))
        return (batch, False) if batch else None

    def hold(self, worker: str, batch_id: int, files: list[Key], suspect: bool) -> None:
        self.held.setdefault(worker, []).append(Held(batch_id, files, suspect))

    def done(self, worker: str, batch_id: int, replies: list[tuple[str, str]]) -> tuple[list[tuple[Key, str]], list[str]]:
        """Each reply goes to the first file of the batch with its path that has none yet; the rest go back."""
        held = self.held.get(worker, [])
        batch = next((b for b in held if b.id == batch_id), None)
        waiting = []
        if batch is not None:
            held.remove(batch)
            waiting = list(batch.files)
        settled: list[tuple[Key, str]] = []
        for relpath, tag in replies:
            match = next((k for k in waiting if k[1] == relpath), None)
            if match is None:
                self.duplicates += 1
                continue
            waiting.remove(match)
            settled.append((match, tag))
        self.queue = waiting + self.queue
        return settled, self._settle(settled)

    def lost(self, worker: str) -> tuple[list[tuple[Key, str]], list[str]]:
        held = self.held.pop(worker, [])
        if not held:
            return [], []
        reading, rest = held[0], held[1:]
        settled: list[tuple[Key, str]] = []
        if reading.suspect:
            settled = [(k, LOST) for k in reading.files]
        else:
            self.suspects = reading.files + self.suspects
        self.queue = [k for b in rest for k in b.files] + self.queue
        return settled, self._settle(settled)

    def _settle(self, settled: list[tuple[Key, str]]) -> list[str]:
        finished = []
        for k, tag in settled:
            assert k not in self.settled
            self.settled[k] = tag
            if all(other in self.settled for other in self.files_of[k[0]]):
                finished.append(k[0])
        return finished

    @property
    def complete(self) -> bool:
        return len(self.settled) == len(self.sizes)


# The machine.

WORKERS = ("w0", "w1", "w2")
PATHS = ("__init__.py", "a.py", "b.py", "c.py", "d.py", "e.py")  # shared by packages, as tests/__init__.py is


@st.composite
def workloads(draw: st.DrawFn) -> list[Job]:
    jobs = []
    for package in draw(st.lists(st.sampled_from(["p0", "p1", "p2", "p3"]), min_size=0, max_size=4, unique=True)):
        for relpath in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=5, unique=True)):
            jobs.append(job(package, relpath, draw(st.integers(0, 300))))
    return draw(st.permutations(jobs))


limits = st.builds(Limits, batch_files=st.integers(1, 4), batch_bytes=st.integers(1, 600), depth=st.integers(1, 3))


class ScheduleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.schedule: Schedule | None = None
        self.replies = 0
        self.outcomes: Counter[Key] = Counter()  # outcomes the schedule gave out, per file
        self.reported: Counter[str] = Counter()  # packages the schedule reported finished
        self.ids: set[int] = set()
        self.old: list[tuple[str, Batch]] = []  # batches already answered or given up on: late replies

    @initialize(jobs=workloads(), limits=limits)
    def start(self, jobs: list[Job], limits: Limits) -> None:
        self.jobs = {key(job): job for job in jobs}
        self.schedule = Schedule(jobs, limits)
        self.model = Model.start(jobs, limits)

    def holding(self) -> list[tuple[str, Batch]]:
        assert self.schedule is not None
        return [(worker, batch) for worker, batches in sorted(self.schedule.held.items()) for batch in batches]

    # Steps.

    @rule(worker=st.sampled_from(WORKERS))
    def a_worker_takes_a_batch(self, worker: str) -> None:
        self.take(worker)

    def take(self, worker: str) -> Batch | None:
        assert self.schedule is not None
        batch = self.schedule.take(worker)
        expected = self.model.take(worker)
        assert (keys(batch), batch.suspect) == expected if batch else expected is None
        if batch is None:
            return None
        assert batch.id not in self.ids, "a batch id given twice"
        self.ids.add(batch.id)
        self.model.hold(worker, batch.id, keys(batch), batch.suspect)
        limits = self.schedule.limits
        assert 1 <= len(batch.jobs) <= limits.batch_files
        assert len(batch.jobs) == 1 or batch.size <= limits.batch_bytes, "only a single file may be oversize"
        assert not batch.suspect or len(batch.jobs) == 1, "a suspect batch holds one file"
        return batch

    @precondition(lambda self: self.schedule is not None and self.holding())
    @rule(data=st.data(), how=st.sampled_from(["all", "some", "twice", "a stranger"]))
    def a_worker_answers_a_batch(self, data: st.DataObject, how: str) -> None:
        worker, batch = data.draw(st.sampled_from(self.holding()))
        outcomes = self.reply(batch)
        if how == "some":
            outcomes = [o for o in outcomes if data.draw(st.booleans())]
        elif how == "twice":
            outcomes = outcomes + outcomes[:1]
        elif how == "a stranger":
            outcomes = outcomes + [FileOutcome("not/in/the/batch.py", "ok", "?")]
        self.answer(worker, batch, outcomes, in_order=how != "some")

    @precondition(lambda self: self.schedule is not None and self.old)
    @rule(data=st.data(), same_worker=st.booleans())
    def a_late_reply_arrives(self, data: st.DataObject, same_worker: bool) -> None:
        worker, batch = data.draw(st.sampled_from(self.old))
        worker = worker if same_worker else data.draw(st.sampled_from(WORKERS))
        self.answer(worker, batch, self.reply(batch))

    @precondition(lambda self: self.schedule is not None)
    @rule(worker=st.sampled_from(WORKERS), reason=st.sampled_from(["killed: no answer in 31.0 s", "crashed: SIGSEGV"]))
    def a_worker_is_lost(self, worker: str, reason: str) -> None:
        assert self.schedule is not None
        held = list(self.schedule.held.get(worker, ()))
        finished = self.schedule.lost(worker, reason)
        expected = self.model.lost(worker)
        self.check(finished, expected)
        for _, outcome in finished.outcomes:
            assert outcome.status == "failed" and "lost" in (outcome.reason or "") and reason in (outcome.reason or "")
        if held:
            event("a lost worker was reading a suspect" if held[0].suspect else "a lost worker was reading a batch")
        if len(held) > 1:
            event("a lost worker held batches it had not started")
        innocent = {k for batch in held[1:] for k in keys(batch)}
        assert not innocent & {key(job) for job, _ in finished.outcomes}, "a batch not started was failed"
        self.old += [(worker, batch) for batch in held]

    def reply(self, batch: Batch) -> list[FileOutcome]:
        self.replies += 1
        return [FileOutcome(j.file.relpath, "ok", f"r{self.replies}:{j.package}") for j in batch.jobs]

    def answer(self, worker: str, batch: Batch, outcomes: list[FileOutcome], in_order: bool = True) -> None:
        """``in_order``: the reply starts with one outcome per file in batch order, as a worker sends it."""
        assert self.schedule is not None
        duplicates = self.schedule.duplicates
        finished = self.schedule.done(worker, batch.id, outcomes)
        if self.schedule.duplicates > duplicates:
            event("outcomes ignored as duplicates")
        if len({job.file.relpath for job in batch.jobs}) < len(batch.jobs):
            event("a batch held one path of two packages")
        expected = self.model.done(worker, batch.id, [(o.relpath, o.sha256) for o in outcomes])
        self.check(finished, expected)
        if in_order:
            for job, outcome in finished.outcomes:
                assert outcome.sha256.endswith(f":{job.package}"), "an outcome given to another package's file"
        self.old.append((worker, batch))

    def check(self, finished: Finished, expected: tuple[list[tuple[Key, str]], list[str]]) -> None:
        settled = [(key(job), LOST if outcome.sha256 == "" else outcome.sha256) for job, outcome in finished.outcomes]
        assert settled == expected[0]
        assert finished.packages == expected[1]
        for job, outcome in finished.outcomes:
            assert outcome.relpath == job.file.relpath
            self.outcomes[key(job)] += 1
        self.reported.update(finished.packages)

    # What holds after every step.

    @invariant()
    def every_file_has_at_most_one_outcome_and_every_package_is_reported_once(self) -> None:
        assert all(count == 1 for count in self.outcomes.values())
        assert all(count == 1 for count in self.reported.values())

    @invariant()
    def no_worker_holds_more_than_depth_batches(self) -> None:
        if self.schedule is not None:
            assert all(len(held) <= self.schedule.limits.depth for held in self.schedule.held.values())

    @invariant()
    def the_run_is_complete_exactly_when_every_file_is_settled(self) -> None:
        if self.schedule is not None:
            assert self.schedule.complete == self.model.complete == (set(self.outcomes) == set(self.jobs))
            assert self.schedule.duplicates == self.model.duplicates
            assert self.schedule.counts()["done"] == len(self.model.settled)

    def teardown(self) -> None:
        """Answer what is held, then take and answer until the run is complete: every file once, every package once."""
        schedule = self.schedule
        if schedule is None:
            return
        for worker, batch in self.holding():
            self.answer(worker, batch, self.reply(batch))
        for _ in range(len(self.jobs) + 1):
            batch = self.take("drain")
            if batch is None:
                break
            self.answer("drain", batch, self.reply(batch))
        assert schedule.complete
        assert self.outcomes == Counter(list(self.jobs)), "every file ends with exactly one outcome"
        assert self.reported == Counter({package for package, _ in self.jobs})


def test_the_schedule_follows_its_rules_whatever_workers_do() -> None:
    run_state_machine_as_test(ScheduleMachine, settings=settings(max_examples=300, stateful_step_count=40, deadline=None))


# Examples.


def take_all(schedule: Schedule, worker: str = "w") -> list[Batch]:
    """Take and answer batches until none is left."""
    batches = []
    while (batch := schedule.take(worker)) is not None:
        batches.append(batch)
        schedule.done(worker, batch.id, answer(batch))
    return batches


def test_the_largest_package_goes_first_and_inside_it_the_largest_file() -> None:
    jobs = [job("small", "a.py", 30), job("big", "x.py", 10), job("small", "b.py", 40), job("big", "y.py", 90)]
    batches = take_all(Schedule(jobs, Limits(batch_files=1)))
    assert [keys(batch)[0] for batch in batches] == [("big", "y.py"), ("big", "x.py"), ("small", "b.py"), ("small", "a.py")]


def test_a_batch_stops_at_batch_files_or_batch_bytes_and_an_oversize_file_goes_alone() -> None:
    jobs = [job("p", "huge.py", 5000), job("p", "a.py", 400), job("p", "b.py", 300), job("p", "c.py", 200),
            job("p", "d.py", 10), job("p", "e.py", 10), job("p", "f.py", 10)]
    batches = take_all(Schedule(jobs, Limits(batch_files=2, batch_bytes=600)))
    assert [[relpath for _, relpath in keys(batch)] for batch in batches] == [
        ["huge.py"], ["a.py"], ["b.py", "c.py"], ["d.py", "e.py"], ["f.py"]]


def test_a_worker_holds_at_most_depth_batches_until_it_answers_one() -> None:
    schedule = Schedule([job("p", f"{i}.py", 1) for i in range(5)], Limits(batch_files=1, depth=2))
    first, second = schedule.take("w"), schedule.take("w")
    assert first is not None and second is not None
    assert schedule.take("w") is None
    assert schedule.reading("w") == first
    schedule.done("w", first.id, answer(first))
    assert schedule.reading("w") == second
    assert schedule.take("w") is not None


def test_a_lost_workers_reading_batch_comes_back_as_suspects_ahead_of_other_work() -> None:
    jobs = [job("p", f"{name}.py", size) for name, size in [("a", 60), ("b", 50), ("c", 40), ("d", 30), ("e", 20), ("f", 10)]]
    schedule = Schedule(jobs, Limits(batch_files=2, depth=2))
    reading, waiting = schedule.take("w"), schedule.take("w")
    assert reading is not None and waiting is not None
    assert schedule.lost("w", "crashed").outcomes == []  # nothing fails on a first loss
    order = []
    while (batch := schedule.take("x")) is not None:
        order.append(([relpath for _, relpath in keys(batch)], batch.suspect))
        schedule.done("x", batch.id, answer(batch))
    assert order == [(["a.py"], True), (["b.py"], True), (["c.py", "d.py"], False), (["e.py", "f.py"], False)]
    assert schedule.complete


def test_a_suspect_lost_again_is_failed_with_the_reason_and_the_run_goes_on() -> None:
    schedule = Schedule([job("p", "bad.py", 10), job("p", "good.py", 5)], Limits(batch_files=2, depth=1))
    batch = schedule.take("w")
    assert batch is not None
    schedule.lost("w", "crashed: SIGSEGV")
    suspect = schedule.take("w")
    assert suspect is not None and suspect.suspect and keys(suspect) == [("p", "bad.py")]
    finished = schedule.lost("w", "killed: no answer in 30.0 s")
    [(failed, outcome)] = finished.outcomes
    assert key(failed) == ("p", "bad.py")
    assert outcome.status == "failed"
    assert outcome.reason == "worker lost while reading it: killed: no answer in 30.0 s"
    assert finished.packages == []
    rest = take_all(schedule)
    assert [keys(batch) for batch in rest] == [[("p", "good.py")]]
    assert schedule.complete


def test_the_batches_a_lost_worker_had_not_started_go_back_as_they_were_and_are_not_failed() -> None:
    jobs = [job("p", f"{name}.py", size) for name, size in [("a", 40), ("b", 30), ("c", 20), ("d", 10)]]
    schedule = Schedule(jobs, Limits(batch_files=1, depth=3))
    taken = [schedule.take("w") for _ in range(3)]
    assert all(taken)
    schedule.lost("w", "crashed")
    suspect = schedule.take("x")
    assert suspect is not None and suspect.suspect and keys(suspect) == [("p", "a.py")]
    finished = schedule.lost("x", "crashed again")  # only the suspect fails; w's other batches are untouched
    assert [key(j) for j, _ in finished.outcomes] == [("p", "a.py")]
    assert [(keys(b), b.suspect) for b in take_all(schedule)] == [
        ([("p", "b.py")], False), ([("p", "c.py")], False), ([("p", "d.py")], False)]


def test_a_late_reply_for_a_batch_given_up_on_is_ignored_and_counted() -> None:
    schedule = Schedule([job("p", "a.py", 1)], Limits(depth=1))
    first = schedule.take("w")
    assert first is not None
    schedule.lost("w", "killed")
    again = schedule.take("w")  # the restarted worker, same name
    assert again is not None
    late = schedule.done("w", first.id, answer(first, "late "))
    assert late.outcomes == [] and schedule.duplicates == 1 and not schedule.complete
    finished = schedule.done("w", again.id, answer(again))
    assert [o.sha256 for _, o in finished.outcomes] == ["p/a.py"] and finished.packages == ["p"]
    assert schedule.done("w", again.id, answer(again)).outcomes == []  # the same reply twice
    assert schedule.duplicates == 2 and schedule.complete


def test_files_with_the_same_path_in_two_packages_each_get_their_own_outcome() -> None:
    schedule = Schedule([job("one", "tests/__init__.py", 1), job("two", "tests/__init__.py", 1)])
    batch = schedule.take("w")
    assert batch is not None and len(batch.jobs) == 2
    finished = schedule.done("w", batch.id, answer(batch))
    assert [(j.package, o.sha256) for j, o in finished.outcomes] == [
        ("one", "one/tests/__init__.py"), ("two", "two/tests/__init__.py")]
    assert sorted(finished.packages) == ["one", "two"] and schedule.duplicates == 0 and schedule.complete


def test_a_package_is_reported_finished_once_when_its_last_file_settles() -> None:
    schedule = Schedule([job("p", "a.py", 2), job("p", "b.py", 1)], Limits(batch_files=1))
    first, second = schedule.take("w"), schedule.take("w")
    assert first is not None and second is not None
    assert schedule.done("w", first.id, answer(first)).packages == []
    assert schedule.done("w", second.id, answer(second)).packages == ["p"]
    assert schedule.done("w", second.id, answer(second)).packages == []


def test_an_empty_run_is_complete_from_the_start() -> None:
    schedule = Schedule([])
    assert schedule.complete and schedule.take("w") is None and schedule.lost("w", "crashed") == Finished()


def test_a_batchs_budget_is_the_timeout_plus_its_bytes_at_the_minimum_rate() -> None:
    schedule = Schedule([job("p", "a.py", 300_000)], Limits(timeout=30.0, min_bytes_per_s=100_000.0))
    batch = schedule.take("w")
    assert batch is not None and schedule.budget(batch) == 33.0
