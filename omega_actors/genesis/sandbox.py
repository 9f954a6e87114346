"""A sandbox: one experiment's own files, scratch space and database, gone in one delete.

::

    sandboxes/
      .base/<tree>/          the base commit's files, exported once per tree, read-only, shared
      <experiment_id>/
        tree/                hardlinks into .base/<tree>: the experiment's repository files
        home/  tmp/  out/    HOME, TMPDIR, and what the command writes for the evaluator
        db.sqlite3           its own database (or a genesis_<id> PostgreSQL database)

Why hardlinks into a private export, not into the requester's work tree: a
sandbox is created in milliseconds by linking files instead of copying them,
and a link shares its inode, so a write in place through it would change
the other name too. The requester's files are therefore never linked; the
shared export belongs to Genesis, and its files are read-only, so a command
that opens one for writing gets ``EACCES`` (it may still create and replace
files: replacing breaks the link). Genesis' own writes into a tree (the
patch, config files) go to a temporary file and then replace the name.
A stat manifest of the export (inode, size, mtime, mode) is checked after
each experiment; an export that changed anyway is discarded, never reused.

A git worktree was measured and refused for this: checking out the
repository's 240 files (with a 23 MB model) took 180 ms, five times a plain
copy (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import GenesisError
from .request import relative_path

BASE_DIR = ".base"
_ID = re.compile(r"g[0-9a-f]{12}")
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
FOREIGN_OWNER = 65534  # nobody: with the command's capabilities dropped, root cannot chmod or write what it does not own
_SOURCES = re.compile(r"^(?:rename|copy) (?:from|old) (.+)$", re.MULTILINE)


def new_experiment_id() -> str:
    return "g" + uuid.uuid4().hex[:12]


def check_experiment_id(experiment_id: str) -> str:
    if not isinstance(experiment_id, str) or not _ID.fullmatch(experiment_id):
        raise GenesisError(f"expected an experiment id like g0123456789ab; got {experiment_id!r}", key="experiment_id")
    return experiment_id


def resolve_base(repository: Path, base: str) -> tuple[str, str]:
    """(commit, tree) of ``base`` in ``repository``; a GenesisError when either cannot be found."""
    if not Path(repository).is_dir():
        raise GenesisError(f"{repository}: no such directory", key="change.repository")
    result = subprocess.run(["git", "rev-parse", f"{base}^{{commit}}", f"{base}^{{tree}}", "--"],
                            cwd=repository, capture_output=True, env=_git_env(Path(repository)), timeout=60)  # fmt: skip
    if result.returncode != 0:
        where = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=repository, capture_output=True, env=_git_env(Path(repository)))
        if where.returncode != 0:
            raise GenesisError(f"{repository}: not a git repository", key="change.repository")
        raise GenesisError(f"{base!r} is not a revision of {repository}", key="change.base")
    commit, tree = result.stdout.decode().split()[:2]
    return commit, tree


def _git_env(repository: Path) -> dict[str, str]:
    # The ceiling keeps git from walking up into an enclosing repository when this one has no .git.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
            "GIT_CEILING_DIRECTORIES": str(repository.resolve().parent), "HOME": os.environ.get("HOME", "/")}


@dataclass(frozen=True, slots=True)
class Sandbox:
    root: Path  # sandboxes/<experiment_id>
    experiment_id: str
    repository: Path
    commit: str
    tree_id: str

    @property
    def tree(self) -> Path:
        return self.root / "tree"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def database(self) -> Path:
        return self.root / "db.sqlite3"

    def write(self, relative: str, data: bytes) -> None:
        """Write a file of the tree: a temporary file, then replace, so a hardlink is broken, never written through."""
        target = self.inside(relative)
        executable = target.is_file() and bool(target.stat().st_mode & stat.S_IXUSR)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=target.parent, prefix=".genesis-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.chmod(scratch, 0o755 if executable else 0o644)
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise

    def inside(self, relative: str) -> Path:
        """The path of ``relative`` in the tree; refused if it climbs out or passes through a symlink."""
        target = self.tree.joinpath(*relative_path(relative).parts)
        parent = target.parent.resolve()
        if parent != self.tree.resolve() and self.tree.resolve() not in parent.parents:
            raise GenesisError(f"{relative!r} leads outside the sandbox", key="change")
        return target

    def apply_patch(self, diff: str, protected: tuple[str, ...]) -> tuple[str, ...]:
        """Apply a unified diff to the tree; the files it touches. Refused: a patch that does not apply or touches a protected path."""
        touched = check_protected(patch_files(diff, self.tree), protected)
        before = _protected_files(self.tree, protected)
        for name in touched:  # break the links first: git apply may write in place
            path = self.inside(name)
            if path.is_file() and not path.is_symlink():
                self.write(name, path.read_bytes())
        _git_apply(diff, self.tree, check=False)
        if _protected_files(self.tree, protected) != before:  # whatever the diff's headers said
            raise GenesisError(f"the patch changes files under the protected paths {', '.join(protected)}", key="change.diff")
        return touched

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def patch_files(diff: str, where: Path) -> tuple[str, ...]:
    """The paths a diff touches, checked to apply to ``where``; a GenesisError says why not."""
    _git_apply(diff, where, check=True)
    tokens = iter(_run_git(["apply", "--numstat", "-z", "-"], where, diff).split("\0"))
    names = []
    for token in tokens:
        fields = token.split("\t")
        if len(fields) != 3:
            continue
        # "added\tdeleted\tpath", or, for a rename, "added\tdeleted\t" then the old and the new path
        names.extend([fields[2]] if fields[2] else [next(tokens, ""), next(tokens, "")])
    # --numstat names only the new path of a rename or copy; the old one is touched too (a rename deletes it).
    names += [_unquoted(match.group(1)) for match in _SOURCES.finditer(diff)]
    for name in names:
        relative_path(name)
    return tuple(dict.fromkeys(names))


def _unquoted(name: str) -> str:
    """A path as git writes it in a diff header: C-quoted when it holds unusual bytes."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return codecs.escape_decode(name[1:-1].encode())[0].decode(errors="replace")
    return name


