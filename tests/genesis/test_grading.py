"""grade(), measure(), read_junit() and read_rankings(): the evaluator outside the sandbox."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.brain.catalogue import MediaItem
from omega_actors.evaluation.movielens import Rated, Split, UserSplit
from omega_actors.genesis.grading import (
    COMMAND_TEST,
    Measured,
    Verdict,
    grade,
    measure,
    read_junit,
    read_rankings,
)
from omega_actors.genesis.process import RunResult
from omega_actors.genesis.request import Validation

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def validation(metrics: tuple[str, ...], targets: tuple[str, ...] | None = None, threshold: float = 0.05) -> Validation:
    return Validation(command=("true",), metrics=metrics, targets=targets if targets is not None else metrics,
                      regression_threshold=threshold, dataset="episodes")  # fmt: skip


def measured(tests: Mapping[str, str] | None = None, problem: str = "", **metrics: float) -> Measured:
    return Measured(dict(tests or {}), dict(metrics), problem)


ALL_PASS = {"t::a": PASSED, "t::b": PASSED}


# ---------------------------------------------------------------- grade


def test_every_target_improving_with_no_test_broken_is_a_success_that_recommends_merge() -> None:
    check = validation(("recall_at_10",))
    baseline = [measured(ALL_PASS, recall_at_10=0.30), measured(ALL_PASS, recall_at_10=0.30)]

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.36), check)

    assert isinstance(verdict, Verdict)
    assert verdict.status == "success"
    assert verdict.recommendation == "merge"
    assert verdict.broken == ()
    assert verdict.quarantined == ()
    assert verdict.baseline == {"recall_at_10": 0.30}
    assert verdict.candidate == {"recall_at_10": 0.36}
    assert verdict.changes["recall_at_10"] == pytest.approx(0.2)
    assert verdict.reasons == ("recall_at_10 improved by +20.0%",)
    assert verdict.to_dict()["runs"]["candidate"] == {"tests": 2, "passed": 2, "metrics": {"recall_at_10": 0.36},
                                                      "problem": ""}  # fmt: skip


def test_a_test_that_passed_in_both_baselines_and_fails_in_the_candidate_fails_the_grade_and_is_named_broken() -> None:
    check = validation(("recall_at_10",))
    baseline = [measured(ALL_PASS, recall_at_10=0.30), measured(ALL_PASS, recall_at_10=0.30)]

    verdict = grade(baseline, measured({"t::a": PASSED, "t::b": FAILED}, recall_at_10=0.50), check)

    assert verdict.status == "failed"
    assert verdict.recommendation == "rollback"
    assert verdict.broken == ("t::b",)
    assert verdict.reasons[0] == "1 test(s) that passed before now fail: t::b"


def test_a_must_pass_test_missing_from_the_candidate_counts_as_broken() -> None:
    check = validation(("recall_at_10",))
    baseline = [measured(ALL_PASS, recall_at_10=0.30), measured(ALL_PASS, recall_at_10=0.30)]

    verdict = grade(baseline, measured({"t::b": PASSED}, recall_at_10=0.50), check)

    assert (verdict.status, verdict.broken) == ("failed", ("t::a",))


def test_a_test_that_failed_in_the_baseline_may_still_fail_in_the_candidate() -> None:
    tests = {"t::a": PASSED, "t::old": FAILED}
    check = validation(("recall_at_10",))

    verdict = grade([measured(tests, recall_at_10=0.3), measured(tests, recall_at_10=0.3)],
                    measured(tests, recall_at_10=0.4), check)  # fmt: skip

    assert (verdict.status, verdict.broken, verdict.quarantined) == ("success", (), ())


def test_a_test_whose_outcome_differs_between_the_baseline_runs_is_quarantined_and_its_failure_does_not_count() -> None:
    check = validation(("recall_at_10",))
    first = measured({"t::a": PASSED, "t::flaky": PASSED}, recall_at_10=0.30)
    second = measured({"t::a": PASSED, "t::flaky": FAILED}, recall_at_10=0.30)

    verdict = grade([first, second], measured({"t::a": PASSED, "t::flaky": FAILED}, recall_at_10=0.33), check)

    assert verdict.status == "success"
    assert verdict.recommendation == "merge"
    assert verdict.quarantined == ("t::flaky",)
    assert verdict.broken == ()


def test_a_test_present_in_only_one_baseline_run_is_quarantined() -> None:
    check = validation(("recall_at_10",))
    first = measured({"t::a": PASSED, "t::sometimes": PASSED}, recall_at_10=0.30)
    second = measured({"t::a": PASSED}, recall_at_10=0.30)

    verdict = grade([first, second], measured({"t::a": PASSED}, recall_at_10=0.33), check)

    assert (verdict.status, verdict.quarantined) == ("success", ("t::sometimes",))


def test_a_metric_that_regresses_beyond_the_threshold_fails_the_grade_with_a_reason_naming_it() -> None:
    check = validation(("recall_at_10", "duration_s"), ("recall_at_10",), threshold=0.05)
    baseline = [measured(ALL_PASS, recall_at_10=0.30, duration_s=10.0),
                measured(ALL_PASS, recall_at_10=0.30, duration_s=10.0)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.36, duration_s=12.0), check)

    assert verdict.status == "failed"
    assert verdict.recommendation == "rollback"
    assert "duration_s regressed by 20.0% (threshold 5.0%)" in verdict.reasons
    assert verdict.changes["duration_s"] == pytest.approx(-0.2)


def test_a_metric_that_regresses_within_the_threshold_is_allowed() -> None:
    check = validation(("recall_at_10", "duration_s"), ("recall_at_10",), threshold=0.05)
    baseline = [measured(ALL_PASS, recall_at_10=0.30, duration_s=10.0),
                measured(ALL_PASS, recall_at_10=0.30, duration_s=10.0)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.36, duration_s=10.3), check)

    assert verdict.status == "success"
    assert verdict.changes["duration_s"] == pytest.approx(-0.03)
    assert not any("regressed" in reason for reason in verdict.reasons)


def test_a_lower_is_better_metric_improves_when_it_goes_down() -> None:
    check = validation(("duration_s", "peak_rss_mb"))
    baseline = [measured(ALL_PASS, duration_s=10.0, peak_rss_mb=200.0),
                measured(ALL_PASS, duration_s=10.0, peak_rss_mb=200.0)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, duration_s=8.0, peak_rss_mb=150.0), check)

    assert verdict.status == "success"
    assert verdict.changes["duration_s"] == pytest.approx(0.2)
    assert verdict.changes["peak_rss_mb"] == pytest.approx(0.25)


def test_a_lower_is_better_metric_going_up_is_not_an_improvement() -> None:
    check = validation(("duration_s",))
    baseline = [measured(ALL_PASS, duration_s=10.0), measured(ALL_PASS, duration_s=10.0)]

    verdict = grade(baseline, measured(ALL_PASS, duration_s=10.2), check)

    assert verdict.status == "failed"
    assert verdict.reasons == ("duration_s did not improve (-2.0%)",)


def test_some_targets_improving_and_others_not_is_a_partial_success_that_recommends_rollback() -> None:
    check = validation(("recall_at_10", "ndcg_at_10"))
    baseline = [measured(ALL_PASS, recall_at_10=0.30, ndcg_at_10=0.20),
                measured(ALL_PASS, recall_at_10=0.30, ndcg_at_10=0.20)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.36, ndcg_at_10=0.20), check)

    assert verdict.status == "partial_success"
    assert verdict.recommendation == "rollback"
    assert verdict.reasons == ("ndcg_at_10 did not improve (+0.0%)", "recall_at_10 improved by +20.0%")


def test_no_target_improving_fails_the_grade() -> None:
    check = validation(("recall_at_10", "ndcg_at_10"))
    baseline = [measured(ALL_PASS, recall_at_10=0.30, ndcg_at_10=0.20),
                measured(ALL_PASS, recall_at_10=0.30, ndcg_at_10=0.20)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.30, ndcg_at_10=0.20), check)

    assert (verdict.status, verdict.recommendation) == ("failed", "rollback")


def test_a_noisy_metric_is_quarantined_and_its_regression_does_not_count() -> None:
    check = validation(("recall_at_10", "peak_rss_mb"), ("recall_at_10",), threshold=0.05)
    baseline = [measured(ALL_PASS, recall_at_10=0.30, peak_rss_mb=100.0),
                measured(ALL_PASS, recall_at_10=0.30, peak_rss_mb=120.0)]  # fmt: skip

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.36, peak_rss_mb=300.0), check)

    assert verdict.status == "success"
    assert verdict.quarantined == ("metric:peak_rss_mb",)
    assert "peak_rss_mb is noisy in the baseline (quarantined)" in verdict.reasons
    assert not any("regressed" in reason for reason in verdict.reasons)


def test_a_noisy_target_does_not_count_as_improved() -> None:
    check = validation(("recall_at_10",), threshold=0.05)
    baseline = [measured(ALL_PASS, recall_at_10=0.20), measured(ALL_PASS, recall_at_10=0.30)]

    verdict = grade(baseline, measured(ALL_PASS, recall_at_10=0.90), check)

    assert verdict.status == "failed"
    assert verdict.quarantined == ("metric:recall_at_10",)
    assert verdict.reasons == ("recall_at_10 is noisy in the baseline (quarantined)",)


@pytest.mark.parametrize(("which", "what"), [
    (0, "the first baseline run"), (1, "the second baseline run"), (2, "the candidate"),
])  # fmt: skip
def test_a_run_with_a_problem_fails_the_grade_and_the_reason_says_which_run(which: int, what: str) -> None:
    check = validation(("recall_at_10",))
    runs = [measured(ALL_PASS, recall_at_10=0.30), measured(ALL_PASS, recall_at_10=0.30),
            measured(ALL_PASS, recall_at_10=0.40)]  # fmt: skip
    runs[which] = Measured({}, {}, "the command wrote no rankings.json")

    verdict = grade(runs[:2], runs[2], check)

    assert verdict.status == "failed"
    assert verdict.recommendation == "rollback"
    assert verdict.reasons == (f"{what}: the command wrote no rankings.json",)


# ---------------------------------------------------------------- grade against a pure model

_METRIC_NAMES = ("recall_at_10", "tests_passed", "duration_s", "peak_rss_mb")
_HIGHER = {"recall_at_10": True, "tests_passed": True, "duration_s": False, "peak_rss_mb": False}
_TESTS = ("t::a", "t::b", "t::c")


def _model_status(first: Measured, second: Measured, candidate: Measured, check: Validation) -> tuple[str, tuple[str, ...]]:
    """The rules of grading.py's docstring, written out: (status, broken)."""
    broken = tuple(sorted(t for t in _TESTS
                          if first.tests.get(t) == PASSED and second.tests.get(t) == PASSED
                          and candidate.tests.get(t) != PASSED))  # fmt: skip

    def noisy(name: str) -> bool:
        a, b = first.metrics[name], second.metrics[name]
        high = max(abs(a), abs(b))
        return high > 0 and abs(a - b) / high > check.regression_threshold

    def change(name: str) -> float:
        before, after = (first.metrics[name] + second.metrics[name]) / 2, candidate.metrics[name]
        better = after - before if _HIGHER[name] else before - after
        if before == 0:
            return 0.0 if better == 0 else math.copysign(1.0, better)
        return better / abs(before)

    regressed = any(not noisy(n) and change(n) < -check.regression_threshold for n in check.metrics)
    improved = [n for n in check.targets if not noisy(n) and change(n) > 0]
    if broken or regressed or not improved:
        return "failed", broken
    return ("success" if len(improved) == len(check.targets) else "partial_success"), broken


