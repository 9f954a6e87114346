"""A running system, found from another process: the run record, attaching, and changing it.

A system started by ``run.py run`` or ``run.py start`` on the tcp base writes
``<data_dir>/run/system.json`` (:class:`RunningSystem`): the pid of the process
that holds it, its admin port, its root id and base, and, for ``start``, its
state repository. ``status``, ``stop``, ``config apply|rollback`` and
Genesis' ``--apply-to`` read it to attach (:func:`attach`), and the record
goes when the system stops. A record whose process has ended is stale: it
is removed and attaching fails with that reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import OmegaError
from ..reload import Reloader, reload_settings, state_path
from ..reload.apply import boot_commit, parse
from ..runtime import Config, Runtime, SystemConfig, load_config
from ..runtime.processes import exists
from ..storage.state_repository import StateRepository


@dataclass(frozen=True, slots=True)
class Boot:
    """What a system started from its state repository runs: HEAD's configuration."""

    config: Config
    commit: str
    state_dir: Path


def boot(config_dir: str | Path, note: Callable[[str], None] = lambda _: None) -> Boot:
    """The configuration ``run.py start --config config_dir`` runs: the state repository's HEAD.

    The first start imports ``config_dir`` as the first commit. ``note`` hears
    what the operator should know (a local config that differs from the
    applied one, a change a killed process left half-done) before HEAD is
    read, so that a HEAD that does not parse does not hide them. Runtime files
    (logs, the run record) stay in ``config_dir``'s ``data_dir``, where
    ``status`` and ``stop`` look for them.
    """
    local = load_config(config_dir)
    with StateRepository(state_path(local, reload_settings(local)).resolve()) as repo:
        head, notes = boot_commit(repo, Path(config_dir))
        for line in notes:
            note(line)
        config = parse(repo.files(head), f"commit {head[:12]}")
        state_dir = repo.path
    system = replace(config.system, data_dir=local.system.data_dir)
    return Boot(replace(config, system=system), head, state_dir)


@dataclass(frozen=True, slots=True)
class RunningSystem:
    pid: int
    admin_port: int
    root_id: str
    base: str
    state_dir: str | None = None  # only a system started from a state repository (`run.py start`) has one


def run_file(system: SystemConfig) -> Path:
    return Path(system.data_dir) / "run" / "system.json"


def write_run_record(system: SystemConfig, runtime: Runtime, state_dir: str | None = None) -> Path:
    """Record this process's running system where others look for it; the file's path."""
    path = run_file(system)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = RunningSystem(os.getpid(), runtime.admin_port, runtime.root_id, runtime.base, state_dir)
    fields = {key: value for key, value in asdict(record).items() if value is not None}
    path.write_text(json.dumps(fields))
    return path


def read_run_record(system: SystemConfig) -> RunningSystem:
    """The record of the running system, or an OmegaError saying why there is none."""
    path = run_file(system)
    try:
        record = RunningSystem(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise OmegaError(f"no running system: {path} does not exist (start one with `python run.py run --forever`)") from None
    except (ValueError, TypeError) as exc:
        raise OmegaError(f"{path} is not a run record ({exc}); remove it if no system is running") from None
    if not exists(record.pid):
        path.unlink(missing_ok=True)
        raise OmegaError(f"no running system: process {record.pid} from {path} has ended")
    return record


def attach(config_dir: str | Path) -> tuple[Runtime, RunningSystem]:
    """Connect to the system started with ``config_dir``; close the Runtime when done (it keeps running)."""
    system = load_config(config_dir).system
    record = read_run_record(system)
    return Runtime.connect(record.admin_port, system, record.root_id), record


@contextmanager
def attach_reloader(config_dir: str | Path, *, who: str = "", window: float | None = None) -> Iterator[Reloader]:
    """A Reloader for the system started with ``run.py start --config config_dir``, closed on exit.

    ``window`` overrides the ``[reload] health_window`` of the applied configuration.
    """
    runtime, record = attach(config_dir)
    try:
        repo = _state_repository(record)
        try:
            head = repo.head()
            if head is None:
                raise OmegaError(f"{repo.path} has no commit; was the system started with `run.py start`?")
            settings = reload_settings(parse(repo.files(head), f"commit {head[:12]}"))
            if window is not None:
                settings = replace(settings, health_window=window)
            yield Reloader(runtime, repo, settings, who)
        finally:
            repo.close()
    finally:
        runtime.close()


def _state_repository(record: RunningSystem) -> StateRepository:
    if record.state_dir is None:
        raise OmegaError("this system was started with `run.py run`, which keeps no state repository; use `run.py start`")
    return StateRepository(Path(record.state_dir))
