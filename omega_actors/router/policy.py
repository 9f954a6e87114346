"""The energy-aware policy: which layers a task may use, as a pure function of the energy state.

From the compute-stack design, checked in this order:

- on battery below ``tiny_only_below_pct`` (20%): L2-L3 only, a hard ceiling;
- on battery below ``prefer_small_below_pct`` (50%): start at L4 at most, and
  L5 is off (a local GPU drains the battery); a failure may still escalate to
  L6-L7, which cost the device only its radio;
- otherwise every layer is allowed, and the highest *first* layer is L4
  ("prefer local"), L5 at a solar peak ("allow medium"), L6 when the grid's
  carbon intensity is under ``clean_grid_below_g`` ("allow large").

``start_cap`` is a preference, not a ceiling: a task that fails below it
escalates past it, and a kind the router has learned needs a higher layer
starts there. ``allowed`` is the ceiling nothing passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError
from .layers import ALL_LAYERS, Layer
from .settings import EnergyThresholds


@dataclass(frozen=True, slots=True)
class EnergyState:
    on_battery: bool = False
    battery_pct: float = 100.0
    solar_peak: bool = False
    carbon_g_per_kwh: float | None = None   # None: unknown, so never "clean"

    def __post_init__(self) -> None:
        for key, flag in (("on_battery", self.on_battery), ("solar_peak", self.solar_peak)):
            if not isinstance(flag, bool):
                raise ConfigError(f"expected true or false; got {flag!r}", key=key)
        pct = self.battery_pct
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0.0 <= pct <= 100.0:
            raise ConfigError(f"expected a battery level from 0 to 100 (%); got {pct!r}", key="battery")
        carbon = self.carbon_g_per_kwh
        if carbon is not None and (isinstance(carbon, bool) or not isinstance(carbon, (int, float)) or not (0.0 <= carbon < math.inf)):
            raise ConfigError(f"expected a carbon intensity >= 0 g/kWh; got {carbon!r}", key="carbon")


@dataclass(frozen=True, slots=True)
class Allowance:
    allowed: frozenset[Layer]
    start_cap: Layer
    regime: str
    reason: str


_TINY = frozenset({Layer.RULES, Layer.TINY})
_NO_GPU = frozenset(ALL_LAYERS) - {Layer.MEDIUM}
_EVERY = frozenset(ALL_LAYERS)


def energy_policy(state: EnergyState, limits: EnergyThresholds) -> Allowance:
    """The layers ``state`` allows, the highest a task may start at, and why."""
    pct = state.battery_pct
    if state.on_battery and pct < limits.tiny_only_below_pct:
        return Allowance(_TINY, Layer.TINY, "tiny_only", f"on battery at {pct:g}% (< {limits.tiny_only_below_pct:g}%): L2-L3 only")
    if state.on_battery and pct < limits.prefer_small_below_pct:
        why = f"on battery at {pct:g}% (< {limits.prefer_small_below_pct:g}%): start at L4 at most, L5 off"
        return Allowance(_NO_GPU, Layer.SMALL, "prefer_small", why)
    carbon = state.carbon_g_per_kwh
    if carbon is not None and carbon < limits.clean_grid_below_g:
        return Allowance(_EVERY, Layer.LARGE, "allow_large", f"grid at {carbon:g} g/kWh (< {limits.clean_grid_below_g:g}): L6 allowed first")
    if state.solar_peak:
        return Allowance(_EVERY, Layer.MEDIUM, "allow_medium", "solar peak: L5 allowed first")
    return Allowance(_EVERY, Layer.SMALL, "prefer_local", "prefer local: start at L4 at most")