_value = st.integers(0, 24).map(lambda n: n / 4)
_outcome = st.sampled_from([PASSED, FAILED, SKIPPED, None])


@st.composite
def _runs(draw: st.DrawFn) -> tuple[Measured, Measured, Measured, Validation]:
    metrics = tuple(draw(st.lists(st.sampled_from(_METRIC_NAMES), min_size=1, max_size=4, unique=True)))
    targets = tuple(draw(st.lists(st.sampled_from(metrics), min_size=1, max_size=len(metrics), unique=True)))
    threshold = draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))

    def run() -> Measured:
        tests = {t: o for t in _TESTS if (o := draw(_outcome)) is not None}
        return Measured(tests, {name: draw(_value) for name in metrics})

    return run(), run(), run(), validation(metrics, targets, threshold)


@settings(max_examples=500, deadline=None)
@given(_runs())
def test_grade_agrees_with_a_pure_model_of_the_rules(runs: tuple[Measured, Measured, Measured, Validation]) -> None:
    first, second, candidate, check = runs

    verdict = grade([first, second], candidate, check)

    status, broken = _model_status(first, second, candidate, check)
    assert verdict.status == status
    assert verdict.broken == broken
    assert verdict.recommendation == ("merge" if status == "success" else "rollback")
    flaky = sorted(t for t in _TESTS if first.tests.get(t) != second.tests.get(t))
    assert [q for q in verdict.quarantined if not q.startswith("metric:")] == flaky


