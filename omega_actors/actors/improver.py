"""One TV's improver: types 1 and 2 of Genesis' self-improvement, on the TV's side.

It sits in each TV's tree, after the memory actor (``rest_for_one``), and
talks to that memory actor by name (:mod:`.tv_brain`'s requests) and to the
fleet only through the event bus (``improvement.local.*.<tv>``,
``improvement.global.recommended``), where Genesis' aggregator
(:mod:`.genesis`) listens. What is proven, applied and validated is the
brain's ranking weights; the pure rules are in
:mod:`omega_actors.genesis.improvement`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..brain import BrainSettings
from ..errors import GenesisError, OmegaError, StateError
from ..genesis.improvement import (
    brain_toml,
    check_ranking,
    fingerprint,
    hit_rate,
    validated,
)
from ..runtime import Actor, Done, Event, Refused, handler
from ..storage.state_repository import StateRepository
from .tv_brain import (
    Episodes,
    GetEpisodes,
    Proven,
    ProveRanking,
    Retune,
    Retuned,
    names,
)


@dataclass(frozen=True)
class Propose:
    """A local change of ranking weights (type 1): proven on recorded episodes, applied, validated live."""

    settings: Mapping[str, float]


@dataclass(frozen=True)
class GetImprover:
    pass


@dataclass(frozen=True)
class _Check:
    round: int


class Improver(Actor):
    """One TV's improvements of its ranking weights.

    Type 1: :class:`Propose` -> the memory actor proves the change on its own
    recorded episodes (Recall@10 with and without it); if it helps, it is
    applied in place (``Retune``) and ``improvement.local.applied.<tv>`` is
    published. After ``window`` more episodes the live hit rate is compared
    with the ``window`` before: the change is committed on the TV's git
    branch ``ranking-<tv>`` (``improvement.local.validated.<tv>``) or the
    committed weights are put back and the reset is recorded on the branch
    too (``improvement.local.rolled_back.<tv>``).

    Type 2: on ``improvement.global.recommended``, the canary applies the
    change with the same validation; the others wait for the canary's
    ``validated`` and then apply it, validating each for themselves.

    The branch holds what survives restarts: a new instance (after its memory
    actor restarted, rest_for_one) applies the committed weights first.
    """

    def __init__(self, tv: str, state_dir: str, window: int = 20, tolerance: float = 0.05, poll: float = 0.5) -> None:
        self.tv = tv
        self.state_dir = state_dir
        self.window = window
        self.tolerance = tolerance
        self.poll = poll
        self.memory = names(tv)["memory"]
        self.committed: dict[str, float] = {}
        self.trial: dict[str, Any] | None = None  # the change being proven or validated
        self.waiting: dict[str, dict[str, Any]] = {}  # improvement -> recommendation, until the canary validates it
        self.ready: list[dict[str, Any]] = []  # recommendations to apply here once the current trial ends
        self.history: list[tuple[str, str]] = []
        self.checks = 0

    def started(self) -> None:
        self.committed = self._read_committed()
        if self.committed:
            self.send_named(self.memory, Retune(self.committed))
        self.subscribe("improvement.global.recommended")
        self.subscribe("improvement.local.validated.*")
        self.subscribe("improvement.local.rolled_back.*")
        self.publish(f"improvement.local.online.{self.tv}", {"committed": dict(self.committed)})  # the aggregator counts the fleet

    @handler
    def propose(self, message: Propose) -> Done | Refused:
        if self.trial is not None:
            return Refused("Propose", f"{self.trial['improvement']} is being validated; one change at a time")
        try:
            settings = check_ranking(message.settings)
        except GenesisError as exc:
            return Refused("Propose", str(exc))
        self.trial = {"improvement": fingerprint(settings), "settings": settings, "source": "local", "phase": "proving"}
        self.send_named(self.memory, ProveRanking(({}, settings)))
        return Done()

    @handler
    def status(self, message: GetImprover) -> dict[str, Any]:
        return {"tv": self.tv, "committed": dict(self.committed), "trial": dict(self.trial) if self.trial else None,
                "waiting": sorted(self.waiting), "ready": [r["improvement"] for r in self.ready],
                "history": list(self.history)}  # fmt: skip

    @handler
    def proven(self, message: Proven) -> None:
        trial = self.trial
        if trial is None or trial["phase"] != "proving":
            return
        before, after = message.recalls
        trial["recalls"] = [before, after]
        if after <= before:
            self._end("not_proven", f"Recall@10 on {message.episodes} recorded episodes: {before:.3f} -> {after:.3f}")
            return
        self._apply()

    @handler
    def refused(self, message: Refused) -> None:
        if self.trial is not None and message.request in ("ProveRanking", "Retune"):
            self._end("not_proven" if message.request == "ProveRanking" else "rolled_back", message.reason)

    @handler
    def on_event(self, message: Event) -> None:
        payload = message.payload if isinstance(message.payload, Mapping) else {}
        tokens = message.subject.split(".")
        if message.subject == "improvement.global.recommended":
            self._recommended(payload)
        elif len(tokens) == 4 and tokens[:2] == ["improvement", "local"]:
            key = payload.get("improvement")
            recommendation = self.waiting.get(key) if isinstance(key, str) else None
            if recommendation is None or tokens[3] != recommendation["canary"]:
                return
            del self.waiting[recommendation["improvement"]]
            if tokens[2] == "validated":
                self._start_global(recommendation)  # the canary kept it: now here, validated here too

    @handler
    def episodes(self, message: Episodes) -> None:
        trial = self.trial
        if trial is None:
            return
        if trial["phase"] == "measuring":
            recent = message.items[-self.window:]
            trial.update(phase="applying", before=hit_rate(recent), after_id=recent[-1].id if recent else 0)
            self.send_named(self.memory, Retune(trial["settings"]))
        elif trial["phase"] == "validating":
            new = [e for e in message.items if e.id > trial["after_id"]]
            if len(new) < self.window:
                self.send_after(self.poll, _Check(self.checks))
                return
            self._decide(hit_rate(new[: self.window]))

    @handler
    def retuned(self, message: Retuned) -> None:
        trial = self.trial
        if trial is None or trial["phase"] != "applying":
            return
        trial["phase"] = "validating"
        self.publish(f"improvement.local.applied.{self.tv}", self._event(trial))
        self.send_after(self.poll, _Check(self.checks))

    @handler
    def check(self, message: _Check) -> None:
        if self.trial is not None and self.trial["phase"] == "validating" and message.round == self.checks:
            self.checks += 1
            self.send_named(self.memory, GetEpisodes(self.window * 4))

    def _recommended(self, payload: Mapping[str, Any]) -> None:
        try:
            settings = check_ranking(payload.get("settings"))
        except GenesisError:
            self.increment("malformed_recommendation")
            return
        key = fingerprint(settings)
        if all(self.committed.get(k) == v for k, v in settings.items()):
            return  # already in force here
        recommendation = {"improvement": key, "settings": settings, "canary": str(payload.get("canary", ""))}
        if recommendation["canary"] == self.tv:
            self._start_global(recommendation)
        else:
            self.waiting[key] = recommendation

    def _start_global(self, recommendation: dict[str, Any]) -> None:
        if self.trial is not None:
            self.ready.append(recommendation)  # after the current one
            return
        self.trial = {**recommendation, "source": "global"}
        self._apply()

    def _apply(self) -> None:
        assert self.trial is not None
        self.trial["phase"] = "measuring"
        self.send_named(self.memory, GetEpisodes(self.window))

    def _decide(self, after: float) -> None:
        trial = self.trial
        assert trial is not None
        trial["after"] = after
        if validated(trial["before"], after, self.tolerance):
            merged = {**self.committed, **trial["settings"]}
            try:
                self._commit(merged, f"validated {trial['improvement']}: hit rate {trial['before']:.3f} -> {after:.3f}")
            except (StateError, OmegaError) as exc:
                self.send_named(self.memory, Retune(self.committed or _defaults(trial["settings"])))
                self._end("rolled_back", f"could not commit: {exc}")
                return
            self.committed = merged
            self._end("validated", f"hit rate {trial['before']:.3f} -> {after:.3f} over {self.window} episodes")
        else:
            self.send_named(self.memory, Retune({**_defaults(trial["settings"]), **self.committed}))
            self._commit(self.committed, f"rolled back {trial['improvement']}: hit rate {trial['before']:.3f} -> {after:.3f}")
            self._end("rolled_back", f"hit rate {trial['before']:.3f} -> {after:.3f} over {self.window} episodes")

    def _end(self, outcome: str, reason: str) -> None:
        trial = self.trial
        assert trial is not None
        self.trial = None
        self.history.append((trial["improvement"], outcome))
        self.publish(f"improvement.local.{outcome}.{self.tv}", {**self._event(trial), "reason": reason})
        if self.ready:
            self._start_global(self.ready.pop(0))

    def _event(self, trial: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("improvement", "settings", "source", "recalls", "before", "after")
        return {key: trial[key] for key in keys if key in trial}

    def _read_committed(self) -> dict[str, float]:
        with StateRepository(Path(self.state_dir)) as repo:
            files = repo.branch_files(self._branch())
        text = files.get("ranking.toml", b"").decode()
        return check_ranking(tomllib.loads(text).get("brain", {})) if text.strip() else {}

    def _commit(self, settings: dict[str, float], message: str) -> None:
        with StateRepository(Path(self.state_dir)) as repo, repo.writing():
            body = brain_toml(settings) if settings else "[brain]\n"
            repo.commit_branch(self._branch(), {"ranking.toml": body.encode()}, f"{self.tv}: {message}\n\nOmega-Who: improver\n")

    def _branch(self) -> str:
        return f"ranking-{self.tv}"


def _defaults(settings: Mapping[str, float]) -> dict[str, float]:
    """The default value of each weight in ``settings``: what a reset returns to when nothing was committed."""
    base = BrainSettings()
    return {key: float(getattr(base, key)) for key in settings}
