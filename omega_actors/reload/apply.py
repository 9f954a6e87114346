"""Apply a configuration to a running system, watch it, and commit it or roll it back.

::

    reloader = Reloader(runtime, StateRepository(path), settings, who="ana@host")
    outcome = reloader.apply(files_to_apply(Path("config/tree.toml"), repo), why="two more workers")
    outcome.status     # a ChangeStatus: applied | rolled_back | rejected | unchanged

The procedure, under the state repository's writer lock:

1. **Validate.** A bad config is rejected with its file, key and value, and
   nothing changes; the attempt is recorded outside ``main``.
2. **Diff** the new tree against the one the running supervisors hold.
3. **Apply in place** (:mod:`omega_actors.runtime.supervisor_upgrade`): added
   children start, removed ones stop in order, changed ones restart, flags
   change without restarts. A *pending* marker is written first.
4. **Watch** the health window (:mod:`.health`). On a failed start, an
   escalation, a crash loop or a failed probe, the running tree is brought
   back to the last good commit through the same path, and the attempt is
   recorded with its reason.
5. **Commit**: one commit on ``main``, then the marker is removed.

Crash safety: the running tree is always started from ``HEAD`` (``python
run.py start``), and ``HEAD`` moves only in step 5, after the change has
proven itself. If the process that applies is killed, the marker stays; the
next writer finds it, brings the running tree back to ``HEAD``, and records
the attempt as interrupted. If the system itself is killed, it comes back on
``HEAD``: the last good commit, or the new one if step 5 had happened.
"""

from __future__ import annotations

import enum
import getpass
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OmegaError, StateError
from ..runtime import Config, Runtime, SupervisorSpec, load_config
from ..runtime.reconfigure import diff_trees
from ..storage.state_repository import Entry, StateRepository
from . import health
from .sections import check_sections
from .settings import ReloadSettings


class ChangeStatus(enum.StrEnum):
    """How a configuration change ended."""

    APPLIED = "applied"  # committed on main after its health window
    ROLLED_BACK = "rolled_back"  # applied, then undone: a failed start, an escalation, a crash loop, a failed probe
    REJECTED = "rejected"  # refused before anything changed: the file, key and value are in the reason
    UNCHANGED = "unchanged"  # the same configuration as the running one


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    status: ChangeStatus
    commit: str | None  # the commit on main, or the recorded attempt
    changes: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "commit": self.commit, "changes": list(self.changes), "reason": self.reason}


def default_who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def parse(files: dict[str, bytes], origin: str | dict[str, str]) -> Config:
    """Validate a set of config files.

    Errors name where each file came from (``origin``: a directory, or a
    path per file name), never the scratch copy that was read.
    """
    origins = origin if isinstance(origin, dict) else {name: str(Path(origin) / name) for name in files}
    with tempfile.TemporaryDirectory(prefix="omega-config-") as scratch:
        for name, data in files.items():
            (Path(scratch) / name).write_bytes(data)
        try:
            config = load_config(scratch)
            check_sections(config)
            return config
        except ConfigError as exc:
            raise ConfigError(_relocated(exc.detail, scratch, origins), file=_relocated(exc.file or scratch, scratch, origins), key=exc.key) from None


def _relocated(text: str, scratch: str, origins: dict[str, str]) -> str:
    for name, where in origins.items():
        text = text.replace(str(Path(scratch) / name), where)
    return text.replace(scratch, "the new configuration")


