"""Where the router's learning lives: branch ``router`` of the state repository.

Three JSON files, committed together, so ``git log router`` is the history of
what the router learned and ``git show router~3:compiled.json`` is what it
served three commits ago:

- ``learning.json``: per kind of task, its first choice and counters;
- ``compiled.json``: the compiled L2 handlers, each with its evidence;
- ``costs.json``: the cost ledger per layer.

Loading replays every compiled handler's evidence (see :mod:`.compiler`) and
drops, with a commit saying why, any handler that no longer validates.
A file that is not what this module wrote is an error naming the file and
the commit, never silently replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StateError
from ..storage.state_repository import StateRepository
from .compiler import Compiler
from .costs import Ledger
from .learning import Learner
from .routing import Router
from .settings import RouterSettings

BRANCH = "router"
FILES = ("learning.json", "compiled.json", "costs.json")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Learned:
    learner: Learner
    compiler: Compiler
    ledger: Ledger
    dropped: tuple[str, ...]   # handlers that failed validation on load
    commit: str | None


class RouterStore:
    def __init__(self, path: str | Path, *, lock_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    def load(self, settings: RouterSettings) -> Learned:
        with StateRepository(self.path) as repo:
            head = repo.branch_log(BRANCH, 1)
            commit = head[0][0] if head else None
            files = repo.branch_files(BRANCH, commit) if commit else {}  # the files of that very commit
        data = {name: _parse(name, files.get(name), commit) for name in FILES}
        where = f"{self.path} branch {BRANCH} at {commit}"
        learner = _read(where, "learning.json", lambda: Learner.from_dict(settings.learning, data["learning.json"]))
        compiler = _read(where, "compiled.json", lambda: Compiler.from_dict(settings.compile, data["compiled.json"]))
        ledger = _read(where, "costs.json", lambda: Ledger.from_dict(data["costs.json"]))
        dropped = tuple(compiler.revalidate())
        if dropped:
            commit = self.save(Router(settings, learner, compiler, ledger), "; ".join(dropped), expected=commit)
        return Learned(learner, compiler, ledger, dropped, commit)

    def save(self, router: Router, why: str, *, expected: str | None | bool = False) -> str:
        """Commit ``router``'s learning; with ``expected``, only on top of that commit (see commit_branch)."""
        files = {
            "learning.json": _dump(router.learner.to_dict()),
            "compiled.json": _dump(router.compiler.to_dict()),
            "costs.json": _dump(router.ledger.to_dict()),
        }
        subject = " ".join(why.split())[:180] or "routing statistics"
        with StateRepository(self.path) as repo, repo.writing(self.lock_timeout):
            return repo.commit_branch(BRANCH, files, f"router: {subject}\n\nOmega-Who: router\n", expected=expected)

    def history(self, limit: int = 20) -> list[tuple[str, float, str]]:
        with StateRepository(self.path) as repo:
            return repo.branch_log(BRANCH, limit)


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _read(where: str, name: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{where}: {name} is not learned state this version wrote ({exc!r})") from None


def _parse(name: str, raw: bytes | None, commit: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"branch {BRANCH} at {commit}: {name} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise StateError(f"branch {BRANCH} at {commit}: {name} must hold a JSON object; got {type(data).__name__}")
    return data
