"""Genesis under supervision: the three kinds of improvement, end to end, through the event bus.

Real parts: git repositories, the brain's ONNX embedder and SQLite memory,
the experiment commands in their own processes, and (on the tcp base) an
experiment actor killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from omega_actors.actors.genesis import SERVICE, GetAdoption, GetExperiment
from omega_actors.actors.improver import GetImprover, Propose
from omega_actors.actors.tv_brain import (
    AddItems,
    GetEpisodes,
    Observe,
    ProveRanking,
    Recommend,
    Retune,
)
from omega_actors.app.genesis import genesis_spec
from omega_actors.app.tv import tv_brain_spec
from omega_actors.brain import Observation, RecommendContext, daypart_of
from omega_actors.errors import DeliveryError
from omega_actors.genesis.replay import episodes_of
from omega_actors.runtime import SupervisorSpec
from omega_actors.runtime.messages import Done
from omega_actors.storage.state_repository import StateRepository
from tests.runtime.conftest import wait_until
from tests.runtime.test_event_bus import collector, seen, subscribed

DATASET = Path(__file__).resolve().parents[1] / "data" / "movielens_small"
VIEWER = 25  # a MovieLens user whose recorded episodes favour skill_weight = 0 (checked in each test)
WINDOW = 5
BETTER = {"skill_weight": 0.0}
WORSE = {"skill_weight": 1.0}


@pytest.fixture(scope="module")
def data():
    return episodes_of(DATASET, 40)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


def tv_tree(tmp_path: Path, tvs: tuple[str, ...], *extra) -> SupervisorSpec:
    state = tmp_path / "state"
    StateRepository(state).close()
    children = tuple(tv_brain_spec(tv, data_dir=str(tmp_path / "brains"),
                                   improver={"state_dir": str(state), "window": WINDOW, "poll": 0.02}) for tv in tvs)  # fmt: skip
    # Genesis (if any) first: its aggregator hears each improver come online.
    return SupervisorSpec(intensity=10, children=(*extra, *children, collector("improvement.>", "genesis.experiment.>")))


def seed(runtime, tv: str, data) -> None:
    """The TV learns one viewer's recorded history, then watches what it recommends for one window."""
    assert runtime.ask(f"tv.{tv}.memory", AddItems(tuple(data.items)), timeout=120).count == len(data.items)
    for rated in data.users[VIEWER].train:
        runtime.ask(f"tv.{tv}.memory", Observe(Observation(rated.media_id, min(rated.rating / 5, 1.0), daypart_of(rated.timestamp))))
    watch(runtime, tv, WINDOW, hit=True)


def watch(runtime, tv: str, count: int, hit: bool, catalogue=()) -> None:
    """The viewer watches the top recommendation (a hit), or something that was not recommended (a miss)."""
    for _ in range(count):
        shown = tuple(r.media_id for r in runtime.ask(f"tv.{tv}.memory", Recommend(RecommendContext("evening", n=10, unseen_only=True))).items)
        if hit:
            media = shown[0]
        else:
            played = {e.media_id for e in runtime.ask(f"tv.{tv}.memory", GetEpisodes(10_000)).items}
            media = next(item.media_id for item in catalogue if item.media_id not in shown and item.media_id not in played)
        runtime.ask(f"tv.{tv}.memory", Observe(Observation(media, 0.95, "evening", recommended=shown)))


def improver(runtime, tv: str) -> dict:
    return runtime.ask(f"tv.{tv}.improver", GetImprover())


def phase(runtime, tv: str) -> str | None:
    trial = improver(runtime, tv)["trial"]
    return trial["phase"] if trial else None


def weights(runtime, tv: str) -> dict:
    return dict(runtime.ask(f"tv.{tv}.memory", Retune({})).settings)  # an empty retune answers the weights in force


def events(runtime, prefix: str) -> list[tuple[str, object]]:
    return [(subject, payload) for subject, payload in seen(runtime) if subject.startswith(prefix)]