def _protected_files(tree: Path, protected: tuple[str, ...]) -> dict[str, int]:
    """Inode of every file under a protected path: a patch that touched one replaced it (links are broken first)."""
    found = {}
    for prefix in protected:
        base = tree / prefix.rstrip("/")
        paths = [base] if base.is_file() else [p for p in base.rglob("*") if not p.is_dir()] if base.is_dir() else []
        found.update({str(p.relative_to(tree)): os.lstat(p).st_ino for p in paths})
    return found


def check_protected(touched: tuple[str, ...], protected: tuple[str, ...]) -> tuple[str, ...]:
    """``touched``, unless a path is under a protected prefix: the tests that grade a patch are not its to change."""
    for name in touched:
        for prefix in protected:
            if name == prefix.rstrip("/") or name.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                raise GenesisError(f"the patch changes {name}, under the protected path {prefix!r}: the evaluator's "
                                   "tests are not the experiment's to change", key="change.diff")  # fmt: skip
    return touched


def _git_apply(diff: str, where: Path, check: bool) -> None:
    args = ["apply", "--check", "-"] if check else ["apply", "-"]
    _run_git(args, where, diff)


def _run_git(args: list[str], where: Path, stdin: str) -> str:
    # The ceiling stops git from finding an enclosing repository (sandboxes/ may sit inside one), so
    # paths are taken relative to the tree, as plain `patch` would.
    result = subprocess.run(["git", *args], cwd=where, input=stdin.encode(), capture_output=True, env=_git_env(where), timeout=60)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise GenesisError(f"the patch does not apply: {'; '.join(reason[:3]) or 'git apply failed'}", key="change.diff")
    return result.stdout.decode(errors="replace")


