"""The skeleton pool end to end: real worker processes, killed for real, on pathological files."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from omega_actors.actors.skeleton import Extract, GetProgress, Progress
from omega_actors.app.skeleton import skeleton_spec
from omega_actors.errors import DeliveryError
from omega_actors.runtime import SupervisorSpec
from omega_actors.skeleton.schedule import Limits
from omega_actors.skeleton.sources import directory
from tests.runtime.conftest import BASES, alive, wait_until

WORKERS = "app/skeleton/workers"


def write_package(root: Path, modules: int = 12) -> Path:
    package = root / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n__all__ = ["api"]\nfrom .core import api\n')
    (package / "core.py").write_text("def api(a, /, b: int = 1, *args, c, **kw) -> str:\n    'The API.'\n")
    for index in range(modules):
        (package / f"m{index}.py").write_text(
            f"class C{index}:\n    def method(self, x=1):\n        pass\n\ndef f{index}(y, *, z=None):\n    pass\n")
    return package


def big_module(path: Path, functions: int) -> None:
    path.write_text("".join(f"def f{i}(a, b=1, *c, d: int = 2, **e) -> int:\n    return a\n" for i in range(functions)))


def start_pool(start_runtime, base: str, workers: int = 2, **limits: float):
    return start_runtime(SupervisorSpec(children=(skeleton_spec(workers, limits=Limits(**limits)),)), base)


def run_to_end(runtime, packages, db: Path) -> Progress:
    first = runtime.ask("skeleton.coordinator", Extract(tuple(packages), str(db)), timeout=60)
    assert isinstance(first, Progress), first
    final = wait_until(lambda: _finished(runtime, first.run), runtime, timeout=120, what="the extraction to finish")
    assert isinstance(final, Progress)
    return final


def _finished(runtime, run: int) -> Progress | None:
    progress = runtime.ask("skeleton.coordinator", GetProgress(), timeout=30)
    return progress if progress.run == run and not progress.running else None


def stored(db: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT relpath, status, reason FROM files").fetchall()
    paths = [row[0] for row in rows]
    assert len(paths) == len(set(paths)), "a file stored twice"
    return {row[0]: (row[1], row[2]) for row in rows}


def worker(runtime, id: str):
    return next(info for info in runtime.which_children(WORKERS) if info.id == id)


@pytest.mark.parametrize("base", BASES)
def test_the_pool_extracts_every_file_once_and_stores_the_api(start_runtime, base, tmp_path):
    package = directory(write_package(tmp_path / "src"))
    runtime = start_pool(start_runtime, base)
    final = run_to_end(runtime, [package], tmp_path / "api.db")
    assert (final.files, final.done, final.failed, final.workers_lost) == (14, 14, 0, 0)
    assert set(stored(tmp_path / "api.db")) == {file.relpath for file in package.files}
    with sqlite3.connect(tmp_path / "api.db") as connection:
        api = connection.execute("SELECT resolved, public FROM exports WHERE module = 'pkg' AND name = 'api'").fetchone()
        signature = connection.execute("SELECT signature FROM objects WHERE path = 'pkg.core.api'").fetchone()
    assert api == ("pkg.core.api", 1)
    assert signature == ("(a, /, b: int = 1, *args, c, **kw) -> str",)


def test_a_second_run_reads_only_what_changed(start_runtime, tmp_path):
    source = write_package(tmp_path / "src")
    runtime = start_pool(start_runtime, "simple")
    run_to_end(runtime, [directory(source)], tmp_path / "api.db")
    (source / "m3.py").write_text("def g(new):\n    pass\n")
    again = run_to_end(runtime, [directory(source)], tmp_path / "api.db")
    assert (again.files, again.unchanged) == (1, 13)
    with sqlite3.connect(tmp_path / "api.db") as connection:
        paths = {row[0] for row in connection.execute("SELECT path FROM objects WHERE module = 'pkg.m3'")}
    assert paths == {"pkg.m3.g"}


def test_a_second_extract_while_one_runs_is_refused(start_runtime, tmp_path):
    source = write_package(tmp_path / "src")
    big_module(source / "big.py", 20_000)
    runtime = start_pool(start_runtime, "tcp", workers=1)
    first = runtime.ask("skeleton.coordinator", Extract((directory(source),), str(tmp_path / "a.db")), timeout=60)
    assert isinstance(first, Progress) and first.running
    with pytest.raises(DeliveryError, match="an extraction is running"):
        runtime.ask("skeleton.coordinator", Extract((directory(source),), str(tmp_path / "b.db")), timeout=60)
    assert not (tmp_path / "b.db").exists()
    wait_until(lambda: _finished(runtime, first.run), runtime, timeout=120, what="the first run to finish")


@pytest.mark.tcp
def test_a_worker_killed_mid_batch_is_restarted_and_every_file_still_ends_stored_once(start_runtime, tmp_path):
    source = write_package(tmp_path / "src", modules=40)
    big_module(source / "big.py", 30_000)  # largest first: worker-0's first batch, about a second of parsing
    package = directory(source)
    runtime = start_pool(start_runtime, "tcp")
    victim = worker(runtime, "worker-0")
    first = runtime.ask("skeleton.coordinator", Extract((package,), str(tmp_path / "api.db")), timeout=60)
    os.kill(victim.pid, signal.SIGKILL)
    final = wait_until(lambda: _finished(runtime, first.run), runtime, timeout=120, what="the extraction to finish")
    assert final.workers_lost >= 1
    assert final.failed == 0, final.failures  # the kill was not the files' fault: they were read again
    files = stored(tmp_path / "api.db")
    assert set(files) == {file.relpath for file in package.files}
    assert {status for status, _ in files.values()} == {"ok"}
    wait_until(lambda: worker(runtime, "worker-0").restarts >= 1, what="the supervisor to restart worker-0")
    assert not alive(victim.pid)


@pytest.mark.tcp
def test_pathological_files_are_recorded_as_failed_with_a_reason_and_the_run_goes_on(start_runtime, tmp_path):
    source = write_package(tmp_path / "src")
    (source / "syntax.py").write_text("def broken(:\n")
    (source / "encoding.py").write_bytes(b"x = '\xff\xfe'\n")
    (source / "cookie.py").write_bytes(b"# -*- coding: no-such-codec -*-\nx = 1\n")
    (source / "binary.py").write_bytes(bytes(range(256)) * 4)
    (source / "deep.py").write_text("x = " + "1+" * 200_000 + "1\n")
    (source / "nested.py").write_text("x = " + "(" * 300 + ")" * 300 + "\n")
    os.mkfifo(source / "stuck.py")  # opening it never returns: a read that hangs, as on a dead network mount
    package = directory(source)
    runtime = start_pool(start_runtime, "tcp", timeout=2.0)
    final = run_to_end(runtime, [package], tmp_path / "api.db")
    files = stored(tmp_path / "api.db")
    assert set(files) == {file.relpath for file in package.files}, "nothing skipped"
    failed = {path: reason for path, (status, reason) in files.items() if status == "failed"}
    assert set(failed) == {f"pkg/{name}.py" for name in ("syntax", "encoding", "cookie", "binary", "deep", "nested", "stuck")}
    assert failed["pkg/syntax.py"].startswith("SyntaxError")
    assert "RecursionError" in failed["pkg/deep.py"] or "MemoryError" in failed["pkg/deep.py"]
    assert "no answer in" in failed["pkg/stuck.py"] and "worker lost" in failed["pkg/stuck.py"]
    assert final.failed == 7 and final.workers_lost == 2  # the stuck file's batch, then the stuck file alone
    assert {path for path, (status, _) in files.items() if status == "ok"} == {
        file.relpath for file in package.files if file.relpath not in failed}
