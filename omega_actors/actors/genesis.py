"""Genesis' actors: a service, one experiment actor per request, and the improvement aggregator.

The tree (:func:`omega_actors.app.genesis.genesis_spec`): the
:class:`GenesisService` (``genesis.service``), a dynamic supervisor of
temporary :class:`ExperimentActor` children (``genesis.experiments``), and,
for type 2, the :class:`ImprovementAggregator` (``genesis.aggregator``).

Instances talk to Genesis only through the event bus:

- ``genesis.experiment.request.<instance_id>``: a request (see :mod:`omega_actors.genesis.request`);
- ``genesis.experiment.status.<experiment_id>``: after each step (requested, prepare, baseline-1, ...);
- ``genesis.experiment.completed.<experiment_id>``: graded: ``status`` success, partial_success or
  failed, ``recommendation`` merge or rollback, metrics, timings, and ``merged`` (the branch);
- ``genesis.experiment.failed.<experiment_id>``: not graded: rejected (with the reason), or the
  experiment could not run (its sandbox could not be made, its actor crashed).

Each experiment runs in its own actor (on the tcp base, its own process), one
step per message, and its command in a further process with limits. An
experiment actor that crashes ends its experiment, not Genesis: the service
hears ``omega.child.exited`` for it, records it failed and removes its
sandbox. The service is the only writer of Genesis' database.

Improvers (one per TV, in the TV's tree: :mod:`.improver`) run types 1
and 2 on the TV side.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GenesisError, OmegaError
from ..genesis.experiment import Experiment, admit
from ..genesis.grading import Advice, Grade
from ..genesis.improvement import (
    Adoption,
    brain_toml,
    check_ranking,
    fingerprint,
)
from ..genesis.records import Records
from ..genesis.request import ExperimentRequest, parse_request
from ..genesis.sandbox import Sandboxes, new_experiment_id
from ..runtime import (
    Actor,
    ChildStarted,
    Done,
    Event,
    Refused,
    Restart,
    StartChild,
    emit,
    handler,
)

SERVICE = "genesis.service"
EXPERIMENTS = "genesis.experiments"
AGGREGATOR = "genesis.aggregator"
REQUEST = "genesis.experiment.request"


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class RequestExperiment:
    """Ask the service directly (the CLI does): answered with :class:`Admitted` or ``Refused``."""

    request: Mapping[str, Any]
    requester: str = "cli"


@dataclass(frozen=True)
class Admitted:
    experiment_id: str


@dataclass(frozen=True)
class GetExperiment:
    experiment_id: str


@dataclass(frozen=True)
class Progress:
    experiment_id: str
    step: str
    timings: Mapping[str, float]


@dataclass(frozen=True)
class Finished:
    experiment_id: str
    outcome: Mapping[str, Any]
    graded: bool  # False: the experiment could not run to a verdict


@dataclass(frozen=True)
class _Step:
    index: int


@dataclass(frozen=True)
class _Stop:
    pass


FINISH_PATIENCE = 30.0  # seconds an experiment actor waits for the service to take its verdict


# ---------------------------------------------------------------- the service


class GenesisService(Actor):
    def __init__(self, data_dir: str, sandboxes: str, database_url: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.sandboxes = Sandboxes(Path(sandboxes))
        self.database_url = database_url
        self.records: Records | None = None
        self.running: dict[str, str] = {}  # experiment id -> requester
        self.starting: list[str] = []  # asked of the experiments supervisor, not yet answered

    def started(self) -> None:
        self.records = Records(self.data_dir / "genesis.sqlite3")
        self.subscribe(f"{REQUEST}.*")
        parent = self.path.rpartition("/")[0]
        self.subscribe(".".join(["omega", "child", "exited", *(parent.split("/") if parent else []), "experiments", "*"]))
        for experiment_id in self._records.unfinished():  # left by an earlier instance of Genesis
            self._fail(experiment_id, "Genesis stopped while it ran", {})

    def stopping(self, reason: object) -> None:
        if self.records is not None:
            self.records.close()

    @property
    def _records(self) -> Records:
        assert self.records is not None, "started() opens the records"
        return self.records

    @handler
    def on_event(self, message: Event) -> None:
        subject = message.subject
        if subject.startswith(REQUEST + "."):
            self._admit(message.payload, subject.rpartition(".")[2])
        elif subject.startswith("omega.child.exited."):
            experiment_id = subject.rpartition(".")[2]
            if experiment_id in self.running:
                reason = message.payload.get("reason") if isinstance(message.payload, dict) else None
                self._fail(experiment_id, f"its actor ended before a verdict: {reason}", {})

    @handler
    def request(self, message: RequestExperiment) -> Admitted | Refused:
        return self._admit(message.request, message.requester)

    @handler
    def get(self, message: GetExperiment) -> dict[str, Any] | Refused:
        record = self._records.get(str(message.experiment_id))
        return record if record is not None else Refused("GetExperiment", f"no experiment {message.experiment_id!r}")

    @handler
    def progress(self, message: Progress) -> None:
        if message.experiment_id in self.running:
            self._records.progress(message.experiment_id, message.step, dict(message.timings))
            self.publish(f"genesis.experiment.status.{message.experiment_id}",
                         {"experiment_id": message.experiment_id, "step": message.step})  # fmt: skip

    @handler
    def finished(self, message: Finished) -> Done:
        # Answered: the experiment actor stops only after this, so its exit event cannot overtake its verdict.
        if message.experiment_id not in self.running:
            return Done()
        outcome = dict(message.outcome)
        if not message.graded:
            self._fail(message.experiment_id, str(outcome.get("reason", "failed")), outcome)
            return Done()
        del self.running[message.experiment_id]
        self._records.finished(message.experiment_id, outcome["status"], outcome["recommendation"], outcome,
                               dict(outcome.get("timings", {})))  # fmt: skip
        self.publish(f"genesis.experiment.completed.{message.experiment_id}", outcome)
        return Done()

    @handler
    def child_started(self, message: ChildStarted) -> None:
        if message.id in self.starting:
            self.starting.remove(message.id)

    @handler
    def refused(self, message: Refused) -> None:
        # The experiments supervisor answers start requests in order: a refusal (max_children, a failed
        # start) is for the oldest start not yet answered. That experiment fails; nothing else does.
        if message.request == "start_child" and self.starting:
            self._fail(self.starting.pop(0), f"could not start: {message.reason}", {})

    def _admit(self, payload: object, requester: str) -> Admitted | Refused:
        experiment_id = new_experiment_id()
        try:
            request = parse_request(payload, requester=requester)
            admit(request, self.sandboxes)
        except (OmegaError, OSError, subprocess.SubprocessError) as exc:  # git timing out refuses one request only
            return self._reject(experiment_id, requester, payload, str(exc))
        self._records.requested(experiment_id, request)
        self.running[experiment_id] = requester
        spec = ExperimentActor.child_spec(experiment_id, restart=Restart.TEMPORARY, experiment_id=experiment_id,
                                          request=request.to_dict(), sandboxes=str(self.sandboxes.root),
                                          database_url=self.database_url)  # fmt: skip
        self.starting.append(experiment_id)
        self.send_named(EXPERIMENTS, StartChild(spec))
        self.publish(f"genesis.experiment.status.{experiment_id}",
                     {"experiment_id": experiment_id, "step": "requested", "requester": requester, "extra": dict(request.extra)})
        return Admitted(experiment_id)

    def _reject(self, experiment_id: str, requester: str, payload: object, reason: str) -> Refused:
        self.increment("rejected")
        self._records.rejected(requester, reason)
        emit(logging.WARNING, "genesis_request_rejected", self.path, requester=requester, reason=reason)
        extra = payload.get("extra", {}) if isinstance(payload, Mapping) else {}
        self.publish(f"genesis.experiment.failed.{experiment_id}", {
            "experiment_id": experiment_id, "status": "rejected", "reason": reason, "requester": requester,
            "extra": dict(extra) if isinstance(extra, Mapping) else {},
        })  # fmt: skip
        return Refused("RequestExperiment", reason)

    def _fail(self, experiment_id: str, reason: str, outcome: dict[str, Any]) -> None:
        self.running.pop(experiment_id, None)
        record = self._records.get(experiment_id) or {}
        shutil.rmtree(self.sandboxes.root / experiment_id, ignore_errors=True)
        outcome = {**outcome, "experiment_id": experiment_id, "status": Grade.FAILED, "recommendation": Advice.ROLLBACK, "reason": reason,
                   "extra": record.get("request", {}).get("extra", {})}  # fmt: skip
        self._records.finished(experiment_id, Grade.FAILED, Advice.ROLLBACK, outcome, dict(outcome.get("timings", {})))
        self.publish(f"genesis.experiment.failed.{experiment_id}", outcome)


# ---------------------------------------------------------------- one experiment


class ExperimentActor(Actor):
    """Runs one experiment, one step per message, and reports to the service."""

    def __init__(self, experiment_id: str, request: Mapping[str, Any], sandboxes: str, database_url: str = "") -> None:
        self.request: ExperimentRequest = parse_request(request, requester=request.get("requester", "cli"))
        self.experiment = Experiment(experiment_id, self.request, Sandboxes(Path(sandboxes)), database_url)
        self.concluded = False

    def started(self) -> None:
        self.send(self.address, _Step(0))

    def stopping(self, reason: object) -> None:
        if not self.concluded:
            self.experiment.discard()  # a crash or a shutdown leaves no sandbox and no database behind

    @handler
    def step(self, message: _Step) -> None:
        steps = self.experiment.steps()
        name, run = steps[message.index]
        try:
            run()
        except GenesisError as exc:
            self.experiment.discard()
            self.concluded = True
            outcome = {**self.experiment.outcome(), "reason": f"{name}: {exc}"}
            self._finish(Finished(self.experiment.experiment_id, outcome, graded=False))
            return
        self.send_named(SERVICE, Progress(self.experiment.experiment_id, name, dict(self.experiment.timings)))
        if message.index + 1 < len(steps):
            self.send(self.address, _Step(message.index + 1))
            return
        self.concluded = True
        self._finish(Finished(self.experiment.experiment_id, self.experiment.outcome(), graded=True))

    def _finish(self, verdict: Finished) -> None:
        """Report, and stop once the service has it (or after a while, if it never answers)."""
        self.send_named(SERVICE, verdict)
        self.send_after(FINISH_PATIENCE, _Stop())

    @handler
    def acknowledged(self, message: Done) -> None:
        self.stop()

    @handler
    def give_up(self, message: _Stop) -> None:
        self.stop()


# ---------------------------------------------------------------- type 2: the aggregator


@dataclass(frozen=True)
class GetAdoption:
    pass


class ImprovementAggregator(Actor):
    """Counts validated local improvements; past the threshold, has Genesis test one, then recommends it fleet-wide."""

    def __init__(self, state_repository: str, dataset: str, fleet: int = 0, threshold: float = 0.7, users: int = 60,
                 timeout: float = 600.0) -> None:
        self.state_repository = state_repository
        self.dataset = dataset
        self.users = users
        self.timeout = timeout
        self.adoption = Adoption(fleet, threshold)
        self.settings: dict[str, dict[str, float]] = {}
        self.outcomes: dict[str, str] = {}

    def restore(self, state: tuple[Adoption, dict[str, dict[str, float]], dict[str, str]]) -> None:
        self.adoption, self.settings, self.outcomes = state

    def _keep(self) -> None:
        self.checkpoint((self.adoption, self.settings, self.outcomes))

    def started(self) -> None:
        self.subscribe("improvement.local.>")
        self.subscribe("genesis.experiment.completed.*")
        self.subscribe("genesis.experiment.failed.*")
        for key, outcome in self.outcomes.items():  # a verdict may have been published while this restarted: ask again
            if outcome == "testing":
                self.publish(f"{REQUEST}.central", self._safety_test(key, self.settings[key]))

    @handler
    def on_event(self, message: Event) -> None:
        payload = message.payload if isinstance(message.payload, Mapping) else {}
        tokens = message.subject.split(".")
        if tokens[:2] == ["improvement", "local"] and len(tokens) == 4:
            self._local(tokens[2], tokens[3], payload)
        elif tokens[:2] == ["genesis", "experiment"]:
            self._experiment(tokens[2], payload)

    @handler
    def adoption_state(self, message: GetAdoption) -> dict[str, Any]:
        return {"instances": sorted(self.adoption.instances), "shares": {k: self.adoption.share(k) for k in self.adoption.by_improvement},
                "outcomes": dict(self.outcomes)}  # fmt: skip

    def _local(self, kind: str, instance: str, payload: Mapping[str, Any]) -> None:
        if instance not in self.adoption.instances:
            self.adoption.heard(instance)
            self._keep()
        if kind != "validated" or payload.get("source") == "global":
            return
        try:
            settings = check_ranking(payload.get("settings"))
        except GenesisError:
            self.increment("malformed_improvement")
            return
        key = fingerprint(settings)
        self.settings[key] = settings
        if self.adoption.validated(instance, key):
            self.outcomes[key] = "testing"
            self.publish(f"{REQUEST}.central", self._safety_test(key, settings))
        self._keep()

    def _safety_test(self, key: str, settings: dict[str, float]) -> dict[str, Any]:
        return {
            "experiment_type": "global", "risk_level": "medium",
            "description": f"{key}: validated by {self.adoption.share(key):.0%} of the fleet",
            "estimated_impact": "Recall@10 on recorded episodes", "rollback_plan": "delete the sandbox; nothing is broadcast",
            "change": {"kind": "config", "repository": self.state_repository, "files": {"brain.toml": brain_toml(settings)}},
            "validation": {"command": list(REPLAY_COMMAND), "metrics": ["recall_at_10"], "dataset": self.dataset,
                           "users": self.users, "timeout": self.timeout, "cpu_seconds": int(self.timeout)},
            "extra": {"improvement": key},
        }  # fmt: skip

    def _experiment(self, kind: str, payload: Mapping[str, Any]) -> None:
        extra = payload.get("extra") if isinstance(payload.get("extra"), Mapping) else {}
        key = extra.get("improvement") if isinstance(extra, Mapping) else None
        if not isinstance(key, str) or key not in self.settings or self.outcomes.get(key) != "testing":
            return
        if kind == "completed" and payload.get("recommendation") == Advice.MERGE:
            self.outcomes[key] = "recommended"
            self._keep()
            validators = self.adoption.by_improvement.get(key, set())
            others = sorted(self.adoption.instances - validators)
            canary = (others or sorted(validators))[0]
            self.publish("improvement.global.recommended", {
                "improvement": key, "settings": self.settings[key], "canary": canary,
                "experiment_id": payload.get("experiment_id"), "changes": payload.get("changes", {}),
            })  # fmt: skip
        elif kind in ("completed", "failed"):
            self.outcomes[key] = "rejected"
            self._keep()
            self.publish("improvement.global.rejected", {"improvement": key, "experiment_id": payload.get("experiment_id"),
                                                         "reasons": payload.get("reasons") or [payload.get("reason", "")]})  # fmt: skip


REPLAY_COMMAND = ("{python}", "-m", "omega_actors.genesis.replay", "--config", "{sandbox}/config", "--episodes", "{episodes}",
                  "--catalogue", "{catalogue}", "--out", "{rankings}")  # fmt: skip