def validate_live(runtime, tv: str, hit: bool) -> None:
    wait_until(lambda: phase(runtime, tv) == "validating", runtime, timeout=60, what=f"{tv} validating its change")
    watch(runtime, tv, WINDOW, hit)
    wait_until(lambda: improver(runtime, tv)["trial"] is None, runtime, timeout=60, what=f"{tv} deciding")


# ---------------------------------------------------------------- type 1


def test_a_local_change_proven_on_recorded_episodes_is_hot_reloaded_validated_live_and_committed_in_git(
    start_runtime, tmp_path, data
):
    runtime = start_runtime(tv_tree(tmp_path, ("a",)))
    subscribed(runtime)
    seed(runtime, "a", data)
    before, after = runtime.ask("tv.a.memory", ProveRanking(({}, BETTER)), timeout=120).recalls
    assert after > before, "the chosen viewer's episodes should favour the change"

    assert runtime.ask("tv.a.improver", Propose(BETTER)) == Done()
    validate_live(runtime, "a", hit=True)

    state = improver(runtime, "a")
    assert state["committed"] == BETTER and state["history"][-1][1] == "validated"
    assert weights(runtime, "a")["skill_weight"] == 0.0
    subjects = [subject for subject, _ in events(runtime, "improvement.local.") if ".online." not in subject]
    assert subjects == ["improvement.local.applied.a", "improvement.local.validated.a"]
    applied = events(runtime, "improvement.local.applied.a")[0][1]
    assert applied["recalls"] == [before, after]
    with StateRepository(tmp_path / "state") as repo:
        assert b"skill_weight = 0.0" in repo.branch_files("ranking-a")["ranking.toml"]
        assert "validated" in repo.branch_log("ranking-a")[0][2]


def test_committed_weights_survive_a_restart_of_the_brain(start_runtime, tmp_path, data):
    runtime = start_runtime(tv_tree(tmp_path, ("a",)))
    seed(runtime, "a", data)
    runtime.ask("tv.a.improver", Propose(BETTER))
    validate_live(runtime, "a", hit=True)

    runtime.kill_child("app/tv-a", "memory")  # rest_for_one: the improver restarts after it and re-applies the branch
    wait_until(lambda: runtime.which_children("app/tv-a")[1].restarts == 1, runtime, what="the memory actor's restart")
    wait_until(lambda: weights(runtime, "a")["skill_weight"] == 0.0, runtime, what="the committed weights back in force")


def test_a_local_change_that_does_worse_live_is_rolled_back_to_the_committed_weights(start_runtime, tmp_path, data):
    runtime = start_runtime(tv_tree(tmp_path, ("b",)))
    subscribed(runtime)
    seed(runtime, "b", data)
    default = weights(runtime, "b")["skill_weight"]

    runtime.ask("tv.b.improver", Propose(BETTER))
    wait_until(lambda: phase(runtime, "b") == "validating", runtime, timeout=60)
    assert weights(runtime, "b")["skill_weight"] == 0.0  # applied in place, before validation
    watch(runtime, "b", WINDOW, hit=False, catalogue=data.items)  # the viewer stops taking the recommendations
    wait_until(lambda: improver(runtime, "b")["trial"] is None, runtime, timeout=60)

    assert improver(runtime, "b")["history"][-1][1] == "rolled_back"
    assert weights(runtime, "b")["skill_weight"] == default
    rolled = events(runtime, "improvement.local.rolled_back.b")
    assert rolled and rolled[0][1]["before"] == 1.0 and rolled[0][1]["after"] == 0.0
    with StateRepository(tmp_path / "state") as repo:
        assert "rolled back" in repo.branch_log("ranking-b")[0][2]
        assert b"skill_weight" not in repo.branch_files("ranking-b")["ranking.toml"]


def test_a_change_that_does_not_help_on_recorded_episodes_is_never_applied(start_runtime, tmp_path, data):
    runtime = start_runtime(tv_tree(tmp_path, ("c",)))
    subscribed(runtime)
    seed(runtime, "c", data)
    before, after = runtime.ask("tv.c.memory", ProveRanking(({}, WORSE)), timeout=120).recalls
    assert after <= before

    runtime.ask("tv.c.improver", Propose(WORSE))
    wait_until(lambda: improver(runtime, "c")["history"], runtime, timeout=60)

    assert improver(runtime, "c")["history"][-1][1] == "not_proven"
    assert [s for s, _ in events(runtime, "improvement.local.") if ".online." not in s] == ["improvement.local.not_proven.c"]
    assert weights(runtime, "c")["skill_weight"] == 0.35


