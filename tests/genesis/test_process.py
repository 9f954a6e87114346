"""The command's own process: its limits, its whole process group killed, and nothing of the host in its environment.

Runaway commands get small limits (a 2 s timeout, 1 CPU second) and loop forever, so a loaded machine only
makes them run longer before the kernel or the timer stops them; the limits of commands meant to finish are generous.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_actors.genesis import Experiment, Sandboxes, new_experiment_id
from omega_actors.genesis.process import Limits, run_limited, scrubbed_env

from .conftest import CALC, diff_of, patch_request, snapshot

GENEROUS = Limits(timeout=300, cpu_seconds=300, memory_mb=2048)
PR_SET_CHILD_SUBREAPER = 36


def wait_for_exit(pid: int, timeout: float = 60.0) -> bool:
    """Wait (on a pidfd, no polling) until ``pid`` has exited, and reap it if it is ours; False if it is still alive."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([handle], [], [], timeout)
    finally:
        os.close(handle)
    if not ready:
        return False
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return True


@pytest.fixture
def subreaper() -> Iterator[list[int]]:
    """Make this process the subreaper of orphans, so a grandchild left by a killed command can be waited for.

    Yields a list for the test to add the pids it expects; any still alive at the end are killed and reaped.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    pids: list[int] = []
    try:
        yield pids
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            wait_for_exit(pid)


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / "box" / name for name in ("cwd", "home", "tmp", "out")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    return folders


def run(argv: list[str], scratch: dict[str, Path], limits: Limits = GENEROUS):  # type: ignore[no-untyped-def]
    return run_limited(argv, scratch["cwd"], scrubbed_env(scratch["home"], scratch["tmp"]), limits, scratch["out"])


def test_a_command_that_ends_well_is_ok_and_its_output_is_in_files(scratch: dict[str, Path]) -> None:
    result = run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"], scratch)

    assert result.ok and result.exit_code == 0 and result.killed == ""
    assert result.stdout.read_text() == "out\n" and result.stderr.read_text() == "err\n"
    assert result.stdout.parent == scratch["out"]
    assert result.wall_s > 0 and result.cpu_s > 0 and result.peak_rss_mb > 0


def test_a_command_that_fails_has_its_exit_code_and_no_limit_named(scratch: dict[str, Path]) -> None:
    result = run([sys.executable, "-c", "raise SystemExit(3)"], scratch)

    assert result.exit_code == 3 and result.killed == "" and not result.ok
    assert result.describe() == "exit code 3"


def test_a_command_that_loops_forever_is_killed_at_its_timeout_with_the_children_it_started(
    scratch: dict[str, Path], subreaper: list[int]
) -> None:
    pid_file = scratch["tmp"] / "child.pid"
    script = f"sleep 1000 & echo $! > {pid_file}; while :; do :; done"

    result = run(["sh", "-c", script], scratch, Limits(timeout=2, cpu_seconds=600, memory_mb=2048))

    assert result.killed == "timeout" and result.exit_code == -signal.SIGKILL and not result.ok
    assert "wall-clock" in result.describe()
    child = int(pid_file.read_text())
    subreaper.append(child)
    assert wait_for_exit(child), f"the background child {child} outlived its killed command"
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_a_command_that_leaves_a_child_behind_when_it_exits_has_that_child_killed(
    scratch: dict[str, Path], subreaper: list[int]
) -> None:
    pid_file = scratch["tmp"] / "child.pid"

    result = run(["sh", "-c", f"sleep 1000 & echo $! > {pid_file}; exit 0"], scratch)

    assert result.ok
    child = int(pid_file.read_text())
    subreaper.append(child)
    assert wait_for_exit(child), f"the background child {child} outlived its command"
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_a_cpu_burning_loop_is_killed_at_its_cpu_limit(scratch: dict[str, Path]) -> None:
    result = run([sys.executable, "-c", "while True: pass"], scratch, Limits(timeout=600, cpu_seconds=1, memory_mb=2048))

    assert result.killed == "cpu", (result.exit_code, result.cpu_s, result.tail())
    assert result.exit_code < 0 and not result.ok
    assert result.cpu_s >= 0.9


def test_a_command_allocating_far_beyond_its_memory_limit_is_stopped_at_the_memory_limit(scratch: dict[str, Path]) -> None:
    result = run([sys.executable, "-c", "data = bytearray(1 << 30)"], scratch, Limits(timeout=300, cpu_seconds=300, memory_mb=256))

    assert result.killed == "memory", (result.exit_code, result.tail())
    assert not result.ok and "MemoryError" in result.tail()
    assert result.peak_rss_mb < 256


def test_the_environment_holds_no_host_secret_and_home_and_tmpdir_are_in_the_sandbox(
    project: Path, sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMEGA_TEST_SECRET", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "AKIAFAKEFAKEFAKE/hunter2")
    monkeypatch.setenv("OMEGA_DATABASE_URL", "postgresql://omega:s3cret-pw@db.example:5432/omega")
    dump = "import json, os; json.dump(dict(os.environ), open(os.path.join(os.environ['HOME'], 'env.json'), 'w'))"
    diff = diff_of(project, {"calc/__init__.py": CALC + "\n\nZERO = 0\n"})
    experiment = Experiment(new_experiment_id(), patch_request(project, diff, command=["{python}", "-c", dump]), sandboxes)
    try:
        experiment.prepare()
        experiment.run("baseline-1")
        box = experiment.box
        assert box is not None and experiment.results["baseline-1"].ok, experiment.results["baseline-1"].tail()
        env = json.loads((box.home / "env.json").read_text())
    finally:
        experiment.discard()

    text = json.dumps(env)
    assert "OMEGA_TEST_SECRET" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "hunter2" not in text and "s3cret-pw" not in text and "OMEGA_DATABASE_URL" not in env
    assert Path(env["HOME"]) == box.home and Path(env["TMPDIR"]) == box.tmp
    assert Path(env["OMEGA_SQLITE_PATH"]) == box.database
    for key in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "OMEGA_SQLITE_PATH"):
        assert Path(env[key]).is_relative_to(box.root), (key, env[key])
    allowed = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
               "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "OMEGA_SQLITE_PATH", "OMEGA_GENESIS_RUN"}  # fmt: skip
    assert set(env) <= allowed, set(env) - allowed


WRITE_EVERYWHERE = """
import os, sqlite3, tempfile
from pathlib import Path
Path(os.environ["HOME"], "home.txt").write_text("home")
Path(os.path.expanduser("~/.config/tool/settings")).parent.mkdir(parents=True)
Path(os.path.expanduser("~/.config/tool/settings")).write_text("x")
Path(os.environ["XDG_CACHE_HOME"]).mkdir(parents=True, exist_ok=True)
Path(os.environ["XDG_CACHE_HOME"], "cache.bin").write_bytes(b"c")
Path(os.environ["TMPDIR"], "tmp.txt").write_text("tmp")
handle, name = tempfile.mkstemp(); os.write(handle, b"t"); os.close(handle)
Path(tempfile.mkdtemp(), "inside.txt").write_text("d")
Path("cwd.txt").write_text("cwd")
Path("calc", "generated.py").write_text("X = 1")
connection = sqlite3.connect(os.environ["OMEGA_SQLITE_PATH"])
connection.execute("CREATE TABLE t (x)"); connection.execute("INSERT INTO t VALUES (1)"); connection.commit(); connection.close()
"""


def test_a_command_writing_to_every_path_it_is_given_only_creates_files_in_its_sandbox(
    project: Path, sandboxes: Sandboxes, tmp_path: Path
) -> None:
    diff = diff_of(project, {"calc/__init__.py": CALC + "\n\nZERO = 0\n"})
    request = patch_request(project, diff, command=["{python}", "-c", WRITE_EVERYWHERE], metrics=["tests_passed"])
    experiment = Experiment(new_experiment_id(), request, sandboxes)
    experiment.prepare()  # the export under sandboxes/.base is Genesis' own, made here
    before = snapshot(tmp_path, skip=sandboxes.root)
    try:
        experiment.run("baseline-1")
        box = experiment.box
        assert box is not None and experiment.results["baseline-1"].ok, experiment.results["baseline-1"].tail()

        assert snapshot(tmp_path, skip=sandboxes.root) == before
        written = {str(p.relative_to(box.root)) for p in box.root.rglob("*") if p.is_file()}
        assert {"home/home.txt", "home/.config/tool/settings", "home/.cache/cache.bin", "tmp/tmp.txt", "tree/cwd.txt",
                "tree/calc/generated.py", "db.sqlite3"} <= written  # fmt: skip
        assert any(name.startswith("tmp/tmp") and name != "tmp/tmp.txt" for name in written)  # mkstemp's file
        assert sandboxes.intact(box.tree_id)
        assert sorted(p.name for p in sandboxes.root.iterdir()) == sorted([".base", box.experiment_id])
    finally:
        experiment.discard()
    assert not box.root.exists()
    assert snapshot(tmp_path, skip=sandboxes.root) == before


def test_a_command_opening_a_file_of_its_tree_for_writing_gets_permission_error_and_the_export_is_intact(
    project: Path, sandboxes: Sandboxes
) -> None:
    box = sandboxes.create(new_experiment_id(), project)
    script = ("import sys\ntry:\n    open('calc/__init__.py', 'r+b').write(b'#')\nexcept PermissionError:\n"
              "    sys.exit(13)\n")  # fmt: skip

    result = run_limited([sys.executable, "-c", script], box.tree, scrubbed_env(box.home, box.tmp), GENEROUS, box.out)

    assert result.exit_code == 13, "the command wrote through a hardlink into the shared, read-only export"
    assert (sandboxes.root / ".base" / box.tree_id / "calc" / "__init__.py").read_text() == CALC
    assert sandboxes.intact(box.tree_id)


def test_a_daemon_that_left_the_commands_session_is_killed_when_the_command_ends(
    scratch: dict[str, Path], subreaper: list[int]
) -> None:
    pid_file = scratch["tmp"] / "daemon.pid"
    script = ("import subprocess, sys\n"
              "daemon = subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
              f"open({str(pid_file)!r}, 'w').write(str(daemon.pid))\n")  # fmt: skip

    result = run([sys.executable, "-c", script], scratch)

    assert result.ok, result.tail()
    daemon = int(pid_file.read_text())
    subreaper.append(daemon)
    assert wait_for_exit(daemon), f"the daemon {daemon} outlived its command"
