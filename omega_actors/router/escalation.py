"""The plan: which layers a task tries, in order, and why.

A plan is the task's *usable* layers (allowed by the energy policy, available
now, and local when the task is private) from its starting layer upwards.
Escalation is simply the next layer of the plan, so it can never skip a
layer that policy allows and that is available; that is the property the
tests check.

The starting layer is, in order of precedence:

- L7 for a ``critical`` task (a cheaper answer is not acceptable, however
  confident);
- one usable layer below the learned first choice when the learner wants a
  probe (de-escalation);
- the kind's learned first choice (it may be above the policy's soft
  ``start_cap``: lower layers have been failing this kind);
- otherwise the estimate, capped by the policy's ``start_cap``.

If nothing usable is as high as the start, the plan is the single highest
usable layer, and the reason says the task is capped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .features import Estimate
from .layers import Layer
from .policy import Allowance


@dataclass(frozen=True, slots=True)
class Plan:
    layers: tuple[Layer, ...]
    reason: str
    probing: bool = False

    def after(self, layer: Layer) -> Layer | None:
        """The layer to escalate to when ``layer`` failed, or None at the top."""
        index = self.layers.index(layer)
        return self.layers[index + 1] if index + 1 < len(self.layers) else None


def usable_layers(estimate: Estimate, allowance: Allowance, available: frozenset[Layer], local: frozenset[Layer]) -> list[Layer]:
    usable = allowance.allowed & available
    if estimate.private:
        usable = usable & local
    return sorted(usable)


def plan_route(
    estimate: Estimate,
    allowance: Allowance,
    available: frozenset[Layer],
    local: frozenset[Layer],
    first_choice: Layer | None = None,
    probe: bool = False,
) -> Plan:
    usable = usable_layers(estimate, allowance, available, local)
    if not usable:
        where = " local" if estimate.private else ""
        return Plan((), f"no{where} layer is both allowed ({allowance.reason}) and available")
    target, why, probing = _start(estimate, allowance, usable, first_choice, probe)
    rest = tuple(layer for layer in usable if layer >= target)
    if rest:
        return Plan(rest, why, probing)
    best = usable[-1]
    return Plan((best,), f"{why}; capped at {best.label}, the highest usable ({allowance.reason})", False)


def _start(
    estimate: Estimate, allowance: Allowance, usable: list[Layer], first_choice: Layer | None, probe: bool
) -> tuple[Layer, str, bool]:
    if estimate.kind == "critical":
        return Layer.CONSENSUS, estimate.reason, False
    if first_choice is not None:
        below = [layer for layer in usable if layer < first_choice]
        if probe and below:
            return below[-1], f"probing {below[-1].label} for {estimate.kind!r} (learned first choice {first_choice.label})", True
        return first_choice, f"learned: {estimate.kind!r} tasks succeed at {first_choice.label}", False
    if estimate.layer > allowance.start_cap:
        return allowance.start_cap, f"{estimate.reason}, but {allowance.reason}", False
    return estimate.layer, estimate.reason, False
