"""OperationQueue: one operation at a time, everything else in order behind it."""

from __future__ import annotations

from omega_actors.runtime.operations import OperationQueue, Wait


def note(log, text):
    """A task that does not wait: it only records that it ran."""

    def task():
        log.append(text)
        yield from ()

    return task


def test_a_task_that_waits_holds_back_the_tasks_queued_after_it():
    queue, log = OperationQueue(), []

    def restart():
        log.append("stop b")
        reason = yield Wait("exit", 7)
        log.append(f"b exited: {reason}")
        ok = yield Wait("start", 8)
        log.append(f"b started: {ok}")

    queue.run(restart)
    queue.run(note(log, "request"))
    assert log == ["stop b"] and queue.waiting == Wait("exit", 7)
    assert queue.resume("exit", 7, "shutdown")
    assert log == ["stop b", "b exited: shutdown"]
    assert queue.resume("start", 8, True)
    assert log == ["stop b", "b exited: shutdown", "b started: True", "request"]
    assert queue.waiting is None


def test_only_the_awaited_instance_resumes_the_operation():
    queue, seen = OperationQueue(), []

    def wait_for_start():
        seen.append((yield Wait("start", 1)))

    queue.run(wait_for_start)
    assert not queue.resume("start", 2, True), "another instance"
    assert seen == []
    assert queue.resume("start", 1, True)
    assert seen == [True]


def test_an_exit_answers_a_wait_for_a_start_but_not_the_other_way_round():
    queue, seen = OperationQueue(), []

    def wait_for_start():
        seen.append((yield Wait("start", 1)))

    def wait_for_exit():
        seen.append((yield Wait("exit", 2)))

    queue.run(wait_for_start)
    assert queue.resume("exit", 1, "crash")
    queue.run(wait_for_exit)
    assert not queue.resume("start", 2, True)
    assert queue.resume("exit", 2, "shutdown")
    assert seen == ["crash", "shutdown"]


def test_tasks_queued_for_later_run_when_the_current_operation_ends():
    queue, log = OperationQueue(), []

    def first():
        yield Wait("exit", 1)
        queue.later(note(log, "retry"))
        log.append("first done")

    queue.run(first)
    queue.later(note(log, "queued earlier"))
    queue.resume("exit", 1, None)
    assert log == ["first done", "queued earlier", "retry"]


def test_a_closed_queue_runs_nothing_more():
    queue, log = OperationQueue(), []

    def closing():
        queue.close()
        yield from ()

    queue.run(note(log, "before"))
    queue.run(closing)
    queue.run(note(log, "after"))
    assert log == ["before"] and queue.closed
