"""The router's learning on branch ``router`` of a real state repository."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from omega_actors.errors import BranchMoved, StateError
from omega_actors.router.layers import Layer
from omega_actors.router.policy import EnergyState
from omega_actors.router.routing import Attempt, Router
from omega_actors.router.settings import (
    CompileSettings,
    LearningSettings,
    RouterSettings,
)
from omega_actors.router.store import BRANCH, FILES, RouterStore
from omega_actors.storage.state_repository import Entry, StateRepository

SETTINGS = RouterSettings(learning=LearningSettings(promote_after=2), compile=CompileSettings(min_repeats=2))
EVERY = frozenset(Layer)
OpenRepo = Callable[[Path], StateRepository]


def taught() -> Router:
    """A router that has learned a first choice, compiled a handler and spent something."""
    router = Router(SETTINGS)
    for index in range(2):
        decision = router.decide(f"who wrote play number {index}", EnergyState(), EVERY)
        router.record(decision, [Attempt(Layer.SMALL, False, ((Layer.SMALL, 7),), 0.2), Attempt(Layer.MEDIUM, True, ((Layer.MEDIUM, 30),), 0.9, "Shakespeare")])
    for text in ("Who wrote Hamlet?", "who wrote hamlet"):
        router.record(router.decide(text, EnergyState(), EVERY), [Attempt(Layer.MEDIUM, True, ((Layer.MEDIUM, 12),), 0.5, "Shakespeare")])
    assert router.learner.first_choice("question") == Layer.MEDIUM
    assert router.compiler.lookup("who wrote hamlet") is not None
    return router


def commit_files(path: Path, files: dict[str, bytes], why: str = "edited by hand") -> str:
    with StateRepository(path) as repo, repo.writing(5.0):
        return repo.commit_branch(BRANCH, files, why)


def test_a_repository_without_a_router_branch_loads_as_nothing_learned(tmp_path: Path) -> None:
    learned = RouterStore(tmp_path / "state").load(SETTINGS)

    assert (learned.learner.to_dict(), learned.compiler.to_dict(), learned.ledger.to_dict()) == ({}, {}, {})
    assert learned.dropped == () and learned.commit is None


def test_what_was_saved_loads_back_the_same(tmp_path: Path) -> None:
    router = taught()
    store = RouterStore(tmp_path / "state")

    sha = store.save(router, "learned a first choice")
    learned = store.load(SETTINGS)

    assert learned.commit == sha
    assert learned.learner.to_dict() == router.learner.to_dict()
    assert learned.compiler.to_dict() == router.compiler.to_dict()
    assert learned.ledger.to_dict() == router.ledger.to_dict()
    assert learned.dropped == ()
    assert learned.learner.first_choice("question") == Layer.MEDIUM


def test_saves_are_commits_on_the_router_branch_with_the_three_files(tmp_path: Path, open_repo: OpenRepo) -> None:
    store = RouterStore(tmp_path / "state")

    sha = store.save(taught(), "compiled 'who wrote hamlet'")

    repo = open_repo(tmp_path / "state")
    assert sorted(repo.branch_files(BRANCH)) == sorted(FILES)
    assert repo.branch_log(BRANCH)[0][0] == sha
    assert repo.branch_log(BRANCH)[0][2] == "router: compiled 'who wrote hamlet'"
    assert json.loads(repo.branch_files(BRANCH)["learning.json"])["question"]["first"] == 5


def test_saving_leaves_main_without_a_commit(tmp_path: Path, open_repo: OpenRepo) -> None:
    RouterStore(tmp_path / "state").save(taught(), "learned")

    repo = open_repo(tmp_path / "state")
    assert repo.head() is None
    assert repo.repo.head.reference.name == "main"


def test_saving_leaves_the_configuration_on_main_untouched(tmp_path: Path, open_repo: OpenRepo) -> None:
    path = tmp_path / "state"
    with StateRepository(path) as repo, repo.writing(5.0):
        main = repo.commit({"router.toml": b"[router]\n"}, Entry("initial", who="test", why="setup"))

    RouterStore(path).save(taught(), "learned")
    RouterStore(path).save(taught(), "learned again")

    repo = open_repo(path)
    assert repo.head() == main
    assert repo.files() == {"router.toml": b"[router]\n"}
    assert [item.sha for item in repo.history()] == [main]
    assert (path / "config" / "router.toml").read_bytes() == b"[router]\n"
    assert "learning.json" not in {p.name for p in path.rglob("*.json") if ".git" not in p.parts}


def test_history_grows_by_one_commit_per_save_newest_first(tmp_path: Path) -> None:
    store = RouterStore(tmp_path / "state")
    router = taught()

    shas = [store.save(router, f"save {index}") for index in range(3)]

    history = store.history()
    assert [sha for sha, _, _ in history] == shas[::-1]
    assert [subject for _, _, subject in history] == ["router: save 2", "router: save 1", "router: save 0"]
    assert len(store.history(limit=2)) == 2


def test_a_multi_line_reason_becomes_a_one_line_subject(tmp_path: Path) -> None:
    store = RouterStore(tmp_path / "state")

    store.save(taught(), "compiled one\n  and   dropped another")
    store.save(taught(), "   ")

    assert [subject for _, _, subject in store.history()] == ["router: routing statistics", "router: compiled one and dropped another"]


def tampered(tmp_path: Path) -> RouterStore:
    """A store whose compiled handler's evidence was edited so that it no longer normalises to its key."""
    store = RouterStore(tmp_path / "state")
    store.save(taught(), "compiled")
    with StateRepository(store.path) as repo:
        files = repo.branch_files(BRANCH)
    compiled = json.loads(files["compiled.json"])
    compiled["who wrote hamlet"]["evidence"][0][0] = "who wrote macbeth"
    files["compiled.json"] = json.dumps(compiled).encode()
    commit_files(store.path, files)
    return store