def test_a_malformed_proposal_is_refused_and_nothing_changes(start_runtime, tmp_path, data):
    runtime = start_runtime(tv_tree(tmp_path, ("c",)))
    for bad, reason in (({"hnsw_m": 4}, "unknown ranking weight 'hnsw_m'"), ({"skill_weight": -1.0}, "finite number >= 0"),
                        ({"skill_weight": float("nan")}, "finite number >= 0"), ({}, "a table of ranking weights"),
                        ("skill_weight", "a table of ranking weights")):  # fmt: skip
        with pytest.raises(DeliveryError, match=reason):
            runtime.ask("tv.c.improver", Propose(bad))  # type: ignore[arg-type]
    assert improver(runtime, "c")["history"] == [] and runtime.which_children("app/tv-c")[2].restarts == 0


# ---------------------------------------------------------------- type 2


def central_state(tmp_path: Path) -> Path:
    repo = tmp_path / "central"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "tree.toml").write_text('[tree]\nid = "app"\n\n[[tree.children]]\nid = "counter"\n'
                                               'start = "omega_actors.actors.demo:Counter"\n')  # fmt: skip
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the fleet's configuration")
    return repo


@pytest.mark.slow
def test_a_change_validated_by_most_of_the_fleet_is_safety_tested_by_genesis_then_rolled_out_canary_first(
    start_runtime, tmp_path, data
):
    central = central_state(tmp_path)
    genesis = genesis_spec(str(tmp_path / "genesis"), str(tmp_path / "sandboxes"), aggregator={
        "state_repository": str(central), "dataset": str(DATASET), "fleet": 5, "threshold": 0.5, "users": 15,
    })  # fmt: skip
    tvs = ("a", "b", "c", "d", "e")
    runtime = start_runtime(tv_tree(tmp_path, tvs, genesis))
    subscribed(runtime)
    for tv in tvs:
        seed(runtime, tv, data)
    for tv in ("a", "b", "c"):  # 3 of 5: past the threshold with the third
        runtime.ask(f"tv.{tv}.improver", Propose(BETTER))
        validate_live(runtime, tv, hit=True)

    wait_until(lambda: events(runtime, "improvement.global."), runtime, timeout=300, what="Genesis' safety test")
    subject, recommended = events(runtime, "improvement.global.")[0]
    assert subject == "improvement.global.recommended", recommended
    assert recommended["canary"] == "d" and recommended["settings"] == BETTER
    completed = events(runtime, f"genesis.experiment.completed.{recommended['experiment_id']}")[0][1]
    assert completed["status"] == "success" and completed["changes"]["recall_at_10"] > 0
    assert completed["merged"]["branch"] == f"genesis/{recommended['experiment_id']}"
    assert "skill_weight = 0.0" in git(central, "show", f"{completed['merged']['branch']}:config/brain.toml")

    assert phase(runtime, "e") is None and improver(runtime, "e")["waiting"]  # e waits for the canary
    validate_live(runtime, "d", hit=True)
    validate_live(runtime, "e", hit=True)
    order = [s for s, _ in seen(runtime) if s.startswith(("improvement.local.applied", "improvement.local.validated"))]
    assert order[-4:] == ["improvement.local.applied.d", "improvement.local.validated.d",
                          "improvement.local.applied.e", "improvement.local.validated.e"]  # fmt: skip
    assert all(weights(runtime, tv)["skill_weight"] == 0.0 for tv in tvs)
    assert runtime.ask("genesis.aggregator", GetAdoption())["outcomes"] == {recommended["improvement"]: "recommended"}


# ---------------------------------------------------------------- type 3


CALC = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def calc_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "calc-repo"
    (repo / "calc").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "calc" / "__init__.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TEST)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "calc")
    return repo


