"""An experiment request: what to change, why, and how to judge it.

::

    request = parse_request(tomllib.load(handle))     # GenesisError names the field and what is accepted
    request.change        # ConfigChange (files against the state repository) or PatchChange (a unified diff)
    request.validation    # the command, the metrics, the targets, the regression threshold, the limits

A request arrives as a plain mapping (a TOML or JSON file for ``run.py genesis
request``, an event payload on ``genesis.experiment.request.<instance_id>``)::

    experiment_type = "experimental"       # local | global | experimental (types 1, 2 and 3)
    description = "rank by taste only"
    risk_level = "high"                    # low | medium | high
    estimated_impact = "+10% Recall@10"
    rollback_plan = "delete the sandbox"

    [change]
    kind = "config"                        # or "patch", with diff = "..." (a unified diff)
    repository = ".omega/state"            # a git repository: the state repository, or any for a patch
    base = "HEAD"
    files = { "brain.toml" = "[brain]\\nsimilarity_weight = 0.0\\n" }   # config/<name> in the repository

    [validation]
    command = ["{python}", "-m", "omega_actors.genesis.replay", "--config", "{sandbox}/config",
               "--episodes", "{episodes}", "--out", "{rankings}"]
    metrics = ["recall_at_10", "duration_s"]
    targets = ["recall_at_10"]             # default: every metric
    regression_threshold = 0.05
    dataset = "tests/data/movielens_small" # recorded episodes, for recall_at_10 and ndcg_at_10

Every metric is measured by the evaluator, outside the sandbox (see
:mod:`.grading`): a sandbox writes rankings, never its own score.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..errors import GenesisError
from ..settings import unknown_name

TYPES = ("local", "global", "experimental")
RISKS = ("low", "medium", "high")
MAX_TEXT = 2000
MAX_DIFF = 1 << 20
MAX_FILE = 1 << 18
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONFIG_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.toml")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    higher_is_better: bool
    needs_dataset: bool
    what: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("recall_at_10", True, True, "Recall@10 of the rankings the command writes to {rankings}, against held-out episodes"),
    Metric("ndcg_at_10", True, True, "NDCG@10 of the same rankings"),
    Metric("tests_passed", True, False, "tests passing in the JUnit report the command writes to {junit}"),
    Metric("duration_s", False, False, "the command's wall-clock seconds"),
    Metric("peak_rss_mb", False, False, "the command's peak resident memory"),
)}  # fmt: skip

PLACEHOLDERS = ("python", "sandbox", "junit", "rankings", "episodes", "catalogue")


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """New contents for ``config/<name>`` files of the state repository (the others stay)."""

    repository: str
    files: tuple[tuple[str, str], ...]
    base: str = "HEAD"
    kind: str = "config"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "config", "repository": self.repository, "base": self.base, "files": dict(self.files)}


@dataclass(frozen=True, slots=True)
class PatchChange:
    """A unified diff against ``base`` of a git repository."""

    repository: str
    diff: str
    base: str = "HEAD"
    kind: str = "patch"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "patch", "repository": self.repository, "base": self.base, "diff": self.diff}


@dataclass(frozen=True, slots=True)
class Validation:
    command: tuple[str, ...]
    metrics: tuple[str, ...]
    targets: tuple[str, ...]
    regression_threshold: float = 0.05
    timeout: float = 300.0
    cpu_seconds: int = 300
    memory_mb: int = 2048
    protected: tuple[str, ...] = ("tests/",)  # a patch may not touch the tests that grade it
    dataset: str = ""
    users: int = 60

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": list(self.command), "metrics": list(self.metrics), "targets": list(self.targets),
            "regression_threshold": self.regression_threshold, "timeout": self.timeout,
            "cpu_seconds": self.cpu_seconds, "memory_mb": self.memory_mb, "protected": list(self.protected),
            "dataset": self.dataset, "users": self.users,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExperimentRequest:
    experiment_type: str
    description: str
    risk_level: str
    estimated_impact: str
    rollback_plan: str
    change: ConfigChange | PatchChange
    validation: Validation
    requester: str = "cli"
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. the improvement a type-2 safety test is for

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_type": self.experiment_type, "description": self.description, "risk_level": self.risk_level,
            "estimated_impact": self.estimated_impact, "rollback_plan": self.rollback_plan, "requester": self.requester,
            "change": self.change.to_dict(), "validation": self.validation.to_dict(), "extra": dict(self.extra),
        }  # fmt: skip


def parse_request(data: object, requester: str | None = None) -> ExperimentRequest:
    """A checked request; a GenesisError names the first bad field and what is accepted."""
    table = _table(data, "request")
    _no_unknown(table, ("experiment_type", "description", "risk_level", "estimated_impact", "rollback_plan",
                        "change", "validation", "requester", "extra"), "")  # fmt: skip
    who = requester if requester is not None else table.get("requester", "cli")
    return ExperimentRequest(
        experiment_type=_choice(table, "experiment_type", TYPES),
        description=_text(table, "description"),
        risk_level=_choice(table, "risk_level", RISKS),
        estimated_impact=_text(table, "estimated_impact"),
        rollback_plan=_text(table, "rollback_plan"),
        change=_change(_table(table.get("change"), "change")),
        validation=_validation(_table(table.get("validation"), "validation")),
        requester=_token(who, "requester"),
        extra=dict(_table(table.get("extra", {}), "extra")),
    )


# ---------------------------------------------------------------- one small check per field


def _table(value: object, key: str) -> Mapping[str, Any]:
    if value is None:
        raise GenesisError("missing; expected a table", key=key)
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise GenesisError(f"expected a table with text keys; got {type(value).__name__}", key=key)
    return value


def _no_unknown(table: Mapping[str, Any], accepted: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in accepted:
            raise GenesisError(unknown_name(str(key), accepted, "field"), key=prefix + str(key))


def _text(table: Mapping[str, Any], key: str, prefix: str = "", limit: int = MAX_TEXT) -> str:
    value = table.get(key)
    if value is None:
        raise GenesisError("missing; expected text", key=prefix + key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise GenesisError(f"expected non-empty text of at most {limit} characters; got {_short(value)}", key=prefix + key)
    return value


def _choice(table: Mapping[str, Any], key: str, accepted: tuple[str, ...], prefix: str = "") -> str:
    value = table.get(key)
    if value not in accepted:
        found = "nothing" if value is None else _short(value)
        raise GenesisError(f"expected one of {', '.join(accepted)}; got {found}", key=prefix + key)
    return str(value)


def _token(value: object, key: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise GenesisError(f"expected 1-64 letters, digits, '_' or '-' (a subject token); got {_short(value)}", key=key)
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _change(table: Mapping[str, Any]) -> ConfigChange | PatchChange:
    kind = _choice(table, "kind", ("config", "patch"), "change.")
    repository = _text(table, "repository", "change.")
    base = table.get("base", "HEAD")
    if not isinstance(base, str) or not re.fullmatch(r"[A-Za-z0-9_./~^-]{1,100}", base) or base.startswith("-"):
        raise GenesisError(f"expected a git revision (a branch, a tag, a commit); got {_short(base)}", key="change.base")
    if kind == "patch":
        _no_unknown(table, ("kind", "repository", "base", "diff"), "change.")
        return PatchChange(repository, _text(table, "diff", "change.", MAX_DIFF), base)
    _no_unknown(table, ("kind", "repository", "base", "files"), "change.")
    files = _table(table.get("files"), "change.files")
    if not files:
        raise GenesisError("expected at least one file", key="change.files")
    for name, text in files.items():
        if not _CONFIG_NAME.fullmatch(name):
            raise GenesisError(f"expected a plain file name like brain.toml; got {_short(name)}", key="change.files")
        if not isinstance(text, str) or len(text) > MAX_FILE:
            raise GenesisError(f"expected TOML text of at most {MAX_FILE} characters", key=f"change.files.{name}")
    return ConfigChange(repository, tuple(sorted(files.items())), base)


def _validation(table: Mapping[str, Any]) -> Validation:
    _no_unknown(table, ("command", "metrics", "targets", "regression_threshold", "timeout", "cpu_seconds",
                        "memory_mb", "protected", "dataset", "users"), "validation.")  # fmt: skip
    command = _strings(table.get("command"), "validation.command")
    for part in command:
        _check_placeholders(part)
    metrics = _metrics(table.get("metrics"), "validation.metrics")
    targets = _metrics(table.get("targets", list(metrics)), "validation.targets")
    for name in targets:
        if name not in metrics:
            raise GenesisError(f"{name!r} is a target but not among the metrics {list(metrics)}", key="validation.targets")
    dataset = table.get("dataset", "")
    if not isinstance(dataset, str):
        raise GenesisError(f"expected a directory path; got {_short(dataset)}", key="validation.dataset")
    if not dataset and any(METRICS[name].needs_dataset for name in metrics):
        raise GenesisError("recall_at_10 and ndcg_at_10 need recorded episodes: a MovieLens-format directory",
                           key="validation.dataset")  # fmt: skip
    return Validation(
        command, metrics, targets,
        regression_threshold=_number(table, "regression_threshold", 0.05, 0.0, 1.0),
        timeout=_number(table, "timeout", 300.0, 0.1, 86_400.0),
        cpu_seconds=int(_number(table, "cpu_seconds", 300, 1, 86_400, whole=True)),
        memory_mb=int(_number(table, "memory_mb", 2048, 64, 1 << 20, whole=True)),
        protected=_strings(table.get("protected", ["tests/"]), "validation.protected", allow_empty=True),
        dataset=dataset,
        users=int(_number(table, "users", 60, 1, 1_000_000, whole=True)),
    )  # fmt: skip


def _strings(value: object, key: str, allow_empty: bool = False) -> tuple[str, ...]:
    if value is None:
        raise GenesisError("missing; expected a list of text", key=key)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise GenesisError(f"expected a list of non-empty text; got {_short(value)}", key=key)
    if not value and not allow_empty:
        raise GenesisError("expected at least one entry", key=key)
    return tuple(value)


def _metrics(value: object, key: str) -> tuple[str, ...]:
    names = _strings(value, key)
    for name in names:
        if name not in METRICS:
            raise GenesisError(f"unknown metric {name!r}; expected one of: {', '.join(METRICS)}", key=key)
    if len(set(names)) != len(names):
        raise GenesisError(f"a metric is named twice: {list(names)}", key=key)
    return names


def _check_placeholders(part: str) -> None:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(part) if name is not None]
    except ValueError as exc:
        raise GenesisError(f"{part!r}: {exc}; write {{{{ and }}}} for literal braces", key="validation.command") from None
    for name, spec, conversion in fields:
        if spec or conversion:
            raise GenesisError(f"a placeholder takes no conversion or format in {part!r}; write {{name}}", key="validation.command")
        if name not in PLACEHOLDERS:
            raise GenesisError(f"unknown placeholder {{{name}}} in {part!r}; expected one of: "
                               + ", ".join("{" + p + "}" for p in PLACEHOLDERS), key="validation.command")


def _number(table: Mapping[str, Any], key: str, default: float, low: float, high: float, whole: bool = False) -> float:
    value = table.get(key, default)
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
            or not math.isfinite(value) or (whole and not float(value).is_integer()):
        raise GenesisError(f"expected {kind} from {low:g} to {high:g}; got {_short(value)}", key=f"validation.{key}")
    return float(value)


def relative_path(path: str) -> PurePosixPath:
    """A path inside a repository, refused if it is absolute or climbs out."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise GenesisError(f"expected a path inside the repository; got {path!r}", key="change.diff")
    return pure
