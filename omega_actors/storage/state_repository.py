"""The state repository: a git repository that holds the applied configuration.

::

    repo = StateRepository(Path(".omega/state"))
    with repo.writing():                       # one writer at a time, across processes
        sha = repo.commit({"tree.toml": b"..."}, Entry("applied", who="ana@tv1", why="more workers"))
    repo.files()                               # {"tree.toml": b"..."} at HEAD
    repo.history()                             # commits and failed attempts, newest first

Layout: the configuration lives under ``config/`` in the work tree, one file
per ``*.toml`` file of the applied directory; later issues add their own
folders (learned patterns, skills). Branch ``main`` holds exactly one commit
per applied change or rollback. An attempt that was rejected or rolled back
is kept as a commit object outside ``main``, under
``refs/omega/attempts/<n>``, so ``git log`` stays the history of what ran
and nothing an operator tried is lost.

Every commit message is structured: a subject, the change summary, then
trailers ``Omega-Outcome``, ``Omega-Who`` and ``Omega-Why``.

Crash safety. Git moves a ref by renaming a lock file over it, so a commit
either happened or did not. A writer killed part way can leave git's lock
files and a dirty work tree behind; the next writer holds the repository's
own lock (``flock``, released by the kernel when its holder dies), so any
git lock file it finds is stale: it removes them and resets the work tree
to ``HEAD`` before it writes. A *pending* marker says that a writer was
changing the running system; the next writer finds it and repairs the
running tree first (see :mod:`omega_actors.reload`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from ..errors import BranchMoved, StateError

CONFIG_DIR = "config"
BRANCH = "main"
ATTEMPTS = "refs/omega/attempts"
OUTCOMES = ("applied", "rollback", "initial", "rejected", "rolled_back", "interrupted")
_MUTEX = "omega-writer.mutex"
_PENDING = "omega-pending.json"
_TRAILER = re.compile(r"^Omega-(Outcome|Who|Why|Rev|Reason): (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Entry:
    """What one commit records: the outcome, who or what made it, why, and what changed."""

    outcome: str
    who: str
    why: str
    changes: tuple[str, ...] = ()
    rev: str = ""  # for a rollback: the revision returned to
    reason: str = ""  # for a failed attempt: why it failed

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}; got {self.outcome!r}")

    def message(self) -> str:
        subject = {
            "applied": "apply", "rollback": f"rollback to {self.rev[:12]}", "initial": "initial configuration",
            "rejected": "rejected", "rolled_back": "rolled back", "interrupted": "interrupted",
        }[self.outcome]  # fmt: skip
        why = " ".join(self.why.split()) or "-"
        body = "\n".join(self.changes) or "no change to the supervision tree"
        trailers = [f"Omega-Outcome: {self.outcome}", f"Omega-Who: {' '.join(self.who.split()) or '-'}", f"Omega-Why: {why}"]
        if self.rev:
            trailers.append(f"Omega-Rev: {self.rev}")
        if self.reason:
            trailers.append(f"Omega-Reason: {' '.join(self.reason.split())}")
        return f"{subject}: {why}"[:200] + "\n\n" + body + "\n\n" + "\n".join(trailers) + "\n"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    sha: str
    time: float
    outcome: str
    who: str
    why: str
    changes: tuple[str, ...]
    on_main: bool  # False: a failed attempt, kept outside main
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.sha, "time": self.time, "outcome": self.outcome, "who": self.who, "why": self.why,
            "reason": self.reason, "changes": list(self.changes), "on_main": self.on_main,
        }  # fmt: skip


class StateRepository:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.repo = git.Repo(self.path) if (self.path / ".git").exists() else self._create()
        except git.GitError as exc:
            raise StateError(f"{self.path}: not a usable git repository: {exc}") from None
        self._git_dir = Path(self.repo.git_dir)
        self._held = False

    def close(self) -> None:
        """Stop the git helper processes gitpython keeps for reading objects."""
        self.repo.close()

    def __enter__(self) -> StateRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> git.Repo:
        repo = git.Repo.init(self.path, initial_branch=BRANCH)
        with repo.config_writer() as config:  # commits must not depend on the machine's git identity
            config.set_value("user", "name", "omega_actors")
            config.set_value("user", "email", "omega@localhost")
            config.set_value("gc", "auto", "0")
        return repo

    # Writers, one at a time.

    @contextmanager
    def writing(self, timeout: float = 60.0) -> Iterator[StateRepository]:
        """Hold the repository's lock, after cleaning up what a killed writer left."""
        with (self._git_dir / _MUTEX).open("a+") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StateError(f"{self.path}: another writer has held the state repository for {timeout} s") from None
                    time.sleep(0.05)
            try:
                self._held = True
                self._recover()
                yield self
            finally:
                self._held = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _recover(self) -> None:
        for stale in self._git_dir.rglob("*.lock"):
            stale.unlink(missing_ok=True)  # we hold the writer lock: no live git process owns it
        if self.head() is not None:
            self.repo.git.reset("--hard", "--quiet", "HEAD")
        self.repo.git.clean("-fdxq", "--", CONFIG_DIR)

    def _require_lock(self) -> None:
        if not self._held:
            raise StateError("write to the state repository only inside `with repo.writing():`")

    # Reading.

    def head(self) -> str | None:
        try:
            return self.repo.head.commit.hexsha
        except ValueError:  # no commit yet
            return None

    def resolve(self, rev: str) -> str:
        try:
            return self.repo.commit(rev).hexsha
        except (git.BadName, ValueError, git.GitCommandError):
            raise StateError(f"{self.path}: unknown revision {rev!r} (see `python run.py config history`)") from None

    def files(self, rev: str = "HEAD") -> dict[str, bytes]:
        """The configuration files (name -> bytes) at ``rev``."""
        commit = self.repo.commit(self.resolve(rev))
        try:
            folder = commit.tree / CONFIG_DIR
        except KeyError:
            return {}
        return {blob.name: blob.data_stream.read() for blob in folder.blobs}

    def history(self) -> list[HistoryItem]:
        """Applied commits and failed attempts, newest first.

        An attempt's parent is the commit that was running when it failed, so
        each attempt is listed just above that commit.
        """
        attempts: dict[str | None, list[HistoryItem]] = {}
        for ref in sorted((r for r in self.repo.refs if r.path.startswith(ATTEMPTS + "/")), key=lambda r: r.path, reverse=True):
            parent = ref.commit.parents[0].hexsha if ref.commit.parents else None
            attempts.setdefault(parent, []).append(_item(ref.commit, False))
        items: list[HistoryItem] = []
        if self.head() is not None:
            for commit in self.repo.iter_commits(BRANCH):
                items += attempts.pop(commit.hexsha, [])
                items.append(_item(commit, True))
        for rest in attempts.values():
            items += rest
        return items

    # Writing.

    def commit(self, files: dict[str, bytes], entry: Entry) -> str:
        """Make ``files`` the configuration on main, as one commit; returns its sha."""
        self._require_lock()
        for name in files:
            _safe_name(name)
        folder = self.path / CONFIG_DIR
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, data in files.items():
            (folder / _safe_name(name)).write_bytes(data)
        self.repo.git.add("--all", "--", CONFIG_DIR)
        self.repo.git.commit("--quiet", "--allow-empty", "--no-verify", "-m", entry.message())
        return self.repo.head.commit.hexsha

    def record_attempt(self, files: dict[str, bytes], entry: Entry) -> str:
        """Keep a failed attempt outside main, with HEAD as its parent; returns its sha."""
        self._require_lock()
        with tempfile.TemporaryDirectory(prefix="omega-attempt-") as scratch:
            folder = Path(scratch) / CONFIG_DIR
            folder.mkdir()
            for name, data in files.items():
                (folder / _safe_name(name)).write_bytes(data)
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self.repo.git.execute(["git", "--work-tree", scratch, "add", "--all", "--", CONFIG_DIR], env=env)
            tree = self.repo.git.execute(["git", "write-tree"], env=env)
        parents = ["-p", self.head()] if self.head() else []
        sha = self.repo.git.commit_tree(tree, *parents, "-m", entry.message())
        count = sum(1 for ref in self.repo.refs if ref.path.startswith(ATTEMPTS + "/"))
        self.repo.git.update_ref(f"{ATTEMPTS}/{count + 1:06d}", sha)
        return str(sha)

    # Side branches: learned state versioned beside the configuration, never part of it.

    def commit_branch(self, branch: str, files: dict[str, bytes], message: str, *, expected: str | None | bool = False) -> str:
        """Make ``files`` (flat names) the whole tree of ``refs/heads/<branch>``, as one commit.

        ``main``, its work tree and the configuration history are untouched:
        other layers (the router's learning) keep their own line of history in
        the same repository, readable with ``git log <branch>``.

        With ``expected`` (a commit, or None for "no commit yet"), the commit is
        made only if the branch is still there: a writer that loaded an older
        state gets a StateError instead of overwriting another writer's work.
        """
        self._require_lock()
        ref = _side_ref(branch)
        if expected is not False and self._side_head(ref) != expected:
            raise BranchMoved(f"{self.path}: branch {branch} moved to {self._side_head(ref)} since {expected} was read")
        for name in files:
            _plain_name(name)
        with tempfile.TemporaryDirectory(prefix="omega-side-") as scratch:
            for name, data in files.items():
                (Path(scratch) / name).write_bytes(data)
            env = {"GIT_INDEX_FILE": str(Path(scratch) / ".omega-index")}
            names = sorted(files)
            if names:
                self.repo.git.execute(["git", "--work-tree", scratch, "add", "--", *names], env=env)
            tree = self.repo.git.execute(["git", "write-tree"], env=env)  # an empty index writes the empty tree
        parent = self._side_head(ref)
        sha = self.repo.git.commit_tree(tree, *(["-p", parent] if parent else []), "-m", message)
        self.repo.git.update_ref(ref, sha)
        return str(sha)

    def branch_files(self, branch: str, rev: str | None = None) -> dict[str, bytes]:
        """The files at the head of ``branch`` (or at ``rev`` on it); empty when it has no commit yet."""
        head = rev or self._side_head(_side_ref(branch))
        if head is None:
            return {}
        return {blob.name: blob.data_stream.read() for blob in self.repo.commit(head).tree.blobs}

    def branch_log(self, branch: str, limit: int = 20) -> list[tuple[str, float, str]]:
        """(sha, time, subject) of the last ``limit`` commits of ``branch``, newest first."""
        head = self._side_head(_side_ref(branch))
        if head is None:
            return []
        return [(c.hexsha, float(c.committed_date), str(c.summary)) for c in self.repo.iter_commits(head, max_count=limit)]

    def _side_head(self, ref: str) -> str | None:
        try:
            return str(self.repo.git.rev_parse("--verify", "--quiet", ref + "^{commit}"))
        except git.GitCommandError:
            return None

    # The pending marker: a writer is changing the running system.

    def mark_pending(self, record: dict[str, Any]) -> None:
        self._require_lock()
        target = self._git_dir / _PENDING
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json.dumps({**record, "pid": os.getpid(), "head": self.head()}))
        os.replace(scratch, target)  # a marker is whole or absent

    def pending(self) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads((self._git_dir / _PENDING).read_text())
            return record
        except (FileNotFoundError, ValueError):
            return None

    def clear_pending(self) -> None:
        (self._git_dir / _PENDING).unlink(missing_ok=True)


def _safe_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+\.toml", name) or name.startswith("."):
        raise StateError(f"config file names must be plain *.toml names; got {name!r}")
    return name


def _side_ref(branch: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,40}", branch) or branch == BRANCH:
        raise StateError(f"a side branch is a short lower-case name other than {BRANCH!r}; got {branch!r}")
    return f"refs/heads/{branch}"


def _plain_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise StateError(f"side-branch files have plain names (letters, digits, _ . -); got {name!r}")
    return name


def _item(commit: git.Commit, on_main: bool) -> HistoryItem:
    message = str(commit.message)
    trailers = dict(_TRAILER.findall(message))
    body = message.split("\n\n")
    changes = tuple(line for line in body[1].splitlines() if line[:2] in ("+ ", "- ", "~ ", "= ", "^ ", "> ")) if len(body) > 2 else ()
    return HistoryItem(
        sha=commit.hexsha, time=float(commit.committed_date), outcome=trailers.get("Outcome", "unknown"),
        who=trailers.get("Who", ""), why=trailers.get("Why", ""), changes=changes, on_main=on_main,
        reason=trailers.get("Reason", ""),
    )  # fmt: skip