def files_to_apply(path: Path, repo: StateRepository) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files to apply, and where each came from.

    A directory is a whole new configuration; one file replaces the file of
    the same name in the applied configuration and keeps the others.
    """
    if path.is_dir():
        found = sorted(path.glob("*.toml"))
        return {item.name: item.read_bytes() for item in found}, {item.name: str(item) for item in found}
    if not path.is_file():
        raise ConfigError("no such file or directory", file=str(path))
    if path.suffix != ".toml":
        raise ConfigError("expected a *.toml file or a directory of them", file=str(path))
    head = repo.head()
    files = repo.files(head) if head else {}
    origins = {name: f"{name} (applied, {head[:12]})" for name in files} if head else {}
    return {**files, path.name: path.read_bytes()}, {**origins, path.name: str(path)}


class Reloader:
    def __init__(self, runtime: Runtime, repo: StateRepository, settings: ReloadSettings, who: str = "") -> None:
        self.runtime = runtime
        self.repo = repo
        self.settings = settings
        self.who = who or default_who()

    def apply(self, files: dict[str, bytes], why: str = "", origin: str | dict[str, str] = "config") -> ChangeOutcome:
        """Apply ``files`` (name -> TOML bytes); ``origin`` says where they came from, for errors."""
        return self._change(files, why, origin, "applied")

    def rollback(self, rev: str | None = None, why: str = "") -> ChangeOutcome:
        """Return to ``rev`` (default: the commit before HEAD) through the same path as apply."""
        target = self.repo.resolve(rev or "HEAD~1")
        return self._change(self.repo.files(target), why or f"rollback to {target[:12]}", f"commit {target[:12]}", "rollback", target)

    def recover(self) -> str | None:
        """Repair after a writer that was killed part way; what was done, if anything."""
        with self.repo.writing(self.settings.lock_timeout):
            return self._repair_interrupted()

    def _change(self, files: dict[str, bytes], why: str, source: str | dict[str, str], kind: str, rev: str = "") -> ChangeOutcome:
        with self.repo.writing(self.settings.lock_timeout):
            self._require_head()
            self._repair_interrupted()
            try:
                config = self._validated(files, source)
            except ConfigError as exc:
                return self._failed(ChangeStatus.REJECTED, files, why, (), str(exc))
            tree = config.require_tree()
            changes = tuple(str(change) for change in diff_trees(self.runtime.current_spec(), tree, self.runtime.root_id))
            if not changes and files == self.repo.files():
                return ChangeOutcome(ChangeStatus.UNCHANGED, self.repo.head())
            self.repo.mark_pending({"why": why, "kind": kind})
            failure = self._put_in_place(tree) if changes else None
            if failure is not None:
                restored = self._restore_last_good()
                return self._failed(ChangeStatus.ROLLED_BACK, files, why, changes, failure + restored)
            sha = self.repo.commit(files, Entry(kind, self.who, why, changes, rev))
            self.repo.clear_pending()
            self._publish("config.applied", sha, changes, "")
            return ChangeOutcome(ChangeStatus.APPLIED, sha, changes)

    def _validated(self, files: dict[str, bytes], source: str | dict[str, str]) -> Config:
        config = parse(files, source)
        if config.tree is None:
            raise ConfigError("no [tree] table in any file; a running system needs one", key="tree")
        if config.root_id != self.runtime.root_id:
            tree_file = Path(config.sources["tree"]).name
            where = source.get(tree_file, tree_file) if isinstance(source, dict) else str(Path(source) / tree_file)
            raise ConfigError(
                f"the root id cannot change on a running system (running: {self.runtime.root_id!r}); restart it instead",
                file=where, key="tree.id",
            )  # fmt: skip
        return config

    def _put_in_place(self, tree: SupervisorSpec) -> str | None:
        result = self.runtime.reconfigure(tree)
        if not result.ok:
            return f"apply failed: {result.error}"
        return health.watch(self.runtime, tree, self.settings)

    def _restore_last_good(self) -> str:
        """Bring the running tree back to HEAD; a note for the reason when that could not be done."""
        ended = "; the system has ended: `python run.py start` brings it back on the last good commit"
        if self.runtime.terminated():
            return ended
        result = self.runtime.reconfigure(self._head_tree())
        if result.ok:
            return ""
        if self.runtime.terminated():  # the change's crashes escalated to the top meanwhile
            return ended
        raise StateError(f"rollback to {self.repo.head()} did not complete: {result.error}; restart the system")

    def _require_head(self) -> str:
        head = self.repo.head()
        if head is None:
            raise StateError(f"{self.repo.path} has no commit yet; start the system with `python run.py start`")
        return head

    def _head_tree(self) -> SupervisorSpec:
        head = self._require_head()
        return parse(self.repo.files(head), f"commit {head[:12]}").require_tree()

    def _repair_interrupted(self) -> str | None:
        pending = self.repo.pending()
        if pending is None:
            return None
        # We hold the writer lock, so the writer that left this marker is gone.
        note = f"an earlier change ({pending.get('why') or pending.get('kind', '?')}) by process {pending.get('pid')} was interrupted"
        if not self.runtime.terminated() and self.runtime.current_spec() != self._head_tree():
            self._restore_last_good()
            note += "; the running tree is back on the last good commit"
        self.repo.record_attempt(self.repo.files(), Entry("interrupted", self.who, str(pending.get("why", "")), reason=note))
        self.repo.clear_pending()
        return note

    def _failed(self, status: ChangeStatus, files: dict[str, bytes], why: str, changes: tuple[str, ...], reason: str) -> ChangeOutcome:
        sha = self.repo.record_attempt(files, Entry(status, self.who, why, changes, reason=reason))
        self.repo.clear_pending()
        self._publish(f"config.{status}", sha, changes, reason)
        return ChangeOutcome(status, sha, changes, reason)

    def _publish(self, subject: str, sha: str, changes: tuple[str, ...], reason: str) -> None:
        try:
            self.runtime.publish(subject, {"commit": sha, "who": self.who, "changes": list(changes), "reason": reason, "pid": os.getpid()})
        except OmegaError:
            pass  # events are at-most-once; the repository holds the record


def boot_commit(repo: StateRepository, config_dir: Path, who: str = "") -> tuple[str, list[str]]:
    """The commit a starting system boots from, and notes for the operator.

    The first start imports ``config_dir`` as the initial commit. Later starts
    boot from HEAD, the last good configuration; a change that a killed
    process left half-applied is void, since the tree now starts from HEAD.
    """
    notes = []
    with repo.writing():
        head = repo.head()
        local = {item.name: item.read_bytes() for item in sorted(config_dir.glob("*.toml"))}
        if head is None:
            parse(local, str(config_dir))
            head = repo.commit(local, Entry("initial", who or default_who(), f"imported from {config_dir}"))
        elif local != repo.files(head):
            notes.append(f"{config_dir} differs from the applied configuration ({head[:12]}); "
                         f"`python run.py config apply {config_dir}` applies it")  # fmt: skip
        pending = repo.pending()
        if pending is not None:
            reason = f"process {pending.get('pid')} was changing the system when it stopped; it starts on {head[:12]}"
            repo.record_attempt(repo.files(head), Entry("interrupted", who or default_who(), str(pending.get("why", "")), reason=reason))
            repo.clear_pending()
            notes.append(reason)
    return head, notes
