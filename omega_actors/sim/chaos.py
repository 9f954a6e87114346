"""Fault injection for a simulated run (``--chaos``), the same for the demo and the evaluation.

Before each step, :meth:`Chaos.before_step`:

- takes about one TV in fifty offline for 1-4 steps (they keep watching and
  learning; they do not sync, and catch up when they are back);
- then, on the tcp base, ``kill -9``s a random worker or constellation
  process with probability 0.6; otherwise (and on the simple base), with
  probability 0.6, makes a random worker's handler raise part-way through
  its views.

What it did is kept as ``events`` ((time, kind, detail)) for the report.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from omega_actors.sim.driver import FleetRun

OFFLINE_STEPS = (1, 4)


@dataclass
class Chaos:
    fleet: FleetRun
    rng: random.Random
    enabled: bool = True
    offline: dict[str, int] = field(default_factory=dict)  # tv -> the step it is back
    events: list[tuple[float, str, str]] = field(default_factory=list)
    restarts_seen: int = 0

    def before_step(self, step: int, at: float, views: int) -> dict[int, int]:
        """This step's faults: worker -> the number of views after which its handler raises."""
        if not self.enabled:
            return {}
        self._offline(step, at)
        options = self.fleet.options
        if options.base == "tcp" and self.rng.random() < 0.6:
            victim = self.fleet.kill_random(self.rng)
            if victim:
                self.events.append((at, "fault", f"kill -9 {victim}"))
            return {}
        if self.rng.random() >= 0.6:
            return {}
        worker = self.rng.randrange(options.workers)
        self.fleet.faults.append(("raise", f"worker-{worker}"))
        self.events.append((at, "fault", f"handler raised in worker-{worker}"))
        return {worker: self.rng.randrange(max(views // options.workers, 1))}

    def down(self, step: int) -> list[str]:
        return [tv for tv, back in self.offline.items() if back > step]

    def _offline(self, step: int, at: float) -> None:
        tvs = self.fleet.options.tvs
        for _ in range(max(1, len(tvs) // 50)):
            tv = self.rng.choice(tvs)
            if self.offline.get(tv, -1) <= step:
                self.offline[tv] = step + self.rng.randint(*OFFLINE_STEPS)
                self.events.append((at, "offline", f"{tv} until step {self.offline[tv]}"))

    def restarts(self, at: float) -> None:
        """Add a restart event for each restart since the last call."""
        total = self.fleet.restarts()
        self.events.extend((at, "restart", f"restart {n + 1}") for n in range(self.restarts_seen, total))
        self.restarts_seen = max(self.restarts_seen, total)
