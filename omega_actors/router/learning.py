"""Learned routing: which layer each kind of task should start at.

Per kind, a small state machine:

- **promote**: when tasks keep escalating and succeeding at the same layer
  (``promote_after`` in a row), that layer becomes the kind's first choice:
  the attempts below it were wasted;
- **demote**: when the first choice fails ``demote_after`` times in a row,
  it is forgotten and the estimate decides again;
- **probe** (de-escalation): after ``probe_every`` successes at the first
  choice, tasks of the kind start one usable layer lower; if that layer
  succeeds ``promote_after`` times in a row it becomes the first choice,
  and its first failure ends the probe.

It also keeps, per kind and layer, how many attempts succeeded and failed,
which ``run.py route stats`` shows. Everything is plain data, saved as JSON
in the state repository (see :mod:`.store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .escalation import Plan
from .layers import Layer
from .settings import LearningSettings


@dataclass(slots=True)
class KindState:
    first: Layer | None = None
    run_layer: Layer | None = None
    run: int = 0
    fails: int = 0
    since_probe: int = 0
    probe: bool = False
    trial_run: int = 0
    outcomes: dict[int, list[int]] = field(default_factory=dict)  # layer -> [succeeded, failed]


class Learner:
    def __init__(self, settings: LearningSettings, kinds: dict[str, KindState] | None = None) -> None:
        self.settings = settings
        self.kinds: dict[str, KindState] = kinds or {}

    def first_choice(self, kind: str) -> Layer | None:
        state = self.kinds.get(kind)
        return None if state is None else state.first

    def probe_due(self, kind: str) -> bool:
        state = self.kinds.get(kind)
        return state is not None and state.probe

    def record(self, kind: str, plan: Plan, attempts: Sequence[tuple[Layer, bool]]) -> str | None:
        """Learn from one routed task; returns a sentence when the kind's first choice changed."""
        if not attempts:
            return None
        state = self.kinds.setdefault(kind, KindState())
        for layer, ok in attempts:
            state.outcomes.setdefault(int(layer), [0, 0])[0 if ok else 1] += 1
        start, started_ok = attempts[0]
        final, ok = attempts[-1]
        if plan.probing:
            return self._probed(kind, state, start, started_ok)
        change = self._at_first_choice(kind, state, start, started_ok)
        if ok and final > start:
            return self._escalated(kind, state, final) or change
        if started_ok:
            state.run_layer, state.run = None, 0  # the start worked: no layer above has proven itself
        return change

    def _probed(self, kind: str, state: KindState, layer: Layer, ok: bool) -> str | None:
        if not ok:
            state.probe, state.trial_run, state.since_probe = False, 0, 0
            return None
        state.trial_run += 1
        if state.trial_run < self.settings.promote_after:
            return None
        state.first, state.probe, state.trial_run, state.since_probe, state.fails = layer, False, 0, 0, 0
        return f"{kind!r}: {layer.label} keeps succeeding one layer lower; it is now the first choice"

    def _at_first_choice(self, kind: str, state: KindState, start: Layer, ok: bool) -> str | None:
        if state.first is None or start != state.first:
            return None
        if ok:
            state.fails = 0
            state.since_probe += 1
            state.probe = state.since_probe >= self.settings.probe_every
            return None
        state.fails += 1
        if state.fails < self.settings.demote_after:
            return None
        forgotten, state.first, state.fails, state.since_probe, state.probe, state.trial_run = state.first, None, 0, 0, False, 0
        return f"{kind!r}: {forgotten.label} failed {self.settings.demote_after} times in a row; back to the estimate"

    def _escalated(self, kind: str, state: KindState, layer: Layer) -> str | None:
        state.run = state.run + 1 if state.run_layer == layer else 1
        state.run_layer = layer
        if state.run < self.settings.promote_after or state.first == layer:
            return None
        state.first, state.run, state.fails, state.since_probe, state.probe, state.trial_run = layer, 0, 0, 0, False, 0
        return f"{kind!r}: escalated tasks keep succeeding at {layer.label}; it is now the first choice"

    # Saved as plain JSON-able data.

    def to_dict(self) -> dict[str, Any]:
        return {kind: _state_dict(state) for kind, state in sorted(self.kinds.items())}

    @classmethod
    def from_dict(cls, settings: LearningSettings, data: dict[str, Any]) -> Learner:
        return cls(settings, {kind: _state_from(raw) for kind, raw in data.items()})


def _state_dict(state: KindState) -> dict[str, Any]:
    raw = asdict(state)
    raw["first"] = None if state.first is None else int(state.first)
    raw["run_layer"] = None if state.run_layer is None else int(state.run_layer)
    raw["outcomes"] = {str(layer): counts for layer, counts in sorted(state.outcomes.items())}
    return raw


def _state_from(raw: dict[str, Any]) -> KindState:
    return KindState(
        first=None if raw.get("first") is None else Layer(raw["first"]),
        run_layer=None if raw.get("run_layer") is None else Layer(raw["run_layer"]),
        run=int(raw.get("run", 0)),
        fails=int(raw.get("fails", 0)),
        since_probe=int(raw.get("since_probe", 0)),
        probe=bool(raw.get("probe", False)),
        trial_run=int(raw.get("trial_run", 0)),
        outcomes={int(layer): [int(counts[0]), int(counts[1])] for layer, counts in raw.get("outcomes", {}).items()},
    )
