"""``python run.py bench router``: the routing overhead, the share kept local, and the cost against always-cloud.

The workload is generated, mixed like the compute-stack design's task table
(shares of tasks per tier, TV first):

| share | tasks | lowest layer that can do them |
|---|---|---|
| 35% | device commands ("volume up", "channel 7") | L2 |
| 30% | viewing intents ("what should I watch now?", "something like that thriller, but funnier") | L3 |
| 15% | short questions ("who directed Alien") | L4; one in five really needs L6 |
| 10% | explanations and plans ("explain why the ending of Dune works") | L5; one in four can be done at L4 |
|  6% | code ("write a python function that ...") | L6 |
|  4% | critical decisions (medical, legal, money) | L7 |

Half the tasks are earlier tasks asked again (log-uniform over what was
asked before, so early tasks come back most), as people ask the same
things; the other half are new draws from the templates, which repeat too
(``distinct_tasks`` says how many different texts the workload has). Energy states vary: mostly plugged in, some solar peak, some
clean grid, some on battery (a tenth of those under 20%).

What is real and what is simulated: the router (policy, estimator, plans,
learning, compilation, costs) is the production code; L2 answers with the
real configured rules, and L3 with the real MiniLM intent classifier and its
confidence threshold. L4-L7 are simulated: a layer succeeds when it is at or
above the task's hidden *true* layer, otherwise it fails (a wrong or empty
answer), and 2% of calls fail at random as an unreachable provider would.
Token counts come from the task's text and a per-tier answer length, the
same for every layer, so the always-cloud baseline prices the same tokens.

It prints:

- ``decision_us_p50`` / ``decision_us_p99``: ``Router.decide`` alone (the
  routing overhead: checks, normalisation, compiled lookup, estimate,
  policy, plan), and ``l3_call_ms_p50``, one real L3 classification, for scale;
- ``share_local``: tasks answered at L2, L3 or L4, of tasks answered;
- ``cost_vs_always_cloud``: the money of our routing (every attempt,
  failed ones included) divided by the money of sending every task to L6,
  on the same workload in the same run; ``energy_vs_always_cloud`` likewise
  for joules drawn on the device;
- ``compiled_hit_rate``: tasks answered by a compiled L2 handler;
- ``answered_rate``, ``escalations_per_task``, ``tasks``.

Targets: ``decision_us_p50`` <= 50 and ``cost_vs_always_cloud`` <= 0.5.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..brain import shared_embedder
from ..router.costs import Cost, layer_cost
from ..router.features import normalise
from ..router.intents import IntentClassifier
from ..router.layers import Layer
from ..router.policy import EnergyState
from ..router.routing import Attempt, Decision, Router
from ..router.rules import Rules
from ..router.settings import RouterSettings
from ..runtime import load_config

CONFIG = Path(__file__).resolve().parents[2] / "config" / "router"
Progress = Callable[[str], None] | None
ALL = frozenset(Layer)
RANDOM_FAILURE = 0.02

# (share, tier, answer tokens, templates); {x} is filled from FILLERS.
TIERS: tuple[tuple[float, str, int, tuple[str, ...]], ...] = (
    (0.35, "command", 4, ("volume up", "volume down", "mute", "channel {n}", "pause", "play", "subtitles on",
                          "subtitles off", "turn off in {n} minutes", "go to channel {n}")),
    (0.30, "tv", 12, ("what should I watch now?", "recommend something to watch tonight", "something like that {genre}, but funnier",
                      "find me something similar to {title}", "show me {genre} movies", "play the next episode",
                      "what's on TV right now?", "is {title} available?")),
    (0.15, "question", 60, ("who directed {title}?", "when was {title} released?", "who plays the lead in {title}?",
                            "how long is {title}?", "what year did {person} win an oscar?")),
    (0.10, "reasoning", 220, ("explain why the ending of {title} works", "compare {title} and {title2} step by step",
                              "summarise the plot of {title}", "plan a {genre} movie marathon for the weekend")),
    (0.06, "code", 300, ("write a python function that ranks {genre} films by rating",
                         "fix this sql query that lists episodes", "refactor my regex for {title}")),
    (0.04, "critical", 150, ("is it legal to record {title} from broadcast tv?", "what dosage of melatonin helps me sleep after {title}?",
                             "should I invest in the studio that made {title}?")),
)
FILLERS = {
    "genre": ("thriller", "comedy", "drama", "horror", "documentary", "western", "anime", "romance"),
    "title": tuple(f"{first} {second}" for first in ("The Silent", "Red", "Last", "Midnight", "Lost", "Golden", "Broken",
                                                      "Northern", "Wild", "Paper", "Iron", "Hidden")
                   for second in ("River", "Empire", "Garden", "Signal", "Harbor", "Winter", "Machine", "Orchard",
                                  "Crown", "Station", "Frontier", "Tide")),
    "title2": ("Blade Runner", "Arrival", "Vertigo", "Toy Story"),
    "person": ("Meryl Streep", "Tom Hanks", "Kate Winslet", "Denzel Washington"),
}


@dataclass(frozen=True, slots=True)
class Task:
    text: str
    tier: str
    needs: Layer          # the lowest layer that really can do it (hidden from the router)
    answer_tokens: int
    energy: EnergyState


def generate(count: int, seed: int) -> list[Task]:
    rng = random.Random(seed)
    pool: list[Task] = []
    tasks = []
    for _ in range(count):
        if pool and rng.random() < 0.5:
            index = int(len(pool) ** rng.random()) - 1  # log-uniform over the pool: Zipf-like, early tasks repeat most
            tasks.append(_with_energy(pool[index], rng))
            continue
        task = _fresh(rng)
        pool.append(task)
        tasks.append(task)
    return tasks


def _fresh(rng: random.Random) -> Task:
    share, tier, tokens, templates = rng.choices(TIERS, weights=[t[0] for t in TIERS])[0]
    template = rng.choice(templates)
    text = template.format(n=rng.randint(1, 60), **{key: rng.choice(values) for key, values in FILLERS.items()})
    return Task(text, tier, _true_layer(tier, rng), tokens, _energy(rng))


def _true_layer(tier: str, rng: random.Random) -> Layer:
    if tier == "question" and rng.random() < 0.2:
        return Layer.LARGE
    if tier == "reasoning" and rng.random() < 0.25:
        return Layer.SMALL
    return {"command": Layer.RULES, "tv": Layer.TINY, "question": Layer.SMALL, "reasoning": Layer.MEDIUM,
            "code": Layer.LARGE, "critical": Layer.CONSENSUS}[tier]


def _energy(rng: random.Random) -> EnergyState:
    roll = rng.random()
    if roll < 0.70:
        return EnergyState()
    if roll < 0.80:
        return EnergyState(solar_peak=True, carbon_g_per_kwh=180.0)
    if roll < 0.90:
        return EnergyState(carbon_g_per_kwh=60.0)
    return EnergyState(on_battery=True, battery_pct=rng.choice((12.0, 30.0, 35.0, 40.0, 45.0, 25.0, 38.0, 42.0, 47.0, 33.0)))


def _with_energy(task: Task, rng: random.Random) -> Task:
    return Task(task.text, task.tier, task.needs, task.answer_tokens, _energy(rng))


class Simulation:
    """L2 and L3 for real; L4-L7 by the task's hidden true layer."""

    def __init__(self, settings: RouterSettings, seed: int) -> None:
        self.rules = Rules(settings.rules)
        self.embedder = shared_embedder()
        self.classifier = IntentClassifier(self.embedder.embed_many, settings.intents)
        self.floor = settings.layer(Layer.TINY).min_confidence
        self.rng = random.Random(seed)
        self._l3: dict[str, tuple[str, float]] = {}
        self.l3_ms: list[float] = []

    def tokens(self, task: Task) -> int:
        return math.ceil(len(task.text) / 4) + task.answer_tokens

    def attempt(self, task: Task, layer: Layer) -> Attempt:
        if layer == Layer.RULES:
            found = self.rules.answer(normalise(task.text))
            return Attempt(layer, found is not None, (), 0.0, found[1] if found else None)
        if layer == Layer.TINY:
            intent, confidence = self._classify(task.text)
            ok = confidence >= self.floor and task.needs <= Layer.TINY
            return Attempt(layer, ok, ((layer, 0),), 0.004, f"intent: {intent}" if ok else None)
        if self.rng.random() < RANDOM_FAILURE:
            return Attempt(layer, False, (), 0.0, None, "unreachable")
        members = (Layer.SMALL, Layer.MEDIUM, Layer.LARGE) if layer == Layer.CONSENSUS else (layer,)
        usage = tuple((member, self.tokens(task)) for member in members)
        ok = layer >= task.needs
        return Attempt(layer, ok, usage, 0.1 * int(layer), f"answer: {normalise(task.text)}" if ok else None)

    def _classify(self, text: str) -> tuple[str, float]:
        if text not in self._l3:
            began = time.perf_counter()
            self._l3[text] = self.classifier.classify(self.embedder.embed(text))
            self.l3_ms.append((time.perf_counter() - began) * 1000)
        return self._l3[text]


