"""Grade a candidate against its baseline, the way SWE-bench grades a patch.

::

    baseline = [measure(run, box, truth), measure(run2, box, truth)]     # the unchanged tree, twice
    verdict = grade(baseline, measure(candidate_run, box, truth), request.validation)
    verdict.status, verdict.recommendation      # success | partial_success | failed, merge | rollback

The rules, in order:

1. The baseline ran twice. A test whose outcome differs between the two
   runs is *flaky* and quarantined; so is a metric whose two values differ
   by more than the regression threshold (it cannot tell a regression
   from noise).
2. Every test that passed in both baseline runs must pass (PASS_TO_PASS).
3. No metric may get worse by more than ``regression_threshold`` (relative).
4. The targets must improve: all of them is ``success``, some is
   ``partial_success``, none is ``failed``.

Only ``success`` recommends ``merge``: a partial success changed something
that did not pay off everywhere, and the requester may try again.

Every number here is measured by Genesis, outside the sandbox: wall time
and memory from ``wait4``, Recall@10 and NDCG@10 from the rankings the
command wrote against held-out episodes the sandbox never sees, test
outcomes from the JUnit report of tests the patch may not change.
"""

from __future__ import annotations

import enum
import json
import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..evaluation.movielens import EvaluationError, Split, evaluate
from .process import RunResult
from .request import METRICS, Validation

JUNIT = "junit.xml"
RANKINGS = "rankings.json"
MAX_REPORT = 64 << 20
COMMAND_TEST = "(the command)"


@dataclass(frozen=True, slots=True)
class Measured:
    """One run of the command, as the evaluator saw it."""

    tests: Mapping[str, str]  # test id -> passed | failed | skipped
    metrics: Mapping[str, float]
    problem: str = ""  # why this run cannot be graded, if it cannot

    def to_dict(self) -> dict[str, Any]:
        passed = sum(1 for outcome in self.tests.values() if outcome == "passed")
        return {"tests": len(self.tests), "passed": passed, "metrics": dict(self.metrics), "problem": self.problem}


class Grade(enum.StrEnum):
    SUCCESS = "success"  # every target improved, nothing broke or regressed
    PARTIAL_SUCCESS = "partial_success"  # some targets improved, nothing broke or regressed
    FAILED = "failed"  # a test broke, a metric regressed, no target improved, or a run could not be measured


class Advice(enum.StrEnum):
    MERGE = "merge"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Grade
    recommendation: Advice  # merge only on success
    reasons: tuple[str, ...]
    baseline: Mapping[str, float]
    candidate: Mapping[str, float]
    changes: Mapping[str, float]  # relative, positive = better
    quarantined: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "recommendation": self.recommendation, "reasons": list(self.reasons),
            "baseline": dict(self.baseline), "candidate": dict(self.candidate), "changes": dict(self.changes),
            "quarantined": list(self.quarantined), "broken": list(self.broken), **dict(self.details),
        }  # fmt: skip


def measure(run: RunResult, out: Path, validation: Validation, truth: Split | None) -> Measured:
    """What one run achieved, measured from its exit, its resources, and the files it left in ``out``."""
    if run.killed:
        return Measured({}, {}, f"the command was {run.describe()}")
    tests = read_junit(out / JUNIT)
    if tests is None:
        tests = {COMMAND_TEST: "passed" if run.exit_code == 0 else "failed"}
    metrics: dict[str, float] = {}
    for name in validation.metrics:
        value = _metric(name, run, tests, out, truth)
        if isinstance(value, str):
            return Measured(tests, metrics, value)
        metrics[name] = value
    return Measured(tests, metrics)


def _metric(name: str, run: RunResult, tests: Mapping[str, str], out: Path, truth: Split | None) -> float | str:
    if name == "duration_s":
        return run.wall_s
    if name == "peak_rss_mb":
        return run.peak_rss_mb
    if name == "tests_passed":
        return float(sum(1 for outcome in tests.values() if outcome == "passed"))
    if truth is None:
        return f"{name} needs recorded episodes"
    rankings = read_rankings(out / RANKINGS)
    if isinstance(rankings, str):
        return rankings + f" ({run.describe()}: {run.tail(3)})" if run.exit_code else rankings
    try:
        scores = evaluate(rankings, truth, 10)
    except EvaluationError as exc:
        return f"the rankings cannot be graded: {exc}"
    return float(scores["recall" if name == "recall_at_10" else "ndcg"])


