"""Child processes watched by pid: alive, ended, and reused pids told apart."""

from __future__ import annotations

import os
import subprocess
import sys

from omega_actors.runtime.processes import ProcessWatch, Watched, parent_of, start_time


def test_a_live_process_has_a_start_time_and_an_ended_one_has_none():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert start_time(child.pid) is not None
        assert parent_of(child.pid) == os.getpid()
    finally:
        child.stdin.close()
        child.wait()
    assert start_time(child.pid) is None


def test_a_zombie_counts_as_ended():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped
        assert os.path.exists(f"/proc/{child.pid}") and start_time(child.pid) is None
    finally:
        child.wait()


def test_a_pid_now_held_by_another_process_is_not_the_watched_child():
    me = Watched("address", os.getpid(), "not my start time")
    assert not me.alive()
    assert Watched("address", os.getpid(), start_time(os.getpid())).alive()


def test_reap_returns_and_forgets_only_the_ended_children():
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    watch = ProcessWatch()
    try:
        watch.add("alive", alive.pid)
        watch.add("ended", ended.pid)
        assert [entry.address for entry in watch.reap()] == ["ended"]
        assert watch.find("ended") is None and watch.find("alive").pid == alive.pid
        assert watch.reap() == [] and bool(watch)
    finally:
        alive.stdin.close()
        alive.wait()
    assert [entry.address for entry in watch.reap()] == ["alive"] and not watch


def test_a_zombie_exists_but_is_not_running():
    from omega_actors.runtime.processes import exists, running

    from .conftest import wait_until

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: not running(child.pid), what="the child to end")
        assert exists(child.pid)  # dead, not yet reaped
    finally:
        child.wait()
    assert not exists(child.pid) and not running(child.pid)