def run(quick: bool = False, progress: Progress = None, seed: int = 7) -> dict[str, object]:
    say = progress or (lambda _: None)
    config = load_config(CONFIG)
    settings = RouterSettings.from_table(config.tables.get("router", {}), file=config.sources.get("router"))
    count = 2_000 if quick else 20_000
    tasks = generate(count, seed)
    say(f"router bench: {count} generated tasks; L2 rules and L3 MiniLM intents real, L4-L7 simulated")
    simulation = Simulation(settings, seed)
    router = Router(settings)
    decisions_ns: list[int] = []
    ours, cloud = Cost(), Cost()
    answered, local, escalations = 0, 0, 0
    answered_by: Counter[str] = Counter()
    large = settings.layer(Layer.LARGE)
    for task in tasks:
        began = time.perf_counter_ns()
        decision = router.decide(task.text, task.energy, ALL)
        decisions_ns.append(time.perf_counter_ns() - began)
        attempts = _play(decision, task, simulation)
        ours = ours + router.record(decision, attempts).cost
        cloud = cloud + layer_cost(large, simulation.tokens(task), settings.electricity_per_kwh)
        escalations += max(0, len(attempts) - 1)
        if attempts and attempts[-1].ok:
            answered += 1
            answered_by[attempts[-1].layer.label] += 1
            local += attempts[-1].layer <= Layer.SMALL
    result = _summary(decisions_ns, simulation, ours, cloud, answered, local, escalations, router, len(tasks),
                      len({task.text for task in tasks}))
    result["answered_by"] = dict(sorted(answered_by.items()))
    return result


