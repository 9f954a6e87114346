"""The router under supervision: a router actor in front of one provider actor per layer.

::

    router (one_for_one)
      providers (one_for_one, restart backoff)   see :mod:`.providers`
        rules, tiny, small, medium, large, consensus   registered as "router.<layer>"
      router    RouterActor                      registered as "router"

Ask ``"router"`` with :class:`Route`; the answer is a :class:`RouteResult`
(the layer that answered, why it was chosen, every attempt, the cost), or
``Refused`` for a task the router will not take (empty, over-long, a bad
energy state). Bad requests are refused and counted, never a crash.

The router actor decides with :class:`~omega_actors.router.routing.Router`
(plain code), then calls the plan's layers one at a time without waiting in
a handler: each :class:`~.providers.Call` has a timer; an ``Answer`` below
the layer's ``min_confidence``, a ``Failed``, a timeout, or the provider
crashing (``ActorFailed``) moves the task to the next layer of the plan.
A layer reported unavailable is skipped by later decisions until its
``retry_in`` has passed.

What the router learns (first choices, compiled handlers, costs) is
checkpointed after every task, so a restarted router keeps it, and committed
to branch ``router`` of the state repository whenever something changed
and every ``persist_every`` tasks (see :mod:`omega_actors.router.store`).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BranchMoved, ConfigError, RouterInputError, StateError
from ..router.chat import MAX_TOKENS
from ..router.costs import Ledger
from ..router.layers import Layer
from ..router.learning import Learner
from ..router.policy import EnergyState
from ..router.routing import Attempt, Decision, Recorded, Router
from ..router.settings import RouterSettings
from ..router.store import RouterStore
from ..runtime import (
    Actor,
    ActorFailed,
    Address,
    Refused,
    TimerRef,
    Undeliverable,
    emit,
    handler,
)
from .providers import Answer, Call, Failed

# Seconds past a layer's own timeout before the router gives up on a provider:
# the provider's own deadline error, which says more, should arrive first.
TIMEOUT_GRACE = 1.0
# A layer reported unavailable without a retry time is skipped this long.
MIN_DOWN_SECONDS = 1.0
# At shutdown, how long the last commit may wait for another writer of the state repository.
STOP_LOCK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Route:
    text: str
    on_battery: bool = False
    battery_pct: float = 100.0
    solar_peak: bool = False
    carbon_g_per_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class AttemptReport:
    layer: str
    ok: bool
    latency_ms: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class RouteResult:
    text: str
    answer: str | None
    layer: str | None           # the layer that answered, e.g. "L3 tiny"
    kind: str
    private: bool
    policy: str                 # the energy policy's reason
    reason: str                 # why the plan starts where it does
    plan: tuple[str, ...]
    attempts: tuple[AttemptReport, ...]
    tokens: int
    joules: float
    money: float
    compiled: bool
    changes: tuple[str, ...]    # what this task taught the router
    decision_us: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallTimeout:
    request: int
    attempt: int


@dataclass(frozen=True, slots=True)
class GetRouterStats:
    pass


@dataclass(frozen=True, slots=True)
class RouterStats:
    routes: int
    compiled_hits: int
    handlers: int
    layers: tuple[dict[str, Any], ...]
    kinds: dict[str, Any]
    available: tuple[str, ...]


@dataclass(slots=True)
class _Pending:
    request: int
    reply_to: Address
    decision: Decision
    decision_us: float
    layer: Layer = Layer.RULES
    attempt: int = 0
    started: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    timer: TimerRef | None = None


class RouterActor(Actor):
    def __init__(self, settings: Mapping[str, Any] | None = None, state_dir: str = "", layers: Sequence[str] = ()) -> None:
        self.settings = RouterSettings.from_table(dict(settings or {}))
        self.state_dir = state_dir
        self.layers = frozenset(Layer.parse(layer) for layer in layers)
        self.down: dict[Layer, float] = {}
        self.pending: dict[int, _Pending] = {}
        self.next_request = 1
        self.unsaved = 0
        self.base: str | None = None  # the commit of branch router this instance's learning builds on
        self.sent: dict[Layer, deque[tuple[int, int]]] = {layer: deque() for layer in Layer}  # calls each provider holds, in order
        self.restored: dict[str, Any] | None = None
        self.router = Router(self.settings)

    def restore(self, state: dict[str, Any]) -> None:
        self.restored = state

    def started(self) -> None:
        if self.state_dir:
            learned = RouterStore(self.state_dir).load(self.settings)
            self.router = Router(self.settings, learned.learner, learned.compiler, learned.ledger)
            self.base = learned.commit
            for dropped in learned.dropped:
                emit(logging.WARNING, "router_handler_dropped", self.path, reason=dropped)
        if self.restored is not None:  # newer than the store: what the last instance had not committed yet
            state = self.restored
            self.router = Router(self.settings, Learner.from_dict(self.settings.learning, state["learning"]),
                                 self.router.compiler, Ledger.from_dict(state["costs"]))
            self.unsaved, self.base = int(state["unsaved"]), state["base"]

    def stopping(self, reason: object) -> None:
        for pending in self.pending.values():  # callers must not wait out their own timeouts
            self.send(pending.reply_to, Refused("Route", "the router stopped before the task was answered"))
        self.pending.clear()
        if self.unsaved:
            self._save("routing statistics at shutdown", lock_timeout=STOP_LOCK_SECONDS)

    def available(self) -> frozenset[Layer]:
        now = time.monotonic()
        return frozenset(layer for layer in self.layers if self.down.get(layer, 0.0) <= now)

    # Taking a task.

    @handler
    def route(self, message: Route) -> RouteResult | Refused | None:
        began = time.perf_counter()
        try:
            energy = EnergyState(message.on_battery, message.battery_pct, message.solar_peak, message.carbon_g_per_kwh)
            decision = self.router.decide(message.text, energy, self.available())
        except (RouterInputError, ConfigError) as exc:
            self.increment("refused")
            return Refused("Route", str(exc))
        decision_us = (time.perf_counter() - began) * 1e6
        reply_to = self.sender
        if decision.compiled is not None:
            attempt = Attempt(Layer.RULES, True, (), time.perf_counter() - began, decision.compiled.answer)
            return self._result(decision, decision_us, [attempt], self.router.record(decision, [attempt]))
        if not decision.plan.layers or reply_to is None:
            return self._result(decision, decision_us, [], self.router.record(decision, []))
        pending = _Pending(self.next_request, reply_to, decision, decision_us)
        self.next_request += 1
        self.pending[pending.request] = pending
        self._call(pending, decision.plan.layers[0])
        return None

    def _call(self, pending: _Pending, layer: Layer) -> None:
        pending.layer, pending.attempt, pending.started = layer, pending.attempt + 1, time.monotonic()
        patience = self.settings.layer(layer).timeout
        self.send_named(f"router.{layer.key}", Call(pending.request, pending.attempt, pending.decision.text, time.time() + patience))
        self.sent[layer].append((pending.request, pending.attempt))
        pending.timer = self.send_after(patience + TIMEOUT_GRACE, CallTimeout(pending.request, pending.attempt))

    # What comes back.

    @handler
    def answered(self, message: Answer) -> None:
        problem = _answer_problem(message)
        if problem:
            self.increment("malformed_replies")
            pending = self._current(message.request, message.attempt) if isinstance(message.request, int) else None
            if pending is not None:
                self._forget(pending.layer, message.request, message.attempt)
                self._next(pending, f"{pending.layer.label}: a malformed answer ({problem})")
            return
        self._forget(Layer(message.layer), message.request, message.attempt)
        usage = tuple((Layer(layer), tokens) for layer, tokens in message.usage)
        pending = self._current(message.request, message.attempt)
        if pending is None:  # it came after the router moved on, but it was paid for
            self.router.account(Attempt(Layer(message.layer), True, usage, message.latency_s, message.text))
            return
        floor = self.settings.layer(pending.layer).min_confidence
        if message.confidence < floor:
            self._next(pending, f"confidence {message.confidence:.2f} < min_confidence {floor:g}", usage)
            return
        pending.attempts.append(Attempt(pending.layer, True, usage, time.monotonic() - pending.started, message.text))
        self._finish(pending)

    @handler
    def failed(self, message: Failed) -> None:
        ids = (message.request, message.attempt, message.layer)
        retry_in = message.retry_in
        if any(isinstance(v, bool) or not isinstance(v, int) for v in ids) or message.layer not in _LAYER_NUMBERS or (
            isinstance(retry_in, bool) or not isinstance(retry_in, (int, float)) or not math.isfinite(retry_in)
        ):
            self.increment("malformed_replies")  # its call's timer moves the task on
            return
        self._forget(Layer(message.layer), message.request, message.attempt)
        pending = self._current(message.request, message.attempt)
        if pending is None:
            return
        if message.unavailable:
            self.down[pending.layer] = time.monotonic() + max(MIN_DOWN_SECONDS, min(retry_in, 3600.0))
        self._next(pending, str(message.error))

    @handler
    def timed_out(self, message: CallTimeout) -> None:
        pending = self._current(message.request, message.attempt)
        if pending is not None:
            pending.timer = None
            self._next(pending, f"{pending.layer.label}: no answer within {self.settings.layer(pending.layer).timeout:g} s")

    @handler
    def provider_crashed(self, message: ActorFailed) -> None:
        """A provider crashed on the oldest call it held; the calls queued behind it died with its mailbox."""
        layer = _layer_named(message.actor)
        held = self.sent.get(layer) if layer is not None else None
        if not held:
            self.increment("failures_unmatched")
            return
        request, attempt = held.popleft()
        held.clear()  # their timers move them on
        pending = self.pending.get(request)
        if pending is not None and pending.attempt == attempt:
            self._next(pending, f"{pending.layer.label}: the provider crashed: {message.reason}")

    @handler
    def provider_missing(self, message: Undeliverable) -> None:
        """A call reached no provider (it was restarting): the oldest task waiting on that layer moves on.

        (A provider refuses only malformed calls, which this actor does not send; such a
        ``Refused`` is counted by the base class, and the call's timer moves its task on.)
        """
        layer = _layer_named(message.target)
        waiting = sorted((p for p in self.pending.values() if p.layer == layer), key=lambda p: p.started)
        if layer is None or not waiting:
            self.increment("failures_unmatched")
            return
        self._forget(layer, waiting[0].request, waiting[0].attempt)
        self._next(waiting[0], f"{layer.label}: Undeliverable: {message.reason}")

    def _forget(self, layer: Layer, request: int, attempt: int) -> None:
        try:
            self.sent[layer].remove((request, attempt))
        except ValueError:
            pass  # already written off by a crash

    def _current(self, request: int, attempt: int) -> _Pending | None:
        pending = self.pending.get(request)
        if pending is None or pending.attempt != attempt:
            self.increment("late_replies")  # an escalated task's earlier layer answered after all
            return None
        return pending

    def _next(self, pending: _Pending, error: str, usage: tuple[tuple[Layer, int], ...] = ()) -> None:
        if pending.timer is not None:
            self.cancel_timer(pending.timer)
            pending.timer = None
        pending.attempts.append(Attempt(pending.layer, False, usage, time.monotonic() - pending.started, None, error))
        emit(logging.INFO, "router_escalation", self.path, layer=pending.layer.label, error=error)
        available = self.available()
        following = pending.decision.plan.after(pending.layer)
        while following is not None and following not in available:
            following = pending.decision.plan.after(following)
        if following is None:
            self._finish(pending)
        else:
            self._call(pending, following)

    def _finish(self, pending: _Pending) -> None:
        if pending.timer is not None:
            self.cancel_timer(pending.timer)
        del self.pending[pending.request]
        outcome = self.router.record(pending.decision, pending.attempts)
        self.send(pending.reply_to, self._result(pending.decision, pending.decision_us, pending.attempts, outcome))

    def _result(self, decision: Decision, decision_us: float, attempts: list[Attempt], outcome: Recorded) -> RouteResult:
        self.unsaved += 1
        if outcome.changes or self.unsaved >= self.settings.persist_every:
            self._save("; ".join(outcome.changes) or f"{self.unsaved} routed tasks")
        self.checkpoint(self._state())
        answered = attempts[-1] if attempts and attempts[-1].ok else None
        return RouteResult(
            text=decision.text, answer=None if answered is None else answered.answer,
            layer=None if answered is None else answered.layer.label, kind=decision.estimate.kind,
            private=decision.estimate.private, policy=decision.allowance.reason,
            reason=decision.plan.reason,
            plan=tuple(layer.label for layer in decision.plan.layers),
            attempts=tuple(AttemptReport(a.layer.label, a.ok, round(a.latency_s * 1000, 3), a.error) for a in attempts),
            tokens=outcome.cost.tokens, joules=outcome.cost.joules, money=outcome.cost.money,
            compiled=decision.compiled is not None, changes=outcome.changes, decision_us=round(decision_us, 2),
        )  # fmt: skip

    def _save(self, why: str, lock_timeout: float = 0.0) -> None:
        """Commit what was learned, without waiting for another writer: a busy repository is tried again later."""
        if not self.state_dir:
            return
        store = RouterStore(self.state_dir, lock_timeout=lock_timeout)
        try:
            try:
                self.base = store.save(self.router, why, expected=self.base)
            except BranchMoved as moved:
                # Another router (a `route` command beside this one) committed since. Its commit stays
                # in the branch's history, as the parent of this one: nothing is lost from git.
                emit(logging.WARNING, "router_branch_moved", self.path, reason=str(moved))
                head = store.history(1)
                self.base = store.save(self.router, why, expected=head[0][0] if head else None)
            self.unsaved = 0
        except StateError as exc:  # the checkpoint still holds it; the next save retries
            emit(logging.WARNING, "router_save_failed", self.path, reason=str(exc))

    def _state(self) -> dict[str, Any]:
        # Compiled handlers are committed whenever they change, so a restart reads them from git;
        # the checkpoint stays small however many there are.
        return {"learning": self.router.learner.to_dict(), "costs": self.router.ledger.to_dict(), "unsaved": self.unsaved, "base": self.base}

    @handler
    def stats(self, message: GetRouterStats) -> RouterStats:
        return RouterStats(
            routes=self.router.routes, compiled_hits=self.router.compiler.hits, handlers=len(self.router.compiler.handlers),
            layers=tuple(self.router.ledger.table()), kinds=self.router.learner.to_dict(),
            available=tuple(layer.label for layer in sorted(self.available())),
        )  # fmt: skip


def _layer_named(where: str) -> Layer | None:
    last = where.replace(".", "/").rsplit("/", 1)[-1]
    try:
        return Layer.parse(last)
    except ConfigError:
        return None


_LAYER_NUMBERS = frozenset(int(layer) for layer in Layer)


def _answer_problem(message: Answer) -> str:
    """What is wrong with a provider's answer, or "" (a bad one must not crash the router)."""
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (message.request, message.attempt, message.layer)):
        return "request, attempt and layer must be integers"
    if message.layer not in _LAYER_NUMBERS or not isinstance(message.text, str):
        return f"layer {message.layer!r} or its text is not one the router knows"
    confidence, latency = message.confidence, message.latency_s
    for value in (confidence, latency):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "confidence and latency must be finite numbers"
    if not (0.0 <= confidence <= 1.0 and latency >= 0):
        return f"confidence {confidence!r} is outside 0-1 or latency {latency!r} is negative"
    usage = message.usage
    if not isinstance(usage, tuple) or not all(_usage_ok(item) for item in usage):
        return "usage must be (layer, tokens) pairs"
    return ""


def _usage_ok(item: object) -> bool:
    if not isinstance(item, tuple) or len(item) != 2:
        return False
    layer, tokens = item
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in item)
    return ints and layer in _LAYER_NUMBERS and 0 <= tokens <= MAX_TOKENS