class Sandboxes:
    """Creates and removes sandboxes under ``root`` (the repository's ``sandboxes/`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / BASE_DIR).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the exports and their manifests: not a command's to rename or rewrite either
            os.chown(self.root / BASE_DIR, FOREIGN_OWNER, FOREIGN_OWNER)

    def create(self, experiment_id: str, repository: Path, base: str = "HEAD") -> Sandbox:
        check_experiment_id(experiment_id)
        commit, tree_id = resolve_base(repository, base)
        export, scan = self._export(repository, tree_id)
        box = Sandbox(self.root / experiment_id, experiment_id, Path(repository), commit, tree_id)
        if box.root.exists():
            raise GenesisError(f"{box.root} already exists", key="experiment_id")
        box.root.mkdir()
        try:
            _link_tree(export, scan, box.tree)
            for folder in (box.home, box.tmp, box.out):
                folder.mkdir()
        except BaseException:
            box.remove()
            raise
        return box

    def export(self, repository: Path, tree_id: str) -> Path:
        """The read-only export of ``tree_id``, made once; a damaged one is replaced."""
        return self._export(repository, tree_id)[0]

    def _export(self, repository: Path, tree_id: str) -> tuple[Path, _Scan]:
        with self._locked():
            target = self.root / BASE_DIR / tree_id
            scan = self._verified(tree_id)
            if scan is not None:
                return target, scan
            self._discard(tree_id)
            scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{tree_id[:12]}-"))
            try:
                _checkout(repository, tree_id, scratch)
                _freeze(scratch)
                scan = _scan(scratch)
                manifest = {"files": scan.files, "digests": _digests(scratch, scan)}
            except BaseException:
                _remove_export(scratch)
                raise
            _write_protected(self.root / BASE_DIR / f"{tree_id}.json", json.dumps(manifest).encode())
            os.replace(scratch, target)  # inodes and stats survive the rename: the manifest holds
            return target, scan

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time makes, checks or discards exports (the service admits while experiments run)."""
        with open(self.root / BASE_DIR / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def intact(self, tree_id: str) -> bool:
        """Whether the export still matches its manifest (no file written, replaced, added or made writable)."""
        with self._locked():
            return self._verified(tree_id) is not None

    def verify(self, tree_id: str) -> bool:
        """:meth:`intact`, and every file's content too: a same-uid command can restore a file's mtime, not its bytes."""
        with self._locked():
            return self._verified_contents(tree_id)

    def _verified_contents(self, tree_id: str) -> bool:
        scan = self._verified(tree_id)
        if scan is None:
            return False
        try:
            digests = json.loads((self.root / BASE_DIR / f"{tree_id}.json").read_text())["digests"]
            return bool(_digests(self.root / BASE_DIR / tree_id, scan) == digests)
        except (OSError, ValueError, KeyError):
            return False

    def _verified(self, tree_id: str) -> _Scan | None:
        target = self.root / BASE_DIR / tree_id
        try:
            manifest = json.loads((self.root / BASE_DIR / f"{tree_id}.json").read_text())
            scan = _scan(target)
        except (OSError, ValueError):
            return None
        return scan if isinstance(manifest, dict) and scan.files == manifest.get("files") else None

    def discard(self, tree_id: str) -> None:
        with self._locked():
            self._discard(tree_id)

    def _discard(self, tree_id: str) -> None:
        _remove_export(self.root / BASE_DIR / tree_id)
        (self.root / BASE_DIR / f"{tree_id}.json").unlink(missing_ok=True)

    def existing(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _ID.fullmatch(p.name))


def _checkout(repository: Path, tree_id: str, into: Path) -> None:
    index = into.parent / f"{into.name}.index"
    env = {**_git_env(Path(repository)), "GIT_INDEX_FILE": str(index)}
    try:
        for args in (["read-tree", tree_id], ["checkout-index", "-a", f"--prefix={into}/"]):
            result = subprocess.run(["git", *args], cwd=repository, capture_output=True, env=env, timeout=600)
            if result.returncode != 0:
                raise GenesisError(f"git {args[0]} of {tree_id[:12]} in {repository}: {result.stderr.decode(errors='replace')[:300]}")
    finally:
        index.unlink(missing_ok=True)


def _freeze(folder: Path) -> None:
    """Files read-only, directories closed; owned by nobody when we are root (a command holds no capability to undo it)."""
    owner = FOREIGN_OWNER if os.geteuid() == 0 else None
    for directory, folders, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, READ_ONLY | (os.stat(path).st_mode & 0o111))
            if owner is not None:
                os.chown(path, owner, owner, follow_symlinks=False)
        for name in folders:
            _close(os.path.join(directory, name), owner)
    _close(str(folder), owner)


def _close(directory: str, owner: int | None) -> None:
    os.chmod(directory, 0o555)
    if owner is not None:
        os.chown(directory, owner, owner)


def _write_protected(path: Path, data: bytes) -> None:
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_bytes(data)
    os.chmod(scratch, READ_ONLY)
    if os.geteuid() == 0:
        os.chown(scratch, FOREIGN_OWNER, FOREIGN_OWNER)
    os.replace(scratch, path)


def _remove_export(folder: Path) -> None:
    if folder.is_dir() and os.geteuid() != 0:  # our own read-only directories: open them to delete their entries
        for directory, _, _ in os.walk(folder):
            os.chmod(directory, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class _Scan:
    directories: list[str]  # relative, parents first
    files: dict[str, list[int]]  # relative path -> [inode, size, mtime_ns, mode]


def _scan(folder: Path) -> _Scan:
    """Every directory and file under ``folder``, with what a write, a chmod or a replacement would change."""
    directories: list[str] = []
    files: dict[str, list[int]] = {}
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(folder / relative if relative else folder) as entries:
            for entry in entries:
                name = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir(follow_symlinks=False):
                    directories.append(name)
                    pending.append(name)
                else:
                    info = entry.stat(follow_symlinks=False)
                    files[name] = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode]
    return _Scan(directories, files)


def _digests(folder: Path, scan: _Scan) -> dict[str, str]:
    found = {}
    for name, (_, _, _, mode) in scan.files.items():
        if stat.S_ISLNK(mode):
            found[name] = "link:" + os.readlink(folder / name)
            continue
        with open(folder / name, "rb") as stream:
            found[name] = hashlib.file_digest(stream, "blake2b").hexdigest()
    return found


def _link_tree(source: Path, scan: _Scan, target: Path) -> None:
    target.mkdir()
    for name in scan.directories:
        os.mkdir(target / name)
    for name, (_, _, _, mode) in scan.files.items():
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(source / name), target / name)
        else:
            os.link(source / name, target / name)