def test_a_handler_whose_evidence_no_longer_validates_is_dropped_on_load(tmp_path: Path) -> None:
    store = tampered(tmp_path)

    learned = store.load(SETTINGS)

    assert learned.compiler.lookup("who wrote hamlet") is None
    assert len(learned.dropped) == 1 and "who wrote hamlet" in learned.dropped[0]
    assert learned.learner.first_choice("question") == Layer.MEDIUM  # the rest is kept


def test_the_drop_is_committed_so_the_next_load_finds_nothing_to_drop(tmp_path: Path, open_repo: OpenRepo) -> None:
    store = tampered(tmp_path)

    store.load(SETTINGS)

    subject = store.history(1)[0][2]
    assert subject.startswith("router: dropped the handler for 'who wrote hamlet'")
    assert json.loads(open_repo(store.path).branch_files(BRANCH)["compiled.json"]) == {}
    again = store.load(SETTINGS)
    assert again.dropped == ()
    assert len(store.history()) == 3


@pytest.mark.parametrize("name", FILES)
def test_a_file_on_the_branch_that_is_not_json_is_a_state_error_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / "state"
    sha = commit_files(path, {name: b"{not json"})

    with pytest.raises(StateError) as caught:
        RouterStore(path).load(SETTINGS)

    assert name in str(caught.value) and sha in str(caught.value)


def test_a_file_holding_json_that_is_not_an_object_is_a_state_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "state"
    commit_files(path, {"costs.json": b"[1, 2, 3]"})

    with pytest.raises(StateError, match=r"costs\.json must hold a JSON object; got list"):
        RouterStore(path).load(SETTINGS)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("learning.json", {"question": 5}),
        ("learning.json", {"question": {"first": 9}}),
        ("learning.json", {"question": {"outcomes": {"4": []}}}),
        ("compiled.json", {"who wrote hamlet": {"answer": "Shakespeare"}}),
        ("compiled.json", {"who wrote hamlet": "Shakespeare"}),
        ("costs.json", {"4": {"calls": 1}}),
        ("costs.json", {"4": {"calls": 1, "succeeded": 1, "failed": 0, "tokens": 0, "joules": 0, "money": 0, "latency_s": 0, "histogram": [1]}}),
        ("costs.json", {"4": {"calls": 1, "succeeded": 1, "failed": 0, "tokens": 0, "joules": 0, "money": 0, "latency_s": 0, "histogram": {"999": 1}}}),
    ],
)
def test_a_file_holding_an_object_of_the_wrong_shape_is_a_state_error_naming_it(tmp_path: Path, name: str, content: object) -> None:
    path = tmp_path / "state"
    commit_files(path, {name: json.dumps(content).encode()})

    with pytest.raises(StateError) as caught:
        RouterStore(path).load(SETTINGS)

    assert name in str(caught.value)


def test_a_save_on_top_of_a_commit_that_is_no_longer_the_head_is_refused(tmp_path: Path) -> None:
    store = RouterStore(tmp_path / "state")
    first = store.save(taught(), "one router", expected=None)
    store.save(taught(), "another router", expected=first)

    with pytest.raises(BranchMoved, match="moved"):
        store.save(taught(), "the first router again, from its stale view", expected=first)
    with pytest.raises(BranchMoved):
        store.save(taught(), "a router that saw no commit", expected=None)
    assert len(store.history()) == 2
