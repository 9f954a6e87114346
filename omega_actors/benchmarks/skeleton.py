"""``python run.py bench skeleton``: our pool against griffe, on the same installed packages, in the same run.

The packages are the largest installed ones this project depends on (pip,
setuptools, numpy, hypothesis, pytest, GitPython, psycopg, Thespian, nats-py,
griffe itself; ``--quick``: pip and hypothesis). Both sides see the same files: each
distribution's top-level packages and modules, ``.py`` and ``.pyi``. Every
file is read once before either side runs, so both start with a warm page
cache.

- **griffe**: ``GriffeLoader(allow_inspection=False)`` loading each top-level
  name, one process, otherwise default settings (the garbage collector on).
  ``allow_inspection=False`` keeps it static, as we are: with inspection on,
  griffe imports compiled modules it finds without source.
- **ours**: ``skeleton extract`` into a fresh store: the pool on the tcp
  base, one worker per core, everything stored (records, modules, objects,
  parameters, exports). Timed from the extract request to the last package's
  rows committed; starting the pool is reported apart (``pool_start_s``).

It prints ``files``, ``files_per_s_ours``, ``files_per_s_griffe``,
``ratio``, ``cpu_cores_busy`` (the average number of cores busy during our
run, from ``/proc/stat``: the whole machine, so run it on a quiet one) and
``agreement`` (:mod:`omega_actors.skeleton.agreement` on the same packages).
Targets: ``ratio`` >= 1.5, ``cpu_cores_busy`` >= 1.7 of 2, ``agreement`` >= 0.95.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..actors.skeleton import COORDINATOR, Extract, GetProgress
from ..app.skeleton import skeleton_spec
from ..runtime import Runtime, SupervisorSpec, SystemConfig
from ..skeleton.sources import PackageSource, installed

PACKAGES = ("pip", "setuptools", "numpy", "hypothesis", "pytest", "GitPython", "psycopg", "Thespian", "nats-py", "griffelib")
QUICK = ("pip", "hypothesis")

Progress = Callable[[str], None] | None


def run(quick: bool = False, progress: Progress = None) -> dict[str, object]:
    say = progress or (lambda _: None)
    packages = same_files(installed([name for name in (QUICK if quick else PACKAGES) if _installed(name)]))
    files = sum(len(package.files) for package in packages)
    say(f"{len(packages)} packages, {files} files; warming the page cache ...")
    for package in packages:
        for file in package.files:
            file.path.read_bytes()
    say("griffe ...")
    griffe_s = _griffe_seconds(packages)
    say("ours ...")
    ours = _ours(packages)
    say("agreement ...")
    agreement = _agreement(packages)
    return {
        "files": files,
        "packages": [package.name for package in packages],
        "files_per_s_ours": round(files / ours["seconds"], 1),
        "files_per_s_griffe": round(files / griffe_s, 1),
        "ratio": round(griffe_s / ours["seconds"], 3),
        "cpu_cores_busy": round(ours["cores_busy"], 2),
        "agreement": agreement,
        "seconds_ours": round(ours["seconds"], 3),
        "seconds_griffe": round(griffe_s, 3),
        "pool_start_s": round(ours["pool_start_s"], 3),
        "workers": ours["workers"],
        "failed": ours["failed"],
        "cores": os.cpu_count(),
    }


def same_files(packages: list[PackageSource]) -> list[PackageSource]:
    """Each distribution cut to its top-level packages and modules: what griffe can load by name."""
    cut = []
    for package in packages:
        files = tuple(file for file in package.files if _top(file.module).isidentifier() and "-" not in file.relpath)
        cut.append(replace(package, files=files))
    return [package for package in cut if package.files]


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _griffe_seconds(packages: list[PackageSource]) -> float:
    import griffe

    tops = sorted({_top(file.module) for package in packages for file in package.files})
    search = sorted({str(package.root) for package in packages})
    start = time.perf_counter()
    loader = griffe.GriffeLoader(allow_inspection=False, search_paths=search)
    for top in tops:
        loader.load(top)
    return time.perf_counter() - start


def _ours(packages: list[PackageSource]) -> dict[str, Any]:
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="omega-bench-skeleton-") as scratch:
        started = time.perf_counter()
        tree = SupervisorSpec(children=(skeleton_spec(workers),))
        with Runtime.start(tree, SystemConfig(base="tcp", data_dir=str(Path(scratch) / "omega"))) as runtime:
            pool_start = time.perf_counter() - started
            busy, total = _cpu()
            begin = time.perf_counter()
            progress = runtime.ask(COORDINATOR, Extract(tuple(packages), str(Path(scratch) / "api.db")), timeout=600)
            while progress.running:
                time.sleep(0.05)  # polling granularity; the run takes seconds
                progress = runtime.ask(COORDINATOR, GetProgress(), timeout=600)
            seconds = time.perf_counter() - begin
            busy_after, total_after = _cpu()
    cores = (os.cpu_count() or 1) * (busy_after - busy) / max(total_after - total, 1)
    return {"seconds": seconds, "cores_busy": cores, "pool_start_s": pool_start, "workers": workers, "failed": progress.failed}


def _cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine: idle and iowait are not busy."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle, sum(fields[:8])


def _agreement(packages: list[PackageSource]) -> float:
    from ..skeleton.agreement import agree

    return round(agree(packages).agreement, 4)