ADD_SUB = ("--- a/calc/__init__.py\n+++ b/calc/__init__.py\n@@ -1,2 +1,6 @@\n def add(a, b):\n     return a + b\n+\n+\n"
           "+def sub(a, b):\n+    return a - b\n")  # fmt: skip
NEW_TEST = ("--- /dev/null\n+++ b/extra_tests/test_sub.py\n@@ -0,0 +1,5 @@\n+from calc import sub\n+\n+\n"
            "+def test_sub():\n+    assert sub(5, 3) == 2\n")  # fmt: skip


def experiment_request(repo: Path, diff: str, command: list[str] | None = None, **validation) -> dict:
    return {
        "experiment_type": "experimental", "description": "add sub()", "risk_level": "high",
        "estimated_impact": "one more passing test", "rollback_plan": "delete the sandbox",
        "change": {"kind": "patch", "repository": str(repo), "diff": diff},
        "validation": {"command": command or ["{python}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml={junit}"],
                       "metrics": ["tests_passed"], **validation},
    }  # fmt: skip


def genesis_tree(tmp_path: Path) -> SupervisorSpec:
    return SupervisorSpec(intensity=10, children=(genesis_spec(str(tmp_path / "genesis"), str(tmp_path / "sandboxes")),
                                                  collector("genesis.experiment.>")))  # fmt: skip


def test_an_instance_requests_a_risky_experiment_on_the_bus_and_gets_a_graded_verdict_and_a_branch(start_runtime, tmp_path):
    repo = calc_repo(tmp_path)
    runtime = start_runtime(genesis_tree(tmp_path))
    subscribed(runtime)
    runtime.publish("genesis.experiment.request.tv-7", experiment_request(repo, ADD_SUB + NEW_TEST, protected=[]))

    wait_until(lambda: events(runtime, "genesis.experiment.completed."), runtime, timeout=120, what="the verdict")
    subject, outcome = events(runtime, "genesis.experiment.completed.")[0]
    experiment_id = subject.rpartition(".")[2]
    assert outcome["status"] == "success" and outcome["recommendation"] == "merge", outcome["reasons"]
    assert outcome["requester"] == "tv-7" and outcome["baseline"] == {"tests_passed": 1.0} and outcome["candidate"] == {"tests_passed": 2.0}
    steps = [payload["step"] for subject, payload in events(runtime, f"genesis.experiment.status.{experiment_id}")]
    assert steps == ["requested", "prepare", "baseline-1", "baseline-2", "apply", "candidate", "grade", "conclude"]
    assert git(repo, "rev-parse", f"genesis/{experiment_id}") == outcome["merged"]["commit"]
    assert "def sub" in git(repo, "show", f"genesis/{experiment_id}:calc/__init__.py")
    assert git(repo, "status", "--porcelain") == "" and "def sub" not in (repo / "calc" / "__init__.py").read_text()
    assert not (tmp_path / "sandboxes" / experiment_id).exists()
    record = runtime.ask(SERVICE, GetExperiment(experiment_id))
    assert record["status"] == "success" and record["timings"]["sandbox_create_ms"] > 0


def test_a_bad_request_on_the_bus_is_rejected_with_its_reason_and_counted_and_genesis_carries_on(start_runtime, tmp_path):
    repo = calc_repo(tmp_path)
    runtime = start_runtime(genesis_tree(tmp_path))
    subscribed(runtime)
    bad = experiment_request(repo, ADD_SUB)
    bad["validation"]["metrics"] = ["happiness"]
    runtime.publish("genesis.experiment.request.tv-8", bad)
    runtime.publish("genesis.experiment.request.tv-8", experiment_request(repo, "--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n"))
    runtime.publish("genesis.experiment.request.tv-8", "not a table")

    wait_until(lambda: len(events(runtime, "genesis.experiment.failed.")) == 3, runtime, timeout=60)
    reasons = [payload["reason"] for _, payload in events(runtime, "genesis.experiment.failed.")]
    assert "unknown metric 'happiness'" in reasons[0] and "validation.metrics" in reasons[0]
    assert "does not apply" in reasons[1]
    assert "expected a table" in reasons[2]
    assert all(payload["status"] == "rejected" for _, payload in events(runtime, "genesis.experiment.failed."))
    assert runtime.which_children("app/genesis")[0].restarts == 0
    assert sorted(p.name for p in (tmp_path / "sandboxes").iterdir()) == [".base"]


