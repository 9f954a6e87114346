"""``python run.py bench runtime``: the runtime's cost over raw Thespian.

Keys of the JSON result (the last line printed):

- ``pingpong_ratio_simple`` / ``pingpong_ratio_tcp``: round-trip throughput
  of two omega actors under a supervisor divided by that of two raw Thespian
  actors at the same depth below the admin, on the same base, in the same run
  (1.0 means no overhead). Thespian itself is slower for actors created by
  actors than for actors the admin creates, so ``..._toplevel`` also divides
  by raw actors the admin created directly;
- ``restart_ms_simple_p50`` / ``restart_ms_tcp_p50``: from telling a worker to
  crash to its next instance answering a message sent to its registered name;
- ``create_ms_tcp_p50``: a raw Thespian ``createActor`` from outside on TCP,
  the yardstick for the TCP restart (target: restart <= 2 x create);
- ``signing_cost_pingpong_tcp`` / ``signing_cost_restart_tcp``: what signing
  and checking every frame costs (the default), against a system with
  ``[cluster] signing = false``, both measured in this run, signed and
  unsigned systems taking turns: 1 - signed/unsigned ping-pong throughput
  (target: <= 0.15, ``signing_target_met``), and signed/unsigned restart - 1.

A tcp system signs every frame by default, and the raw Thespian baseline
started in the same process uses the same transport (Thespian's serializer
is one per process), so the ping-pong ratios compare the runtime's own work.

Each figure is the median of several rounds; raw and omega rounds alternate
so that a noisy neighbour hits both.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..runtime import Actor, ClusterConfig, Runtime, SupervisorSpec, SystemConfig, handler
from ..runtime.system import free_port
from . import raw_thespian

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Pong:
    pass


@dataclass(frozen=True)
class Go:
    rounds: int
    target: Any


@dataclass(frozen=True)
class Done:
    seconds: float


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Who:
    pass


class Ponger(Actor):
    @handler
    def ping(self, message: Ping) -> Pong:
        return Pong()


class Pinger(Actor):
    def __init__(self) -> None:
        self.left = 0

    @handler
    def go(self, message: Go) -> None:
        self.asker, self.target, self.left = self.sender, message.target, message.rounds
        self.t0 = time.perf_counter()
        self.send(self.target, Ping())

    @handler
    def pong(self, message: Pong) -> None:
        self.left -= 1
        if self.left:
            self.send(self.target, Ping())
        else:
            self.send(self.asker, Done(time.perf_counter() - self.t0))


class Victim(Actor):
    @handler
    def crash(self, message: Crash) -> None:
        raise RuntimeError("crash on request")

    @handler
    def who(self, message: Who) -> tuple[int, int]:
        return os.getpid(), id(self)


ROUNDS = {"simple": 20000, "tcp": 1000}
OMEGA_DEPTH = 2  # guardian (created by the admin), the application root, then its workers


def run(quick: bool = False, progress: Progress = None) -> dict[str, float | bool]:
    say = progress or (lambda text: None)
    rounds = 3 if quick else 7
    result: dict[str, float | bool] = {}
    with tempfile.TemporaryDirectory(prefix="omega-bench-") as data:
        for base in ("simple", "tcp"):
            say(f"{base}: ping-pong, {rounds} rounds each of omega, raw nested and raw top-level")
            result.update(_pingpong(base, rounds, quick, data))
            say(f"{base}: restart latency")
            result[f"restart_ms_{base}_p50"] = _restart_ms(base, 5 if quick else 25, data)
        say("tcp: raw createActor")
        result["create_ms_tcp_p50"] = _create_ms(5 if quick else 25)
        say("tcp: signing every frame, against signing = false (taking turns)")
        result.update(_signing_cost(rounds, quick, data, result["restart_ms_tcp_p50"]))
    result["restart_over_create_tcp"] = round(result["restart_ms_tcp_p50"] / result["create_ms_tcp_p50"], 2)
    return result


SIGNING_TARGET = 0.15  # at most this share of ping-pong throughput lost to signing


def _signing_cost(rounds: int, quick: bool, data: str, restart_signed_ms: float) -> dict[str, float | bool]:
    n = ROUNDS["tcp"] // (5 if quick else 1)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for turn in range(max(2, rounds // 2)):
        for signing in (True, False):  # one system at a time: a process's transport follows the system it started last
            runtime = Runtime.start(SupervisorSpec(intensity=0), _tcp(data, signing))
            try:
                rates[signing] += [2 * n / _omega_round(runtime, 2 * turn + k, n) for k in range(2)]
            finally:
                runtime.shutdown()
    signed, unsigned = statistics.median(rates[True]), statistics.median(rates[False])
    restart_unsigned = _restart_ms("tcp", 5 if quick else 25, data, signing=False)
    cost = round(1 - signed / unsigned, 3)
    return {
        "pingpong_msgs_per_s_omega_tcp_signed": round(signed),
        "pingpong_msgs_per_s_omega_tcp_unsigned": round(unsigned),
        "signing_cost_pingpong_tcp": cost,
        "restart_ms_tcp_unsigned_p50": restart_unsigned,
        "signing_cost_restart_tcp": round(restart_signed_ms / restart_unsigned - 1, 3),
        "signing_target_met": cost <= SIGNING_TARGET,
    }


def _tcp(data: str, signing: bool = True) -> SystemConfig:
    return SystemConfig(base="tcp", data_dir=data, log_level="WARNING", cluster=ClusterConfig(signing=signing))


def _pingpong(base: str, rounds: int, quick: bool, data: str) -> dict[str, float]:
    n = ROUNDS[base] // (5 if quick else 1)
    runtime = Runtime.start(SupervisorSpec(intensity=0), SystemConfig(base=base, data_dir=data, log_level="WARNING"))
    raw_system = raw_thespian.start(_thespian_base(base), free_port() if base == "tcp" else None)
    rates: dict[str, list[float]] = {"omega": [], "raw": [], "raw_top": []}
    try:
        # A new pair of processes every round: two processes that happen to share a
        # core run a ping-pong slower, and fresh pairs average that luck out.
        for round_ in range(rounds):
            rates["raw"].append(2 * n / _raw_round(raw_system, OMEGA_DEPTH, n))
            rates["omega"].append(2 * n / _omega_round(runtime, round_, n))
            rates["raw_top"].append(2 * n / _raw_round(raw_system, 0, n))
    finally:
        raw_system.shutdown()
        runtime.shutdown()
    medians = {key: statistics.median(values) for key, values in rates.items()}
    return {
        f"pingpong_ratio_{base}": round(medians["omega"] / medians["raw"], 3),
        f"pingpong_ratio_{base}_toplevel": round(medians["omega"] / medians["raw_top"], 3),
        f"pingpong_msgs_per_s_omega_{base}": round(medians["omega"]),
        f"pingpong_msgs_per_s_raw_{base}": round(medians["raw"]),
        f"pingpong_msgs_per_s_raw_toplevel_{base}": round(medians["raw_top"]),
    }


def _omega_round(runtime: Runtime, round_: int, n: int) -> float:
    pinger = runtime.start_child("app", Pinger.child_spec(f"pinger{round_}", restart="temporary"))
    ponger = runtime.start_child("app", Ponger.child_spec(f"ponger{round_}", restart="temporary"))
    try:
        return float(runtime.ask(pinger, Go(n, ponger), timeout=300).seconds)
    finally:
        runtime.terminate_child("app", f"pinger{round_}")
        runtime.terminate_child("app", f"ponger{round_}")


def _raw_round(system: Any, depth: int, n: int) -> float:
    pair = raw_thespian.pingpong_pair(system, depth)
    try:
        return raw_thespian.pingpong_seconds(system, pair, n)
    finally:
        raw_thespian.stop(system, pair)


def _restart_ms(base: str, samples: int, data: str, signing: bool = True) -> float:
    tree = SupervisorSpec(intensity=samples + 5, period=3600, children=(Victim.child_spec("victim", name="victim"),))
    config = _tcp(data, signing) if base == "tcp" else SystemConfig(base=base, data_dir=data, log_level="WARNING")
    runtime = Runtime.start(tree, config)
    try:
        timings = []
        for _ in range(samples):
            before = runtime.ask("victim", Who())
            address = runtime.address_of("app/victim")
            t0 = time.perf_counter()
            runtime.tell(address, Crash())
            while runtime.ask("victim", Who()) == before:
                pass  # on tcp the first ask may overtake the crash; ask again
            timings.append(time.perf_counter() - t0)
    finally:
        runtime.shutdown()
    return round(statistics.median(timings) * 1000, 3)


def _create_ms(samples: int) -> float:
    # Bound like the runtime's: the ping-pong rounds started a runtime in this process, which
    # installed the adapter's loopback patch for every Thespian endpoint after it.
    system = raw_thespian.start("multiprocTCPBase", free_port())
    try:
        timings = [raw_thespian.create_seconds(system) for _ in range(samples)]
    finally:
        system.shutdown()
    return round(statistics.median(timings) * 1000, 3)


def _thespian_base(base: str) -> str:
    return {"simple": "simpleSystemBase", "tcp": "multiprocTCPBase"}[base]