# ---------------------------------------------------------------- measure, read_junit, read_rankings

JUNIT_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.321" hostname="box">
    <testcase classname="tests.test_brain" name="test_ok" time="0.001"/>
    <testcase classname="tests.test_brain" name="test_wrong" time="0.002">
      <failure message="assert 1 == 2">def test_wrong():\n&gt;       assert 1 == 2</failure>
    </testcase>
    <testcase classname="tests.test_brain" name="test_broken_fixture" time="0.000">
      <error message="failed on setup with &quot;KeyError&quot;">KeyError: 'x'</error>
    </testcase>
    <testcase classname="tests.test_brain" name="test_later" time="0.000">
      <skipped type="pytest.skip" message="not yet">tests/test_brain.py:20: not yet</skipped>
    </testcase>
    <testcase classname="tests.test_router" name="test_chatty[1-2]" time="0.004">
      <system-out>hello</system-out>
      <properties><property name="k" value="v"/></properties>
    </testcase>
  </testsuite>
</testsuites>
"""
JUNIT_OUTCOMES = {
    "tests.test_brain::test_ok": PASSED,
    "tests.test_brain::test_wrong": FAILED,
    "tests.test_brain::test_broken_fixture": FAILED,
    "tests.test_brain::test_later": SKIPPED,
    "tests.test_router::test_chatty[1-2]": PASSED,
}


def result(tmp_path: Path, exit_code: int = 0, killed: str = "", stderr: str = "") -> RunResult:
    (tmp_path / "stdout.txt").write_text("")
    (tmp_path / "stderr.txt").write_text(stderr)
    return RunResult(exit_code=exit_code, killed=killed, wall_s=1.5, cpu_s=1.25, peak_rss_mb=30.0,
                     stdout=tmp_path / "stdout.txt", stderr=tmp_path / "stderr.txt")  # fmt: skip


def test_read_junit_maps_each_testcase_to_passed_failed_or_skipped(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT_XML)

    assert read_junit(tmp_path / "junit.xml") == JUNIT_OUTCOMES


def test_read_junit_returns_none_when_there_is_no_report(tmp_path: Path) -> None:
    assert read_junit(tmp_path / "junit.xml") is None


@pytest.mark.parametrize("text", ["", "<testsuite><testcase name='x'>", "not xml at all", "\x00\x01"])
def test_an_unparsable_junit_report_counts_as_one_failed_test(tmp_path: Path, text: str) -> None:
    (tmp_path / "junit.xml").write_text(text)

    assert read_junit(tmp_path / "junit.xml") == {"(junit report)": FAILED}


def test_a_junit_path_that_is_a_directory_counts_as_one_failed_test(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").mkdir()

    assert read_junit(tmp_path / "junit.xml") == {"(junit report)": FAILED}


def test_measure_reads_the_junit_report_and_the_resources_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT_XML)

    got = measure(result(tmp_path, exit_code=1), tmp_path, validation(("tests_passed", "duration_s", "peak_rss_mb")), None)

    assert got == Measured(JUNIT_OUTCOMES, {"tests_passed": 2.0, "duration_s": 1.5, "peak_rss_mb": 30.0})
    assert got.to_dict() == {"tests": 5, "passed": 2, "metrics": {"tests_passed": 2.0, "duration_s": 1.5,
                                                                  "peak_rss_mb": 30.0}, "problem": ""}  # fmt: skip


@pytest.mark.parametrize(("exit_code", "outcome", "passed"), [(0, PASSED, 1.0), (2, FAILED, 0.0), (-9, FAILED, 0.0)])
def test_without_a_junit_report_the_command_itself_is_one_test_that_passes_iff_it_exits_zero(
    tmp_path: Path, exit_code: int, outcome: str, passed: float,
) -> None:
    got = measure(result(tmp_path, exit_code=exit_code), tmp_path, validation(("tests_passed",)), None)

    assert got == Measured({COMMAND_TEST: outcome}, {"tests_passed": passed})
    assert COMMAND_TEST == "(the command)"


def test_measure_of_an_unparsable_junit_report_counts_no_test_as_passed(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text("<testsuite><testcase")

    got = measure(result(tmp_path), tmp_path, validation(("tests_passed",)), None)

    assert got == Measured({"(junit report)": FAILED}, {"tests_passed": 0.0})


def test_measure_of_a_run_killed_at_its_wall_clock_limit_returns_a_problem(tmp_path: Path) -> None:
    run = RunResult(exit_code=-9, killed="timeout", wall_s=12.34, cpu_s=0.5, peak_rss_mb=10.0,
                    stdout=tmp_path / "stdout.txt", stderr=tmp_path / "stderr.txt")  # fmt: skip
    (tmp_path / "junit.xml").write_text(JUNIT_XML)

    got = measure(run, tmp_path, validation(("tests_passed",)), None)

    assert got == Measured({}, {}, "the command was killed after its wall-clock limit (12.3 s)")


def test_measure_of_a_run_killed_at_its_cpu_limit_names_the_signal(tmp_path: Path) -> None:
    got = measure(result(tmp_path, exit_code=-24, killed="cpu"), tmp_path, validation(("duration_s",)), None)

    assert got == Measured({}, {}, "the command was killed at its cpu limit (signal 24)")


def test_read_rankings_returns_each_user_and_her_list(tmp_path: Path) -> None:
    (tmp_path / "rankings.json").write_text(json.dumps({"1": ["10", "20"], "2": []}))

    assert read_rankings(tmp_path / "rankings.json") == {"1": ["10", "20"], "2": []}


def test_read_rankings_without_a_file_says_the_command_wrote_none(tmp_path: Path) -> None:
    assert read_rankings(tmp_path / "rankings.json") == "the command wrote no rankings.json"


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe{}", b'{"1": ["10"]'])
def test_read_rankings_refuses_a_file_that_is_not_json_with_a_message(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "rankings.json").write_bytes(content)

    message = read_rankings(tmp_path / "rankings.json")

    assert isinstance(message, str)
    assert message.startswith("rankings.json is not JSON: ")


@pytest.mark.parametrize("data", [[["10"]], "x", 3, None, {"1": "10"}, {"1": [10]}, {"1": ["10", None]}, {"1": {"a": 1}}])
def test_read_rankings_refuses_json_of_the_wrong_shape_with_a_message(tmp_path: Path, data: object) -> None:
    (tmp_path / "rankings.json").write_text(json.dumps(data))

    assert read_rankings(tmp_path / "rankings.json") == "rankings.json must map each user to a list of media ids"


def test_read_rankings_refuses_deeply_nested_json_with_a_message_instead_of_raising(tmp_path: Path) -> None:
    # The sandbox writes this file; a hostile or buggy command must not crash the evaluator.
    (tmp_path / "rankings.json").write_text("[" * 200_000)
    try:
        message = read_rankings(tmp_path / "rankings.json")
    except RecursionError as error:
        pytest.fail(f"BUG (grading.py read_rankings): deeply nested JSON raises RecursionError ({error}); "
                    "it is not caught by `except (OSError, ValueError)`")  # fmt: skip
    assert isinstance(message, str)
    assert message.startswith("rankings.json is not JSON: ")


# ---------------------------------------------------------------- recall_at_10 and ndcg_at_10 from rankings

ITEMS = tuple(MediaItem(str(n), f"Movie {n}") for n in range(1, 21))
TRUTH = Split(ITEMS, (
    UserSplit("u1", (Rated("1", 4.0, 1.0),), frozenset({"2", "3"})),
    UserSplit("u2", (Rated("5", 5.0, 2.0),), frozenset({"4"})),
))  # fmt: skip
RANKINGS = {
    # u1: "2" at rank 1, "3" at rank 11 (outside the top 10): recall 1/2; DCG 1, ideal DCG 1 + 1/log2(3)
    "u1": ["2", "6", "7", "8", "9", "10", "11", "12", "13", "14", "3"],
    # u2: "4" at rank 2: recall 1; DCG 1/log2(3), ideal 1
    "u2": ["6", "4", "7"],
    "someone else": ["1"],
}


def test_measure_computes_recall_and_ndcg_at_10_from_the_rankings_against_the_held_out_truth(tmp_path: Path) -> None:
    (tmp_path / "rankings.json").write_text(json.dumps(RANKINGS))

    got = measure(result(tmp_path), tmp_path, validation(("recall_at_10", "ndcg_at_10")), TRUTH)

    assert got.problem == ""
    assert got.tests == {COMMAND_TEST: PASSED}
    assert got.metrics["recall_at_10"] == 0.75
    expected_ndcg = (1 / (1 + 1 / math.log2(3)) + 1 / math.log2(3)) / 2
    assert got.metrics["ndcg_at_10"] == pytest.approx(expected_ndcg, rel=1e-12)


def test_measure_of_a_ranking_metric_without_truth_returns_a_problem_and_keeps_the_metrics_so_far(tmp_path: Path) -> None:
    got = measure(result(tmp_path), tmp_path, validation(("duration_s", "recall_at_10")), None)

    assert got == Measured({COMMAND_TEST: PASSED}, {"duration_s": 1.5}, "recall_at_10 needs recorded episodes")


def test_measure_of_a_failed_command_without_rankings_quotes_its_exit_and_the_tail_of_stderr(tmp_path: Path) -> None:
    run = result(tmp_path, exit_code=1, stderr="one\ntwo\nthree\nfour\n")

    got = measure(run, tmp_path, validation(("recall_at_10",)), TRUTH)

    assert got.problem == "the command wrote no rankings.json (exit code 1: two\nthree\nfour)"
    assert got.metrics == {}


def test_measure_of_rankings_missing_a_user_of_the_truth_returns_a_problem(tmp_path: Path) -> None:
    (tmp_path / "rankings.json").write_text(json.dumps({"u1": ["2"]}))

    got = measure(result(tmp_path), tmp_path, validation(("recall_at_10",)), TRUTH)

    assert got.problem.startswith("the rankings cannot be graded: no ranking for 1 of the split's users (first: 'u2')")


def test_measure_of_rankings_that_repeat_an_item_returns_a_problem(tmp_path: Path) -> None:
    (tmp_path / "rankings.json").write_text(json.dumps({"u1": ["2", "2"], "u2": []}))

    got = measure(result(tmp_path), tmp_path, validation(("recall_at_10",)), TRUTH)

    assert got.problem.startswith("the rankings cannot be graded: the top 10 repeats an item")
