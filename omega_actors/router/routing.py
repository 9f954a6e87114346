"""The router: decide where a task goes, and learn from how it went. Plain code, no actors.

::

    router = Router(RouterSettings())
    decision = router.decide("what should I watch now?", EnergyState(), available=frozenset(Layer))
    decision.plan.layers          # (L3 tiny, L4 small): try L3 first, escalate to L4
    router.record(decision, [Attempt(Layer.TINY, True, ((Layer.TINY, 0),), 0.004, "intent: recommend")])

``decide`` is the hot path (a benchmark holds it to 50 µs at p50): input
checks, normalisation, a compiled-handler lookup, the estimator's regular
expressions, the energy policy and the plan. ``record`` does the
bookkeeping after the answer: the cost ledger, the learner and the
compiler. The actor shell (:mod:`omega_actors.actors.router`) calls the
providers in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import RouterInputError
from .compiler import Compiler, Handler
from .costs import Cost, Ledger, attempt_cost
from .escalation import Plan, plan_route
from .features import Estimate, estimate, normalise
from .layers import Layer
from .learning import Learner
from .policy import Allowance, EnergyState, energy_policy
from .rules import Rules
from .settings import RouterSettings


@dataclass(frozen=True, slots=True)
class Decision:
    text: str
    key: str                    # the normalised task
    estimate: Estimate
    allowance: Allowance
    plan: Plan
    compiled: Handler | None    # answered by a compiled L2 handler: no provider is called
    audit: bool = False         # a handler exists, but this hit is routed normally to check it


@dataclass(frozen=True, slots=True)
class Attempt:
    layer: Layer
    ok: bool
    usage: tuple[tuple[Layer, int], ...]   # tokens per model the attempt used
    latency_s: float
    answer: str | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one routed task cost, and what it taught the router."""

    cost: Cost
    changes: tuple[str, ...]    # what the learner and the compiler changed, in sentences


class Router:
    def __init__(
        self, settings: RouterSettings, learner: Learner | None = None, compiler: Compiler | None = None, ledger: Ledger | None = None
    ) -> None:
        self.settings = settings
        self.rules = Rules(settings.rules)
        self.learner = learner or Learner(settings.learning)
        self.compiler = compiler or Compiler(settings.compile)
        self.ledger = ledger or Ledger()
        self.local = frozenset(layer for layer, s in settings.layers.items() if s.local)
        self.routes = 0
        self._policies: dict[EnergyState, Allowance] = {}

    def check(self, text: object) -> str:
        """The task, or a RouterInputError saying what is accepted."""
        if not isinstance(text, str):
            raise RouterInputError(f"a task must be text; got {type(text).__name__}")
        if len(text) > self.settings.max_input_chars:
            raise RouterInputError(
                f"a task may be at most {self.settings.max_input_chars} characters (router.max_input_chars); got {len(text)}"
            )
        if not text.strip():
            raise RouterInputError("a task must not be empty")
        return text

    def allowance(self, energy: EnergyState) -> Allowance:
        allowance = self._policies.get(energy)
        if allowance is None:
            if len(self._policies) > 1024:  # energy states are few; a caller inventing them must not grow this forever
                self._policies.clear()
            allowance = self._policies[energy] = energy_policy(energy, self.settings.energy)
        return allowance

    def decide(self, text: str, energy: EnergyState, available: frozenset[Layer]) -> Decision:
        text = self.check(text)
        key = normalise(text)
        allowance = self.allowance(energy)
        handler = self.compiler.lookup(key)
        if handler is not None and Layer.RULES in available:
            audit = self.compiler.hit(key)
            if not audit:
                plan = Plan((Layer.RULES,), f"compiled handler (from {handler.source.label}, {len(handler.evidence)} identical answers)")
                return Decision(text, key, Estimate(Layer.RULES, handler.kind, False, plan.reason), allowance, plan, handler)
        est = estimate(key, self.rules.match)
        first = self.learner.first_choice(est.kind)
        plan = plan_route(est, allowance, available, self.local, first, self.learner.probe_due(est.kind))
        return Decision(text, key, est, allowance, plan, None, audit=handler is not None)

    def record(self, decision: Decision, attempts: Sequence[Attempt]) -> Recorded:
        """Account for every attempt and learn from the task's outcome."""
        self.routes += 1
        cost = Cost()
        for attempt in attempts:
            cost = cost + self.account(attempt)
        if decision.compiled is not None:
            return Recorded(cost, ())
        changes = []
        learned = self.learner.record(decision.estimate.kind, decision.plan, [(a.layer, a.ok) for a in attempts])
        if learned:
            changes.append(learned)
        final = attempts[-1] if attempts else None
        if final is not None and final.ok and final.answer is not None:
            compiled = self.compiler.observe(decision.text, decision.key, final.answer, final.layer, decision.estimate.kind)
            if compiled:
                changes.append(compiled)
        return Recorded(cost, tuple(changes))

    def account(self, attempt: Attempt) -> Cost:
        """Put one attempt in the ledger (also one that answered after the task moved on); returns its cost."""
        spent = self._cost(attempt)
        self.ledger.add(attempt.layer, attempt.ok, spent, attempt.latency_s)
        return spent

    def _cost(self, attempt: Attempt) -> Cost:
        # A failure that reports no usage (refused connection, open circuit, no rule) drew nothing worth pricing.
        if not attempt.ok and not attempt.usage:
            return Cost()
        return attempt_cost(attempt.layer, attempt.usage, self.settings.layers, self.settings.electricity_per_kwh)
