"""Cost accounting per layer: calls, latency, tokens, energy (J) and money.

An attempt's cost comes from its layer's configured prices: energy is
``joules_per_call + joules_per_1k_tokens * tokens / 1000``, and money is
the layer's bill plus that energy at ``electricity_per_kwh``, so local
layers are cheap but never free. A failed attempt costs the tokens it
reports; one that reports none (a refused connection, an open circuit, a
timeout) is counted as a call but costs nothing. A consensus attempt costs
each member's call.

The ledger adds costs exactly: totals are sums of the per-layer rows, which
are sums of the attempts (a property test checks it). Latency is kept as a
log-spaced histogram, so p50 and p99 need no list of every call.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .layers import Layer
from .settings import LayerSettings

JOULES_PER_KWH = 3_600_000.0
# Latency buckets: 10 µs to 1,000 s (past every layer's timeout), 10 per decade.
_BOUNDS = tuple(10 ** (exp / 10) * 1e-5 for exp in range(81))


@dataclass(frozen=True, slots=True)
class Cost:
    tokens: int = 0
    joules: float = 0.0
    money: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.tokens + other.tokens, self.joules + other.joules, self.money + other.money)


def layer_cost(settings: LayerSettings, tokens: int, electricity_per_kwh: float) -> Cost:
    joules = settings.joules_per_call + settings.joules_per_1k_tokens * tokens / 1000
    money = settings.money_per_call + settings.money_per_1k_tokens * tokens / 1000 + joules * electricity_per_kwh / JOULES_PER_KWH
    return Cost(tokens, joules, money)


def attempt_cost(
    layer: Layer, usage: Iterable[tuple[Layer, int]], layers: Mapping[Layer, LayerSettings], electricity_per_kwh: float
) -> Cost:
    """What one attempt at ``layer`` cost, given the tokens each model in it used."""
    total = Cost()
    own = False
    for member, tokens in usage:
        total = total + layer_cost(layers[member], tokens, electricity_per_kwh)
        own = own or member == layer
    if not own:  # a consensus, or an attempt that used no model: the layer's own per-call price
        total = total + layer_cost(layers[layer], 0, electricity_per_kwh)
    return total


@dataclass(slots=True)
class LayerRow:
    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    tokens: int = 0
    joules: float = 0.0
    money: float = 0.0
    latency_s: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS) + 1))

    def percentile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` of this layer's latencies, in seconds."""
        if self.calls == 0:
            return None
        rank, seen = q * self.calls, 0
        for index, count in enumerate(self.histogram):
            seen += count
            if seen >= rank and count:
                return _BOUNDS[min(index, len(_BOUNDS) - 1)]
        return _BOUNDS[-1]


class Ledger:
    def __init__(self, rows: dict[Layer, LayerRow] | None = None) -> None:
        self.rows: dict[Layer, LayerRow] = rows or {}

    def add(self, layer: Layer, ok: bool, cost: Cost, latency_s: float) -> None:
        row = self.rows.setdefault(layer, LayerRow())
        row.calls += 1
        row.succeeded += ok
        row.failed += not ok
        row.tokens += cost.tokens
        row.joules += cost.joules
        row.money += cost.money
        row.latency_s += latency_s
        row.histogram[bisect.bisect_left(_BOUNDS, latency_s)] += 1

    def total(self) -> Cost:
        cost = Cost()
        for row in self.rows.values():
            cost = cost + Cost(row.tokens, row.joules, row.money)
        return cost

    def table(self) -> list[dict[str, Any]]:
        """One row per layer used, cheapest layer first: what ``route stats`` prints."""
        rows = []
        for layer, row in sorted(self.rows.items()):
            p50 = row.percentile(0.5)
            rows.append({
                "layer": layer.label, "calls": row.calls, "succeeded": row.succeeded, "failed": row.failed,
                "latency_ms_p50": None if p50 is None else round(p50 * 1000, 3),
                "latency_ms_mean": round(row.latency_s / row.calls * 1000, 3) if row.calls else None,
                "tokens": row.tokens, "joules": round(row.joules, 4), "money": round(row.money, 6),
            })  # fmt: skip
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {str(int(layer)): {
            "calls": r.calls, "succeeded": r.succeeded, "failed": r.failed, "tokens": r.tokens, "joules": r.joules,
            "money": r.money, "latency_s": r.latency_s, "histogram": {str(i): c for i, c in enumerate(r.histogram) if c},
        } for layer, r in sorted(self.rows.items())}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ledger:
        rows = {}
        for key, raw in data.items():
            row = LayerRow(
                int(raw["calls"]), int(raw["succeeded"]), int(raw["failed"]), int(raw["tokens"]),
                float(raw["joules"]), float(raw["money"]), float(raw["latency_s"]),
            )  # fmt: skip
            for index, count in raw.get("histogram", {}).items():
                row.histogram[int(index)] = int(count)
            rows[Layer(int(key))] = row
        return cls(rows)
