"""A running system on the simple base with a state repository, as `run.py start` sets one up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omega_actors.reload import Reloader, ReloadSettings
from omega_actors.reload.apply import boot_commit, parse
from omega_actors.runtime import Runtime
from omega_actors.storage.state_repository import StateRepository

WORKER = "tests.reload.actors:Worker"


def tree_toml(children: list[dict[str, object]], intensity: int = 5, extra: str = "") -> str:
    lines = ["[tree]", f"intensity = {intensity}", "period = 30", extra]
    for child in children:
        lines.append("[[tree.children]]")
        for key, value in child.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {_toml(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def worker(id: str, tag: str = "", **fields: object) -> dict[str, object]:
    args = {"tag": tag, **{k: fields.pop(k) for k in ("sick", "refuse") if k in fields}}
    return {"id": id, "start": WORKER, "args": args, **fields}


class System:
    def __init__(self, root: Path, runtime: Runtime, repo: StateRepository, settings: ReloadSettings) -> None:
        self.root, self.runtime, self.repo = root, runtime, repo
        self.reloader = Reloader(runtime, repo, settings, who="tester")

    def files(self, tree: str) -> dict[str, bytes]:
        """A new configuration: this tree, with the [system] and [reload] tables it started with."""
        return {**self.repo.files(), "tree.toml": tree.encode()}


SYSTEM = '[system]\nbase = "simple"\n\n[reload]\nhealth_window = 0.0\ncrash_limit = 1\n'


@pytest.fixture
def start_system(tmp_path: Path) -> Iterator[Callable[[str], System]]:
    started: list[Runtime] = []
    repos: list[StateRepository] = []

    def start(tree: str) -> System:
        config_dir = tmp_path / "config"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "system.toml").write_text(SYSTEM.replace('base = "simple"', f'base = "simple"\ndata_dir = "{tmp_path / "data"}"'))
        (config_dir / "tree.toml").write_text(tree)
        repo = StateRepository(tmp_path / "state")
        repos.append(repo)
        head, _ = boot_commit(repo, config_dir, "tester")
        config = parse(repo.files(head), "config")
        runtime = Runtime.start(config.require_tree(), config.system, config.root_id)
        started.append(runtime)
        return System(tmp_path, runtime, repo, ReloadSettings(health_window=0.0, crash_limit=1))

    yield start
    for runtime in started:
        runtime.shutdown()
    for repo in repos:
        repo.close()
