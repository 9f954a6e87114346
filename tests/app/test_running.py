"""A running system as other processes find it: the run record, and booting from the state repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omega_actors.app.running import RunningSystem, boot, read_run_record, run_file
from omega_actors.errors import ConfigError, OmegaError
from omega_actors.runtime import SystemConfig
from omega_actors.storage.state_repository import StateRepository

TREE = '[tree]\n[[tree.children]]\nid = "counter"\nstart = "omega_actors.actors.demo:Counter"\n'


def config_dir(tmp_path: Path, tree: str = TREE) -> Path:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "system.toml").write_text(f'[system]\nbase = "simple"\ndata_dir = "{tmp_path / "data"}"\n')
    (config / "tree.toml").write_text(tree)
    return config


def test_without_a_run_record_there_is_no_running_system_and_the_error_says_where_it_looked(tmp_path: Path) -> None:
    system = SystemConfig(base="simple", data_dir=str(tmp_path))
    with pytest.raises(OmegaError, match=rf"no running system: {run_file(system)} does not exist"):
        read_run_record(system)


def test_a_record_of_a_process_that_has_ended_is_removed_and_the_error_says_so(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    system = SystemConfig(base="simple", data_dir=str(tmp_path))
    run_file(system).parent.mkdir(parents=True)
    run_file(system).write_text(json.dumps({"pid": int(ended.stdout), "admin_port": 1, "root_id": "app", "base": "tcp"}))
    with pytest.raises(OmegaError, match=rf"process {int(ended.stdout)} from .* has ended"):
        read_run_record(system)
    assert not run_file(system).exists()


@pytest.mark.parametrize("text", ["not json", "[]", '{"pid": 1}', '{"pid": 1, "admin_port": 2, "root_id": "a", "base": "tcp", "x": 0}'])
def test_a_file_that_is_not_a_run_record_is_refused_with_its_path(tmp_path: Path, text: str) -> None:
    system = SystemConfig(base="simple", data_dir=str(tmp_path))
    run_file(system).parent.mkdir(parents=True)
    run_file(system).write_text(text)
    with pytest.raises(OmegaError, match="is not a run record"):
        read_run_record(system)


def test_a_record_of_a_live_process_reads_back_as_written(tmp_path: Path) -> None:
    system = SystemConfig(base="simple", data_dir=str(tmp_path))
    run_file(system).parent.mkdir(parents=True)
    fields = {"pid": os.getpid(), "admin_port": 12345, "root_id": "app", "base": "tcp", "state_dir": "/s"}
    run_file(system).write_text(json.dumps(fields))
    assert read_run_record(system) == RunningSystem(**fields)


def test_the_first_boot_imports_the_config_directory_and_later_boots_run_the_applied_commit(tmp_path: Path) -> None:
    config = config_dir(tmp_path)
    notes: list[str] = []
    first = boot(config, notes.append)
    assert notes == [] and [child.id for child in first.config.require_tree().children] == ["counter"]
    assert first.state_dir == (tmp_path / "data" / "state").resolve()
    assert first.config.system.data_dir == str(tmp_path / "data")
    (config / "tree.toml").write_text(TREE.replace('"counter"', '"other"'))
    second = boot(config, notes.append)
    assert second.commit == first.commit and [child.id for child in second.config.require_tree().children] == ["counter"]
    assert len(notes) == 1 and "differs from the applied configuration" in notes[0]


def test_a_bad_config_is_refused_on_first_boot_and_nothing_is_committed(tmp_path: Path) -> None:
    config = config_dir(tmp_path, '[tree]\nstrategy = "one_for_none"\n')
    with pytest.raises(ConfigError, match="tree.strategy"):
        boot(config)
    with StateRepository(tmp_path / "data" / "state") as repo:
        assert repo.head() is None
