"""The skeleton extractor's tree, and one extraction run on it.

::

    skeleton (one_for_one)
      workers       Supervisor (one_for_one, restart backoff), named skeleton.workers
        worker-0    ExtractorWorker, named skeleton.worker-0
        worker-1    ...
      coordinator   Coordinator, named skeleton.coordinator

The workers come first so the coordinator finds them registered. How the
coordinator hands out batches and what happens when a worker dies holding
one is in :mod:`omega_actors.actors.skeleton`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..actors.skeleton import (
    COORDINATOR,
    WORKERS,
    Coordinator,
    Extract,
    ExtractorWorker,
    GetProgress,
    Progress,
)
from ..errors import SpecError, SupervisorError
from ..runtime import (
    Backoff,
    ChildSpec,
    Runtime,
    Strategy,
    Supervisor,
    SupervisorSpec,
    SystemConfig,
)
from ..skeleton.reader import DEFAULT_MAX_FILE_BYTES
from ..skeleton.schedule import Limits
from ..skeleton.sources import PackageSource

WORKER_BACKOFF = Backoff(initial=0.05, maximum=2.0, reset_after=30.0)
POLL_SECONDS = 0.2


def skeleton_spec(
    workers: int | None = None,
    *,
    limits: Limits = Limits(),
    full_docs: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    intensity: int = 100,
    period: float = 10.0,
) -> ChildSpec:
    """The pool's tree; ``workers`` defaults to one per core."""
    count = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 256:
        raise SpecError(f"expected a whole number of workers from 1 to 256; got {workers!r}", key="workers")
    ids = [f"worker-{index}" for index in range(count)]
    pool = SupervisorSpec(
        Strategy.ONE_FOR_ONE, intensity, period, backoff=WORKER_BACKOFF,
        children=tuple(ExtractorWorker.child_spec(worker, name=f"skeleton.{worker}", worker=worker, full_docs=full_docs,
                                                  max_file_bytes=max_file_bytes) for worker in ids),
    )
    tree = SupervisorSpec(Strategy.ONE_FOR_ONE, intensity, period, children=(
        Supervisor.child_spec("workers", pool, name=WORKERS),
        Coordinator.child_spec("coordinator", name=COORDINATOR, workers=ids, limits=limits),
    ))
    return Supervisor.child_spec("skeleton", tree)


def extract(packages: Sequence[PackageSource], db: str | Path, *, workers: int | None = None, limits: Limits | None = None,
            full_docs: bool = False, base: str = "tcp", on_progress: Callable[[Progress], None] | None = None,
            system: SystemConfig | None = None, poll: float = POLL_SECONDS) -> Progress:
    """One extraction run on a pool started for it and shut down after; returns the final Progress."""
    tree = SupervisorSpec(children=(skeleton_spec(workers, limits=limits or Limits(), full_docs=full_docs),))
    with Runtime.start(tree, system or SystemConfig(base=base)) as runtime:
        progress: Progress = runtime.ask(COORDINATOR, Extract(tuple(packages), str(Path(db).resolve())), timeout=600)
        run = progress.run
        while progress.running:
            if on_progress:
                on_progress(progress)
            time.sleep(poll)  # a progress bar polls; no test waits on this
            progress = runtime.ask(COORDINATOR, GetProgress(), timeout=600)
        if progress.run != run:
            raise SupervisorError("the coordinator restarted during the run; run again (finished files are kept)")
    if on_progress:
        on_progress(progress)
    return progress