@pytest.mark.tcp
def test_an_experiment_whose_actor_is_killed_fails_alone_and_leaves_no_sandbox_or_process(start_runtime, tmp_path):
    repo = calc_repo(tmp_path)
    runtime = start_runtime(genesis_tree(tmp_path), "tcp")
    subscribed(runtime)
    hang = ["{python}", "-c", "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(600)"]
    runtime.publish("genesis.experiment.request.tv-9", experiment_request(repo, ADD_SUB, hang, timeout=900))

    wait_until(lambda: list((tmp_path / "sandboxes").glob("g*/tree/pid")), runtime, timeout=60, what="the command running")
    pid_file = next((tmp_path / "sandboxes").glob("g*/tree/pid"))
    wait_until(lambda: pid_file.read_text(), runtime, timeout=30)
    command = int(pid_file.read_text())
    experiment_id = pid_file.parents[1].name
    actor = next(node for node in runtime.tree().walk() if node.path.endswith(f"experiments/{experiment_id}"))
    os.kill(actor.pid, signal.SIGKILL)

    wait_until(lambda: events(runtime, f"genesis.experiment.failed.{experiment_id}"), runtime, timeout=60)
    failed = events(runtime, f"genesis.experiment.failed.{experiment_id}")[0][1]
    assert failed["status"] == "failed" and "ended before a verdict" in failed["reason"]
    wait_until(lambda: not _alive(command), runtime, timeout=30, what="the command dying with its actor")
    assert not (tmp_path / "sandboxes" / experiment_id).exists()
    assert runtime.ask(SERVICE, GetExperiment(experiment_id))["status"] == "failed"
    assert runtime.which_children("app/genesis")[0].restarts == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: reap it if it is ours, otherwise ask /proc
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_the_aggregator_keeps_its_counts_across_a_restart_and_shrugs_off_malformed_events(start_runtime, tmp_path):
    genesis = genesis_spec(str(tmp_path / "genesis"), str(tmp_path / "sandboxes"), aggregator={
        "state_repository": str(tmp_path / "none"), "dataset": str(DATASET), "fleet": 10})  # fmt: skip
    runtime = start_runtime(SupervisorSpec(children=(genesis,)))
    wait_until(lambda: runtime.ask("genesis.aggregator", GetAdoption()) is not None, runtime)
    for instance in ("tv-1", "tv-2", "tv-3"):
        runtime.publish(f"improvement.local.validated.{instance}", {"improvement": "x", "settings": BETTER})
    for bad in ({"settings": {"hnsw_m": 3}}, {"settings": "all of them"}, "not a table", {"settings": {"skill_weight": -2}}):
        runtime.publish("improvement.local.validated.tv-4", bad)
    for bad in ({"extra": {"improvement": []}}, {"extra": "x"}, None, {"extra": {"improvement": {"a": 1}}}):
        runtime.publish("genesis.experiment.completed.g000000000000", bad)
    wait_until(lambda: len(runtime.ask("genesis.aggregator", GetAdoption())["instances"]) == 4, runtime)
    key = next(iter(runtime.ask("genesis.aggregator", GetAdoption())["shares"]))

    runtime.kill_child("app/genesis", "aggregator")
    wait_until(lambda: runtime.which_children("app/genesis")[2].restarts == 1, runtime)
    runtime.publish("improvement.local.validated.tv-5", {"settings": BETTER})

    wait_until(lambda: runtime.ask("genesis.aggregator", GetAdoption())["shares"].get(key) == 0.4, runtime)
    state = runtime.ask("genesis.aggregator", GetAdoption())
    assert state["instances"] == ["tv-1", "tv-2", "tv-3", "tv-4", "tv-5"] and state["outcomes"] == {}
    assert runtime.which_children("app/genesis")[0].restarts == 0  # the service did not notice
