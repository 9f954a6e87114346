"""Genesis fixtures: a real git project to experiment on, diffs against it, sandboxes, and PostgreSQL.

``project`` is a git repository on ``main`` with a tiny package and its pytest tests::

    calc/__init__.py        add, mul
    tests/test_calc.py      test_add, test_mul

Diffs are made by git itself from a private index (:func:`diff_of`), so the
project's work tree and index are never touched to write one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from omega_actors.genesis import ExperimentRequest, Sandboxes, parse_request
from tests.conftest import REQUIRE_SERVICES, require_service

POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
GIT_IDENTITY = ("-c", "user.name=genesis-tests", "-c", "user.email=genesis-tests@example.invalid")
PYTEST_COMMAND = ["{python}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml={junit}"]

CALC = '''\
def add(a, b):
    return a + b


def mul(a, b):
    return a * b
'''

TEST_CALC = '''\
from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
'''

# A minimal valid supervision tree and brain table, for a state repository.
TREE_TOML = '''\
[tree]
id = "app"
strategy = "one_for_one"
intensity = 3
period = 5

[[tree.children]]
id = "counter"
start = "omega_actors.actors.demo:Counter"
name = "counter"
'''

BRAIN_TOML = '''\
[brain]
similarity_weight = 0.3
skill_weight = 0.35
'''


# ---------------------------------------------------------------- git helpers


def git(repository: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
    """Run git in ``repository``; its stdout. A failure fails the test with git's message."""
    result = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repository, capture_output=True, text=True,
                            input=stdin, env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {repository}: {result.stderr.strip()}")
    return result.stdout


def init_repository(path: Path, files: Mapping[str, str], message: str = "initial") -> Path:
    """A new git repository at ``path`` on ``main`` holding ``files`` in one commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    commit_files(path, files, message)
    return path


def commit_files(repository: Path, files: Mapping[str, str], message: str, symlinks: Mapping[str, str] | None = None) -> str:
    """Write ``files`` (and ``symlinks``: name -> target) into the work tree, commit them all; the new commit."""
    for name, text in files.items():
        target = repository / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for name, pointing_to in (symlinks or {}).items():
        link = repository / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(pointing_to)
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", message)
    return head(repository)


def head(repository: Path) -> str:
    return git(repository, "rev-parse", "HEAD").strip()


def branches(repository: Path) -> list[str]:
    return git(repository, "branch", "--format=%(refname:short)").split()


def diff_of(repository: Path, changes: Mapping[str, str | None], base: str = "HEAD") -> str:
    """A unified diff from ``base`` to ``base`` with ``changes`` (path -> new text, or None to delete).

    Made from a private index file: the repository's work tree, index and refs stay as they are.
    """
    with tempfile.TemporaryDirectory(prefix="genesis-diff-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git(repository, "read-tree", base, env=env)
        for name, text in changes.items():
            if text is None:
                git(repository, "update-index", "--force-remove", name, env=env)
                continue
            blob = git(repository, "hash-object", "-w", "--stdin", stdin=text, env=env).strip()
            git(repository, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=env)
        diff = git(repository, "diff", "--cached", "--no-color", "--no-ext-diff", base, env=env)
    assert diff, f"the changes {list(changes)} make no diff against {base}"
    return diff


def new_file_diff(name: str, text: str) -> str:
    """A hand-written diff creating ``name`` (any path, even one git would never produce, like ``../x``)."""
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n{body}"


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``folder`` (except under ``skip``): relative path -> (mode, size, contents or link target)."""
    found: dict[str, tuple[int, int, bytes]] = {}
    for directory, folders, files in os.walk(folder):
        if skip is not None:
            folders[:] = [f for f in folders if Path(directory, f) != skip]
        for name in files + [f for f in folders if Path(directory, f).is_symlink()]:
            path = Path(directory, name)
            info = path.lstat()
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            found[str(path.relative_to(folder))] = (info.st_mode, info.st_size, data)
    return found


# ---------------------------------------------------------------- requests


def request_for(change: Mapping[str, Any], **validation: Any) -> ExperimentRequest:
    """A checked experiment request for ``change``; ``validation`` overrides the defaults (pytest, tests_passed)."""
    table = {"command": list(PYTEST_COMMAND), "metrics": ["tests_passed"], "targets": ["tests_passed"],
             "timeout": 300, "cpu_seconds": 300, "memory_mb": 2048, **validation}  # fmt: skip
    return parse_request({
        "experiment_type": "experimental", "description": "a change tried by the genesis tests", "risk_level": "low",
        "estimated_impact": "more passing tests", "rollback_plan": "delete the sandbox",
        "change": dict(change), "validation": table,
    })  # fmt: skip


def patch_request(repository: Path, diff: str, **validation: Any) -> ExperimentRequest:
    return request_for({"kind": "patch", "repository": str(repository), "diff": diff}, **validation)


def config_request(repository: Path, files: Mapping[str, str], **validation: Any) -> ExperimentRequest:
    validation.setdefault("command", ["{python}", "-c", "pass"])
    return request_for({"kind": "config", "repository": str(repository), "files": dict(files)}, **validation)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository (``main``, one commit) with ``calc/`` and its passing pytest tests."""
    return init_repository(tmp_path / "project", {"calc/__init__.py": CALC, "tests/test_calc.py": TEST_CALC})


@pytest.fixture
def state_repository(tmp_path: Path) -> Path:
    """A small state repository: ``config/tree.toml`` (a minimal valid tree) and ``config/brain.toml``."""
    return init_repository(tmp_path / "state", {"config/tree.toml": TREE_TOML, "config/brain.toml": BRAIN_TOML})


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    """Sandboxes under the test's own directory (never the repository's sandboxes/); every one removed after."""
    boxes = Sandboxes(tmp_path / "sandboxes")
    yield boxes
    for experiment_id in boxes.existing():
        shutil.rmtree(boxes.root / experiment_id, ignore_errors=True)


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL server that accepts connections; skipped without one, failed if OMEGA_REQUIRE_SERVICES=1."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        message = f"PostgreSQL at {POSTGRES_URL} refuses connections: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}, and OMEGA_REQUIRE_SERVICES=1 requires it")
        pytest.skip(message)
    return POSTGRES_URL
