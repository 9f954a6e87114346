"""One experiment, step by step: admit, prepare, baseline twice, apply, candidate, grade, merge or roll back.

::

    admit(request, sandboxes)                 # a GenesisError says why a request is refused (before any sandbox)
    experiment = Experiment("g0123456789ab", request, sandboxes)
    for step in experiment.steps():           # the actor runs one step per message, so it can answer meanwhile
        step()
    experiment.outcome()                      # status, recommendation, metrics, timings, branch

The command runs three times in the same sandbox, each time in its own
process with its own limits and a fresh database: twice on the unchanged
tree (the baseline), then once after the change (the candidate). Between
runs only Genesis touches the tree. Grading (:mod:`.grading`) happens here,
outside the sandbox.

Merge commits the change on branch ``genesis/<experiment_id>`` of the
requester's repository, without touching its work tree or index (a
private index file): a code patch is taken from there by its requester, a
config change is applied by its requester through the config apply path
(the completed event carries the files). Rollback deletes the sandbox and
its database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, GenesisError
from ..reload.apply import parse
from ..storage.state_repository import CONFIG_DIR
from .database import ExperimentDatabase
from .grading import JUNIT, RANKINGS, Advice, Grade, Measured, Verdict, grade, measure
from .process import Limits, RunResult, run_limited, scrubbed_env
from .request import ConfigChange, ExperimentRequest, PatchChange
from .sandbox import Sandbox, Sandboxes, check_protected, patch_files, resolve_base

BRANCH_PREFIX = "genesis/"
_VECTORS: dict[str, np.ndarray] = {}  # per process: a dataset's catalogue is embedded once


def admit(request: ExperimentRequest, sandboxes: Sandboxes) -> None:
    """Refuse a request that cannot run: an unknown repository or base, a patch that does not apply, a bad config."""
    repository = Path(request.change.repository)
    _, tree_id = resolve_base(repository, request.change.base)
    if isinstance(request.change, PatchChange):
        check_protected(patch_files(request.change.diff, sandboxes.export(repository, tree_id)), request.validation.protected)
    else:
        _check_config(request.change, sandboxes.export(repository, tree_id))
    if request.validation.dataset and not Path(request.validation.dataset, "ratings.csv").is_file():
        raise GenesisError(f"{request.validation.dataset} holds no ratings.csv (a MovieLens-format directory)",
                           key="validation.dataset")  # fmt: skip


def _check_config(change: ConfigChange, export: Path) -> None:
    """Refuse a change that ``config apply`` would refuse: its own check (every Omega section included)."""
    folder = export / CONFIG_DIR
    files = {p.name: p.read_bytes() for p in folder.glob("*.toml")} if folder.is_dir() else {}
    files.update({name: text.encode() for name, text in change.files})
    try:
        parse(files, {name: f"change.files.{name}" for name in files})
    except ConfigError as exc:
        raise GenesisError(f"the changed configuration is invalid: {exc}", key="change.files") from None


@dataclass
class Experiment:
    experiment_id: str
    request: ExperimentRequest
    sandboxes: Sandboxes
    database_url: str = ""  # PostgreSQL server for genesis_<id>; "" means a SQLite file in the sandbox
    python: str = sys.executable
    box: Sandbox | None = None
    database: ExperimentDatabase | None = None
    runs: dict[str, Measured] = field(default_factory=dict)
    results: dict[str, RunResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    verdict: Verdict | None = None
    merged: dict[str, str] = field(default_factory=dict)
    tampered: bool = False
    _truth: Any = None
    _started: float = field(default_factory=time.perf_counter)

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [("prepare", self.prepare), ("baseline-1", lambda: self.run("baseline-1")),
                ("baseline-2", lambda: self.run("baseline-2")), ("apply", self.apply_change),
                ("candidate", lambda: self.run("candidate")), ("grade", self.grade), ("conclude", self.conclude)]  # fmt: skip

    def prepare(self) -> None:
        with self._timed("sandbox_create_ms"):
            self.box = self.sandboxes.create(self.experiment_id, Path(self.request.change.repository), self.request.change.base)
            self.database = ExperimentDatabase(self.experiment_id, self.box.database, self.database_url)
        if self.request.validation.dataset:
            with self._timed("inputs_ms"):
                self._write_inputs()

    def _write_inputs(self) -> None:
        from ..brain import shared_embedder
        from .replay import episodes_of, write_inputs

        box = self._box()
        data = episodes_of(self.request.validation.dataset, self.request.validation.users)
        key = str(Path(self.request.validation.dataset).resolve())
        if key not in _VECTORS:
            _VECTORS[key] = shared_embedder().embed_many([item.text for item in data.items])
        (box.root / "inputs").mkdir()
        write_inputs(data, box.root / "inputs" / "episodes.json", box.root / "inputs" / "catalogue.npz", _VECTORS[key])
        self._truth = data

    def run(self, name: str) -> None:
        box, database = self._box(), self._database()
        out = box.out / name
        out.mkdir()
        with self._timed(f"{name}_db_ms"):
            extra = database.fresh()
        validation = self.request.validation
        argv = [part.format(python=self.python, sandbox=box.tree, junit=out / JUNIT, rankings=out / RANKINGS,
                            episodes=box.root / "inputs" / "episodes.json", catalogue=box.root / "inputs" / "catalogue.npz")
                for part in validation.command]  # fmt: skip
        limits = Limits(validation.timeout, validation.cpu_seconds, validation.memory_mb)
        result = run_limited(argv, box.tree, scrubbed_env(box.home, box.tmp, extra), limits, out)
        self.results[name] = result
        self.timings[f"{name}_command_ms"] = result.wall_s * 1000
        self.runs[name] = measure(result, out, validation, self._truth)

    def apply_change(self) -> None:
        box = self._box()
        with self._timed("apply_ms"):
            change = self.request.change
            if isinstance(change, PatchChange):
                box.apply_patch(change.diff, self.request.validation.protected)
            else:
                for name, text in change.files:
                    box.write(f"{CONFIG_DIR}/{name}", text.encode())

    def grade(self) -> None:
        with self._timed("grade_ms"):
            self.verdict = grade([self.runs["baseline-1"], self.runs["baseline-2"]], self.runs["candidate"], self.request.validation)
            self.tampered = not self.sandboxes.verify(self._box().tree_id)
            if self.tampered:  # the shared export was written through a link: never reuse it, never merge
                self.sandboxes.discard(self._box().tree_id)
                self.verdict = replace(self.verdict, status=Grade.FAILED, recommendation=Advice.ROLLBACK,
                                       reasons=(*self.verdict.reasons, "the experiment changed the shared read-only files"))

    def conclude(self) -> None:
        verdict = self.verdict
        if verdict is not None and verdict.recommendation is Advice.MERGE:
            with self._timed("merge_ms"):
                self.merged = commit_on_branch(self.request, self.experiment_id, self._box().commit, self._summary())
        with self._timed("rollback_ms"):
            self.discard()
        self.timings["total_ms"] = (time.perf_counter() - self._started) * 1000
        commands = sum(v for k, v in self.timings.items() if k.endswith("_command_ms"))
        self.timings["overhead_ms"] = self.timings["total_ms"] - commands

    def discard(self) -> None:
        """Delete the sandbox and its database (rollback, and cleanup after a failure)."""
        if self.database is not None:
            self.database.drop()
        if self.box is not None:
            self.box.remove()

    def outcome(self) -> dict[str, Any]:
        verdict = self.verdict.to_dict() if self.verdict else {"status": Grade.FAILED, "recommendation": Advice.ROLLBACK}
        logs = {name: result.tail(5) for name, result in self.results.items() if not result.ok}
        return {**verdict, "experiment_id": self.experiment_id, "requester": self.request.requester, "merged": self.merged,
                "timings": dict(self.timings), "logs": logs, "shared_files_tampered": self.tampered,
                "change": self.request.change.to_dict() if isinstance(self.request.change, ConfigChange) else
                {"kind": "patch", "repository": self.request.change.repository, "base": self.request.change.base},
                "extra": dict(self.request.extra)}  # fmt: skip

    def _summary(self) -> str:
        verdict = self.verdict
        lines = [f"genesis {self.experiment_id}: {self.request.description}"[:200], ""]
        lines += list(verdict.reasons if verdict else ())
        lines += ["", f"Genesis-Experiment: {self.experiment_id}", f"Genesis-Requester: {self.request.requester}"]
        return "\n".join(lines) + "\n"

    def _box(self) -> Sandbox:
        if self.box is None:
            raise GenesisError("the sandbox was not prepared")
        return self.box

    def _database(self) -> ExperimentDatabase:
        if self.database is None:
            raise GenesisError("the database was not prepared")
        return self.database

    def _timed(self, key: str) -> _Timer:
        return _Timer(self.timings, key)


class _Timer:
    def __init__(self, into: dict[str, float], key: str) -> None:
        self.into, self.key = into, key

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.into[self.key] = (time.perf_counter() - self.started) * 1000


def commit_on_branch(request: ExperimentRequest, experiment_id: str, base: str, message: str) -> dict[str, str]:
    """Commit the change on ``genesis/<id>`` in the requester's repository; its work tree and index are not touched."""
    repository = Path(request.change.repository)
    git_dir = Path(_git(repository, {}, "rev-parse", "--absolute-git-dir").strip())
    index = git_dir / f"genesis-{experiment_id}.index"
    env = {"GIT_INDEX_FILE": str(index), "GIT_AUTHOR_NAME": "genesis", "GIT_AUTHOR_EMAIL": "genesis@omega",
           "GIT_COMMITTER_NAME": "genesis", "GIT_COMMITTER_EMAIL": "genesis@omega"}  # fmt: skip
    try:
        _git(repository, env, "read-tree", base)
        change = request.change
        if isinstance(change, PatchChange):
            _git(repository, env, "apply", "--cached", "-", stdin=change.diff)
        else:
            for name, text in change.files:
                blob = _git(repository, env, "hash-object", "-w", "--stdin", stdin=text).strip()
                _git(repository, env, "update-index", "--add", "--cacheinfo", f"100644,{blob},{CONFIG_DIR}/{name}")
        tree = _git(repository, env, "write-tree").strip()
        sha = _git(repository, env, "commit-tree", tree, "-p", base, "-F", "-", stdin=message).strip()
        branch = BRANCH_PREFIX + experiment_id
        _git(repository, env, "update-ref", f"refs/heads/{branch}", sha)
        return {"branch": branch, "commit": sha, "repository": str(repository)}
    finally:
        index.unlink(missing_ok=True)


def _git(repository: Path, env: dict[str, str], *args: str, stdin: str = "") -> str:
    result = subprocess.run(["git", *args], cwd=repository, input=stdin.encode(), capture_output=True,
                            env={**os.environ, **env}, timeout=120)  # fmt: skip
    if result.returncode != 0:
        raise GenesisError(f"git {args[0]} in {repository}: {result.stderr.decode(errors='replace').strip()[:300]}")
    return result.stdout.decode()
