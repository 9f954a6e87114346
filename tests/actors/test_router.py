"""The router's tree end to end: real provider actors, a real chat-completions server, real git."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omega_actors.actors.providers import Answer, ChatProvider, Failed, Work
from omega_actors.actors.router import GetRouterStats, Route, RouteResult, RouterStats
from omega_actors.app.router import router_spec
from omega_actors.errors import DeliveryError
from omega_actors.router.settings import RouterSettings
from omega_actors.router.store import RouterStore
from omega_actors.runtime import Runtime, SupervisorSpec
from omega_actors.storage.state_repository import StateRepository
from tests.router.chat_server import ChatServer
from tests.runtime.conftest import BASES, wait_until

RULES = [{"name": "volume", "pattern": "^volume (up|down)$", "answer": "action: volume {1}"}]
INTENTS = {
    "recommend": ["what should I watch now", "recommend something to watch", "what's good on tonight"],
    "similar": ["something like that thriller but funnier", "more like this show", "find me something similar"],
}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(answer=lambda model, prompt: f"{model.split('-')[0]}: {prompt}") as running:
        yield running


def table(server: ChatServer, **sections: Any) -> dict[str, Any]:
    layers = {name: {"base_url": server.url, "model": f"{name}-m", "timeout": 5.0} for name in ("small", "medium", "large")}
    for name, overrides in sections.pop("layers", {}).items():
        layers[name] = {**layers.get(name, {}), **overrides}
    return {"rules": RULES, "intents": INTENTS, "layers": layers, **sections}


def tree(settings: dict[str, Any], state: Path, providers: dict[str, str] | None = None) -> SupervisorSpec:
    return SupervisorSpec(children=(router_spec(settings, state_dir=str(state), providers=providers),))


def route(runtime: Runtime, text: str, **energy: Any) -> RouteResult:
    result = runtime.ask("router", Route(text, **energy), timeout=60)
    assert isinstance(result, RouteResult)
    return result


def back_after(runtime: Runtime, path: str, restarted: int) -> bool:
    node = runtime.tree().find(path)
    return node is not None and node.restarts >= restarted and node.state == "running"


def restarts(runtime: Runtime, path: str) -> int:
    node = runtime.tree().find(path)
    assert node is not None
    return node.restarts


@pytest.mark.parametrize("base", BASES)
def test_each_task_goes_to_the_cheapest_layer_that_can_do_it(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path, base: str
) -> None:
    runtime = start_runtime(tree(table(server), tmp_path / "state"), base)
    command = route(runtime, "Volume up!")
    assert (command.layer, command.answer, command.kind) == ("L2 rules", "action: volume up", "command")
    watch = route(runtime, "What should I watch now?")
    assert (watch.layer, watch.answer, watch.private) == ("L3 tiny", "intent: recommend", True)
    assert all(layer in ("L2 rules", "L3 tiny", "L4 small", "L5 medium") for layer in watch.plan)  # private: never L6 or L7
    question = route(runtime, "who wrote hamlet")
    assert (question.layer, question.answer) == ("L4 small", "small: who wrote hamlet")
    assert question.tokens > 0 and question.joules > 0
    assert server.requests == {"small-m": 1}


def test_a_failing_layer_escalates_to_the_next_allowed_one(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    server.behave("fail", model="small-m")
    runtime = start_runtime(tree(table(server), tmp_path / "state"))
    result = route(runtime, "who wrote hamlet")
    assert result.layer == "L5 medium" and result.answer == "medium: who wrote hamlet"
    first = result.attempts[0]
    assert (first.layer, first.ok) == ("L4 small", False) and "500" in first.error and "small-m" in first.error
    assert server.requests == {"small-m": 1, "medium-m": 1}


def test_a_layer_that_hangs_is_timed_out_and_the_task_escalates(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    server.behave("hang", model="small-m")
    runtime = start_runtime(tree(table(server, layers={"small": {"timeout": 0.5}}), tmp_path / "state"))
    result = route(runtime, "who wrote hamlet")
    assert result.layer == "L5 medium"
    assert "0.5" in result.attempts[0].error and not result.attempts[0].ok


@pytest.mark.parametrize("mode, says", [("malformed", "choices"), ("garbage", "JSON")])
def test_a_malformed_answer_escalates_with_an_error_that_says_what_was_wrong(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path, mode: str, says: str
) -> None:
    server.behave(mode, model="small-m")
    runtime = start_runtime(tree(table(server), tmp_path / "state"))
    result = route(runtime, "who wrote hamlet")
    assert result.layer == "L5 medium"
    assert says in result.attempts[0].error and "small-m" in result.attempts[0].error


def test_the_circuit_opens_after_repeated_failures_and_the_layer_is_skipped(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    server.behave("malformed", model="small-m")
    settings = table(server, breaker={"failures": 2, "reset_after": 600.0})
    runtime = start_runtime(tree(settings, tmp_path / "state"))
    for question in ("who wrote hamlet", "who painted the mona lisa"):
        assert route(runtime, question).layer == "L5 medium"
    assert server.requests["small-m"] == 2
    skipped = route(runtime, "who built the pyramids")
    assert skipped.layer == "L5 medium" and skipped.plan[0] == "L5 medium"  # L4 is unavailable: not even tried
    assert server.requests["small-m"] == 2
    stats = runtime.ask("router", GetRouterStats())
    assert isinstance(stats, RouterStats) and "L4 small" not in stats.available


def test_a_wrong_member_is_outvoted_and_without_a_majority_the_consensus_fails(
    start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    with ChatServer(answer=lambda model, prompt: "No, not for public showing.") as server:
        server.behave("wrong", model="large-m")
        runtime = start_runtime(tree(table(server, layers={"consensus": {"min_confidence": 0.51}}), tmp_path / "state"))
        result = route(runtime, "is it legal to record a film from broadcast tv?")
        assert (result.kind, result.layer, result.answer) == ("critical", "L7 consensus", "No, not for public showing.")
        assert result.plan == ("L7 consensus",)
        server.behave("fail", model="medium-m")  # one right, one wrong, one silent: no majority of the three asked
        split = route(runtime, "is it legal to copy a DVD for a friend?")
        assert split.answer is None and "confidence 0.33" in split.attempts[0].error


class CrashingProvider(ChatProvider):
    """A provider with a bug: its handler raises something that is not a provider error."""

    def work(self, text: str, timeout: float) -> Work:
        raise RuntimeError("a bug in the provider")


def test_a_crashing_provider_is_restarted_by_its_supervisor_and_the_task_escalates(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    providers = {"small": f"{__name__}:CrashingProvider"}
    runtime = start_runtime(tree(table(server), tmp_path / "state", providers))
    result = route(runtime, "who wrote hamlet")
    assert result.layer == "L5 medium" and "the provider crashed: RuntimeError" in result.attempts[0].error
    wait_until(lambda: restarts(runtime, "app/router/providers/small") >= 1, runtime, what="the provider's restart")
    assert restarts(runtime, "app/router/router") == 0 and restarts(runtime, "app/router") == 0
    assert route(runtime, "volume down").answer == "action: volume down"


@pytest.mark.tcp
def test_a_provider_killed_mid_call_is_restarted_and_its_task_escalates(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    server.behave("hang", model="small-m")
    runtime = start_runtime(tree(table(server, layers={"small": {"timeout": 2.0}}), tmp_path / "state"), "tcp")
    node = runtime.tree().find("app/router/providers/small")
    assert node is not None and node.pid
    victim = node.pid

    def kill_when_called() -> None:
        server.wait_for_requests(1, timeout=60)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_called, daemon=True)
    killer.start()
    result = route(runtime, "who wrote hamlet")
    killer.join(timeout=60)
    assert result.layer == "L5 medium" and not result.attempts[0].ok
    wait_until(lambda: (runtime.tree().find("app/router/providers/small") or node).pid not in (None, victim), what="a new provider")
    server.behave("ok", model="small-m")
    assert route(runtime, "who painted the mona lisa").layer in ("L4 small", "L5 medium")


@pytest.mark.parametrize(
    "text, says",
    [("x" * 4001, "at most 4000 characters"), ("   ", "must not be empty"), (12, "must be text")],
)
def test_bad_tasks_are_refused_with_a_reason_and_nothing_restarts(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path, text: object, says: str
) -> None:
    runtime = start_runtime(tree(table(server), tmp_path / "state"))
    with pytest.raises(DeliveryError) as refused:
        runtime.ask("router", Route(text), timeout=30)  # type: ignore[arg-type]
    assert says in str(refused.value)
    with pytest.raises(DeliveryError) as bad_energy:
        runtime.ask("router", Route("who wrote hamlet", on_battery=True, battery_pct=140.0), timeout=30)
    assert "0 to 100" in str(bad_energy.value)
    assert route(runtime, "volume up").answer == "action: volume up"
    assert all(node.restarts == 0 for node in runtime.tree().walk())
    assert server.requests == {}


def test_on_battery_below_20_percent_nothing_goes_above_the_tiny_layer(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    runtime = start_runtime(tree(table(server), tmp_path / "state"))
    result = route(runtime, "who wrote hamlet", on_battery=True, battery_pct=12.0)
    assert result.plan == ("L3 tiny",) and "L2-L3 only" in result.reason and "12%" in result.policy
    assert result.answer is None and "confidence" in result.attempts[0].error
    assert server.requests == {}
    watch = route(runtime, "what should I watch now?", on_battery=True, battery_pct=12.0)
    assert watch.layer == "L3 tiny"


def test_a_repeated_task_compiles_to_l2_and_the_handler_is_versioned_in_git(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settings = table(server, compile={"min_repeats": 3})
    runtime = start_runtime(tree(settings, state))
    answers = [route(runtime, "Who wrote Hamlet?") for _ in range(3)]
    assert [a.layer for a in answers] == ["L4 small"] * 3 and "compiled" in answers[-1].changes[0]
    compiled = route(runtime, "who wrote hamlet")
    assert (compiled.layer, compiled.compiled, compiled.answer) == ("L2 rules", True, "small: Who wrote Hamlet?")
    assert server.requests == {"small-m": 3}
    runtime.shutdown()
    learned = RouterStore(state).load(RouterSettings.from_table(settings))
    assert "who wrote hamlet" in learned.compiler.handlers and learned.ledger.rows
    with StateRepository(state) as repo:
        assert repo.head() is None  # the configuration's history is untouched: learning lives on branch router
        assert any("compiled" in subject for _, _, subject in repo.branch_log("router"))
    again = start_runtime(tree(settings, state))
    assert route(again, "WHO wrote hamlet").compiled
    assert server.requests == {"small-m": 3}


def test_an_audit_that_gets_a_different_answer_drops_the_compiled_handler(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    settings = table(server, compile={"min_repeats": 2, "audit_every": 2})
    runtime = start_runtime(tree(settings, tmp_path / "state"))
    for _ in range(2):
        route(runtime, "who wrote hamlet")
    assert route(runtime, "who wrote hamlet").compiled  # hit 1
    server.behave("wrong", model="small-m")
    audited = route(runtime, "who wrote hamlet")  # hit 2: audited against L4, which now says otherwise
    assert not audited.compiled and audited.answer == "WRONG"
    assert any("dropped the handler" in change for change in audited.changes)
    assert not route(runtime, "who wrote hamlet").compiled


def test_a_provider_that_keeps_crashing_opens_its_own_circuit_across_restarts(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    providers = {"small": f"{__name__}:CrashingProvider"}
    runtime = start_runtime(tree(table(server, breaker={"failures": 2, "reset_after": 600.0}), tmp_path / "state", providers))
    for crashes, question in enumerate(("who wrote hamlet", "who painted the mona lisa"), 1):
        assert route(runtime, question).layer == "L5 medium"
        wait_until(lambda: back_after(runtime, "app/router/providers/small", crashes), runtime, what="the provider back")
    third = route(runtime, "who built the pyramids")
    assert third.layer == "L5 medium" and "circuit open" in third.attempts[0].error
    assert restarts(runtime, "app/router/providers/small") == 2  # the open circuit answers at once: no third crash


def test_a_malformed_reply_from_a_provider_is_counted_and_the_router_keeps_running(
    start_runtime: Callable[..., Runtime], server: ChatServer, tmp_path: Path
) -> None:
    runtime = start_runtime(tree(table(server), tmp_path / "state"))
    runtime.tell("router", Answer(1, 1, 99, None, float("nan"), ((4, 10**400),), -1.0))  # type: ignore[arg-type]
    runtime.tell("router", Answer(7, 1, 4, "late", 1.0, ((4, 12),), 0.1))  # for a task the router never had
    runtime.tell("router", Failed([1], 1, 4, "unhashable", True, float("inf")))  # type: ignore[arg-type]
    assert route(runtime, "volume up").answer == "action: volume up"
    assert all(node.restarts == 0 for node in runtime.tree().walk())


def test_a_judge_picks_one_of_the_members_answers(start_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    def answer(model: str, prompt: str) -> str:
        return "2" if "Candidate answers" in prompt else f"{model} thinks so"

    with ChatServer(answer=answer) as server:
        settings = table(server, layers={"consensus": {"mode": "judge", "judge": "large", "min_confidence": 0.5}})
        runtime = start_runtime(tree(settings, tmp_path / "state"))
        result = route(runtime, "is it legal to record a film from broadcast tv?")
        assert (result.layer, result.answer) == ("L7 consensus", "medium-m thinks so")
        assert server.requests == {"small-m": 1, "medium-m": 1, "large-m": 2}  # three answers, then the judgement
        server.behave("wrong", model="large-m")  # a judge that answers "WRONG" is a malformed judgement, not a guess
        refused = route(runtime, "is it legal to copy a DVD for a friend?")
        assert refused.answer is None and "one number from 1 to 3" in refused.attempts[0].error