def read_junit(path: Path) -> dict[str, str] | None:
    """Test id -> outcome from a JUnit XML report; None when there is no report."""
    try:
        if path.stat().st_size > MAX_REPORT:
            return {"(junit report)": "failed"}
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        return None
    except (OSError, ElementTree.ParseError):
        return {"(junit report)": "failed"}  # an unreadable report fails the run's tests, it does not pass them
    outcomes = {}
    for case in root.iter("testcase"):
        key = f"{case.get('classname', '')}::{case.get('name', '')}"
        tags = {child.tag for child in case}
        outcomes[key] = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
    return outcomes


def read_rankings(path: Path) -> dict[str, list[str]] | str:
    try:
        if path.stat().st_size > MAX_REPORT:
            return f"{path.name} is larger than {MAX_REPORT >> 20} MB"
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return f"the command wrote no {path.name}"
    except (OSError, ValueError, RecursionError) as exc:
        return f"{path.name} is not JSON: {type(exc).__name__}"
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in data.values()):
        return f"{path.name} must map each user to a list of media ids"
    return {str(user): list(items) for user, items in data.items()}


def grade(baseline: Sequence[Measured], candidate: Measured, validation: Validation) -> Verdict:
    first, second = baseline
    for run, what in ((first, "the first baseline run"), (second, "the second baseline run"), (candidate, "the candidate")):
        if run.problem:
            return _verdict(Grade.FAILED, [f"{what}: {run.problem}"], first, second, candidate, validation)
    flaky = sorted(test for test in set(first.tests) | set(second.tests) if first.tests.get(test) != second.tests.get(test))
    must_pass = sorted(test for test, outcome in first.tests.items() if outcome == "passed" and second.tests.get(test) == "passed")
    broken = tuple(test for test in must_pass if candidate.tests.get(test) != "passed")
    noisy = [name for name in validation.metrics if _spread(first.metrics[name], second.metrics[name]) > validation.regression_threshold]
    changes = {name: _change(name, (first.metrics[name] + second.metrics[name]) / 2, candidate.metrics[name]) for name in validation.metrics}
    reasons = [f"{len(broken)} test(s) that passed before now fail: {', '.join(broken[:5])}"] if broken else []
    regressed = [name for name in validation.metrics if name not in noisy and changes[name] < -validation.regression_threshold]
    reasons += [f"{name} regressed by {-changes[name]:.1%} (threshold {validation.regression_threshold:.1%})" for name in regressed]
    improved = [name for name in validation.targets if name not in noisy and changes[name] > 0]
    missed = [name for name in validation.targets if name not in improved]
    reasons += [f"{name} is noisy in the baseline (quarantined)" for name in noisy]
    reasons += [f"{name} did not improve ({changes[name]:+.1%})" for name in missed if name not in noisy]
    if broken or regressed or not improved:
        status = Grade.FAILED
    else:
        status = Grade.SUCCESS if not missed else Grade.PARTIAL_SUCCESS
    reasons += [f"{name} improved by {changes[name]:+.1%}" for name in improved]
    quarantined = tuple(flaky) + tuple(f"metric:{name}" for name in noisy)
    return _verdict(status, reasons, first, second, candidate, validation, changes, quarantined, broken)


def _verdict(status: Grade, reasons: list[str], first: Measured, second: Measured, candidate: Measured, validation: Validation,
             changes: Mapping[str, float] | None = None, quarantined: tuple[str, ...] = (), broken: tuple[str, ...] = ()) -> Verdict:
    base = {name: (first.metrics[name] + second.metrics[name]) / 2 for name in validation.metrics
            if name in first.metrics and name in second.metrics}  # fmt: skip
    details = {"runs": {"baseline": [first.to_dict(), second.to_dict()], "candidate": candidate.to_dict()}}
    return Verdict(status, Advice.MERGE if status is Grade.SUCCESS else Advice.ROLLBACK, tuple(reasons), base, dict(candidate.metrics),
                   dict(changes or {}), quarantined, broken, details)  # fmt: skip


def _change(name: str, before: float, after: float) -> float:
    """Relative change, positive when better."""
    delta = after - before if METRICS[name].higher_is_better else before - after
    return delta / abs(before) if before else (math.copysign(1.0, delta) if delta else 0.0)


def _spread(a: float, b: float) -> float:
    high = max(abs(a), abs(b))
    return abs(a - b) / high if high else 0.0
