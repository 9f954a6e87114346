"""The state repository: one commit per change, attempts kept aside, one writer at a time."""

from __future__ import annotations

import threading

import pytest

from omega_actors.errors import StateError
from omega_actors.storage.state_repository import Entry

FILES = {"tree.toml": b"[tree]\n"}


def applied(why: str = "why", changes: tuple[str, ...] = ()) -> Entry:
    return Entry("applied", "ana@tv1", why, changes)


def test_a_commit_holds_exactly_the_files_and_a_structured_message(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    with repo.writing():
        first = repo.commit({"a.toml": b"1", "b.toml": b"2"}, applied("first"))
        second = repo.commit({"a.toml": b"3"}, applied("two more workers", ("+ app/w2",)))
    assert repo.files(first) == {"a.toml": b"1", "b.toml": b"2"}
    assert repo.files() == {"a.toml": b"3"} and repo.head() == second
    message = repo.repo.commit(second).message
    assert "Omega-Outcome: applied" in message and "Omega-Who: ana@tv1" in message and "+ app/w2" in message
    assert [(item.outcome, item.why, item.changes) for item in repo.history()] == [
        ("applied", "two more workers", ("+ app/w2",)), ("applied", "first", ()),
    ]  # fmt: skip


def test_failed_attempts_stay_off_main_and_show_above_the_commit_they_failed_on(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    with repo.writing():
        base = repo.commit(FILES, applied("base"))
        attempt = repo.record_attempt({"tree.toml": b"bad"}, Entry("rejected", "ana", "typo", reason="tree.toml: bad"))
    assert repo.head() == base and repo.files() == FILES
    assert len(list(repo.repo.iter_commits("main"))) == 1
    history = repo.history()
    assert [(item.sha, item.outcome, item.on_main, item.reason) for item in history] == [
        (attempt, "rejected", False, "tree.toml: bad"), (base, "applied", True, ""),
    ]  # fmt: skip
    assert repo.files(attempt) == {"tree.toml": b"bad"}


def test_writing_needs_the_lock(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    with pytest.raises(StateError, match="inside `with repo.writing"):
        repo.commit(FILES, applied())


def test_writers_take_turns(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with open_repo(tmp_path / "state").writing():
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(30)
        with pytest.raises(StateError, match="another writer"):
            with repo.writing(timeout=0.2):
                pass
    finally:
        release.set()
        holder.join()
    with repo.writing(timeout=5):
        repo.commit(FILES, applied())


def test_a_writer_cleans_up_after_one_that_was_killed(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    with repo.writing():
        repo.commit(FILES, applied())
    git_dir = tmp_path / "state" / ".git"
    (git_dir / "index.lock").write_text("")  # what a killed `git commit` leaves
    (tmp_path / "state" / "config" / "tree.toml").write_text("half written")
    (tmp_path / "state" / "config" / "new.toml").write_text("stray")
    with repo.writing():
        assert not (git_dir / "index.lock").exists()
        assert repo.repo.is_dirty(untracked_files=True) is False
        repo.commit({"tree.toml": b"[tree]\nid = 'x'\n"}, applied())
    assert len(list(repo.repo.iter_commits("main"))) == 2


def test_the_pending_marker_is_whole_and_names_its_writer(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    assert repo.pending() is None
    with repo.writing():
        repo.commit(FILES, applied())
        repo.mark_pending({"why": "w"})
        marker = repo.pending()
        repo.clear_pending()
    assert marker is not None and marker["why"] == "w" and marker["head"] == repo.head() and marker["pid"] > 0
    assert repo.pending() is None


def test_unknown_revisions_and_odd_file_names_are_refused(tmp_path, open_repo):
    repo = open_repo(tmp_path / "state")
    with repo.writing():
        repo.commit(FILES, applied())
        with pytest.raises(StateError, match="plain \\*.toml names"):
            repo.commit({"../escape.toml": b""}, applied())
    with pytest.raises(StateError, match="unknown revision 'nope'"):
        repo.resolve("nope")