def _play(decision: Decision, task: Task, simulation: Simulation) -> list[Attempt]:
    if decision.compiled is not None:
        return [Attempt(Layer.RULES, True, (), 0.0, decision.compiled.answer)]
    attempts = []
    for layer in decision.plan.layers:
        attempt = simulation.attempt(task, layer)
        attempts.append(attempt)
        if attempt.ok:
            break
    return attempts


def _summary(decisions_ns: list[int], simulation: Simulation, ours: Cost, cloud: Cost, answered: int, local: int,
             escalations: int, router: Router, count: int, distinct: int) -> dict[str, object]:
    ordered = sorted(decisions_ns)
    return {
        "tasks": count,
        "distinct_tasks": distinct,
        "decision_us_p50": round(statistics.median(ordered) / 1000, 2),
        "decision_us_p99": round(ordered[int(0.99 * (len(ordered) - 1))] / 1000, 2),
        "l3_call_ms_p50": round(statistics.median(simulation.l3_ms), 2) if simulation.l3_ms else None,
        "share_local": round(local / answered, 4) if answered else 0.0,
        "cost_vs_always_cloud": round(ours.money / cloud.money, 4) if cloud.money else None,
        "energy_vs_always_cloud": round(ours.joules / cloud.joules, 4) if cloud.joules else None,
        "money_ours": round(ours.money, 4),
        "money_always_cloud": round(cloud.money, 4),
        "compiled_hit_rate": round(router.compiler.hits / count, 4),
        "compiled_handlers": len(router.compiler.handlers),
        "answered_rate": round(answered / count, 4),
        "escalations_per_task": round(escalations / count, 4),
        "first_choices": {kind: None if s.first is None else s.first.label for kind, s in sorted(router.learner.kinds.items())},
    }
