"""Applying a configuration to a running system: commit, reject, or roll back."""

from __future__ import annotations

import pytest

from omega_actors.errors import StateError

from .actors import GetTag
from .conftest import tree_toml, worker


def commits(system) -> int:
    return len(list(system.repo.repo.iter_commits("main")))


def tag_of(system, path: str) -> str:
    return system.runtime.ask(system.runtime.address_of(path), GetTag())


def test_a_valid_change_is_applied_in_place_and_committed_once(start_system):
    system = start_system(tree_toml([worker("a"), worker("b")]))
    pid_before = {n.path: n for n in system.runtime.tree().walk()}["app/a"]
    outcome = system.reloader.apply(system.files(tree_toml([worker("a"), worker("b", tag="v2"), worker("c")])), "grow")
    assert outcome.status == "applied" and outcome.changes == ("~ app/b (start)", "+ app/c")
    assert system.repo.head() == outcome.commit and commits(system) == 2
    assert tag_of(system, "app/b") == "v2" and tag_of(system, "app/c") == ""
    assert system.runtime.tree().find("app/a").restarts == pid_before.restarts == 0
    item = system.repo.history()[0]
    assert (item.outcome, item.who, item.why, item.changes) == ("applied", "tester", "grow", outcome.changes)


def test_a_misspelt_omega_section_is_rejected_and_nothing_changes(start_system):
    system = start_system(tree_toml([worker("a")]))
    head = system.repo.head()
    files = {**system.files(tree_toml([worker("a")])), "brain.toml": b"[brian]\ncapacity = 50\n"}
    outcome = system.reloader.apply(files, "weights", {"brain.toml": "ops/brain.toml"})
    assert outcome.status == "rejected" and outcome.reason.startswith("ops/brain.toml: brian: [brian] is one typo away from [brain]")
    assert system.repo.head() == head


def test_a_bad_config_is_rejected_with_file_key_and_value_and_nothing_changes(start_system):
    system = start_system(tree_toml([worker("a")]))
    head = system.repo.head()
    bad = tree_toml([worker("a", restart="sometimes")])
    outcome = system.reloader.apply(system.files(bad), "typo", {"tree.toml": "ops/tree.toml", "system.toml": "system.toml"})
    assert outcome.status == "rejected"
    assert outcome.reason.startswith("ops/tree.toml: tree.children[0].restart: ")
    assert "'sometimes'" in outcome.reason and "'permanent'" in outcome.reason
    assert system.repo.head() == head and commits(system) == 1
    assert system.runtime.current_spec().children[0].restart.value == "permanent"
    assert [(i.outcome, i.on_main) for i in system.repo.history()][:1] == [("rejected", False)]


def test_a_child_that_fails_to_start_is_rolled_back_to_the_last_good_commit(start_system):
    system = start_system(tree_toml([worker("a"), worker("b")]))
    head, before = system.repo.head(), system.runtime.current_spec()
    outcome = system.reloader.apply(system.files(tree_toml([worker("a", tag="v2", refuse=True), worker("c")])), "risky")
    assert outcome.status == "rolled_back" and "app/a" in outcome.reason and "refusing to start" in outcome.reason
    assert system.repo.head() == head and system.runtime.current_spec() == before
    assert {n.path: n.state for n in system.runtime.tree().walk() if n.path.startswith("app/")} == {
        "app/a": "running", "app/b": "running",
    }  # fmt: skip
    assert tag_of(system, "app/a") == ""


def test_a_child_that_crashes_under_its_health_probe_is_rolled_back(start_system):
    system = start_system(tree_toml([worker("a")]))
    outcome = system.reloader.apply(system.files(tree_toml([worker("a"), worker("sick", sick=True)])), "new")
    assert outcome.status == "rolled_back"
    assert outcome.reason.startswith("health probe: app/sick")
    assert [n.id for n in system.runtime.tree().find("app").children] == ["a"]
    assert system.repo.history()[0].outcome == "rolled_back" and commits(system) == 1


def test_rollback_returns_to_an_earlier_commit_as_a_new_commit(start_system):
    system = start_system(tree_toml([worker("a")]))
    first = system.repo.head()
    system.reloader.apply(system.files(tree_toml([worker("a", tag="v2")])), "v2")
    system.reloader.apply(system.files(tree_toml([worker("a", tag="v3"), worker("b")])), "v3")
    outcome = system.reloader.rollback(first, "back to the start")
    assert outcome.status == "applied" and commits(system) == 4
    assert system.repo.files() == system.repo.files(first)
    assert tag_of(system, "app/a") == "" and [n.id for n in system.runtime.tree().find("app").children] == ["a"]
    assert system.repo.history()[0].outcome == "rollback"


def test_an_unchanged_config_makes_no_commit(start_system):
    system = start_system(tree_toml([worker("a")]))
    outcome = system.reloader.apply(system.repo.files(), "again")
    assert outcome.status == "unchanged" and commits(system) == 1


def test_the_root_id_cannot_change_on_a_running_system(start_system):
    system = start_system(tree_toml([worker("a")]))
    outcome = system.reloader.apply(system.files('[tree]\nid = "other"\n'), "rename")
    assert outcome.status == "rejected" and "tree.id: the root id cannot change" in outcome.reason


def test_a_change_interrupted_by_a_killed_writer_is_repaired_by_the_next_one(start_system):
    system = start_system(tree_toml([worker("a")]))
    good = system.runtime.current_spec()
    # What a writer killed inside its health window leaves: the new tree running, a marker, HEAD unchanged.
    from omega_actors.reload.apply import parse

    half = parse(system.files(tree_toml([worker("a", tag="v2"), worker("b")])), "x").require_tree()
    with system.repo.writing():
        system.repo.mark_pending({"why": "killed"})
    assert system.runtime.reconfigure(half).ok
    note = system.reloader.recover()
    assert note is not None and "interrupted" in note and "back on the last good commit" in note
    assert system.runtime.current_spec() == good and system.repo.pending() is None
    assert system.repo.history()[0].outcome == "interrupted" and commits(system) == 1


def test_a_reloader_needs_a_started_repository(start_system, tmp_path):
    from omega_actors.reload import Reloader, ReloadSettings
    from omega_actors.storage.state_repository import StateRepository

    system = start_system(tree_toml([worker("a")]))
    with StateRepository(tmp_path / "empty") as repo:
        empty = Reloader(system.runtime, repo, ReloadSettings())
        with pytest.raises(StateError, match="has no commit yet"):
            empty.apply(system.files(tree_toml([worker("a")])))
