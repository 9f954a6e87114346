"""Records: Genesis' own SQLite database of requests, progress and outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omega_actors.genesis.records import Records
from omega_actors.genesis.request import ExperimentRequest, parse_request

ID_A, ID_B, ID_C = "g0123456789ab", "g0123456789ac", "g0123456789ad"


def request(description: str = "rank by taste only", requester: str = "tv-1") -> ExperimentRequest:
    return parse_request({
        "experiment_type": "experimental", "description": description, "risk_level": "high",
        "estimated_impact": "+10% Recall@10", "rollback_plan": "delete the sandbox", "requester": requester,
        "change": {"kind": "config", "repository": ".omega/state", "files": {"brain.toml": "[brain]\n"}},
        "validation": {"command": ["{python}", "-m", "x"], "metrics": ["duration_s"]},
    })  # fmt: skip


@pytest.fixture
def open_records(tmp_path: Path) -> Iterator[Callable[[], Records]]:
    opened: list[Records] = []

    def open_() -> Records:
        records = Records(tmp_path / "genesis" / "genesis.sqlite3")
        opened.append(records)
        return records

    yield open_
    for records in opened:
        records.close()


def test_a_requested_experiment_is_listed_and_shown_with_status_requested(open_records: Callable[[], Records]) -> None:
    records = open_records()
    wanted = request()

    records.requested(ID_A, wanted)

    [row] = records.list()
    assert {k: v for k, v in row.items() if k != "requested_at"} == {
        "id": ID_A, "requester": "tv-1", "experiment_type": "experimental", "risk_level": "high",
        "status": "requested", "recommendation": "", "step": "", "finished_at": None,
        "description": "rank by taste only",
    }  # fmt: skip
    assert isinstance(row["requested_at"], float)
    shown = records.get(ID_A)
    assert shown is not None
    assert (shown["status"], shown["recommendation"], shown["step"], shown["finished_at"]) == ("requested", "", "", None)
    assert shown["request"] == wanted.to_dict()
    assert parse_request(shown["request"]) == wanted
    assert shown["timings"] == {}
    assert shown["outcome"] == {}


def test_get_of_an_unknown_experiment_is_none(open_records: Callable[[], Records]) -> None:
    assert open_records().get("g000000000000") is None


def test_progress_sets_the_step_the_timings_and_status_running(open_records: Callable[[], Records]) -> None:
    records = open_records()
    records.requested(ID_A, request())

    records.progress(ID_A, "baseline", {"sandbox_create_ms": 3.1})
    records.progress(ID_A, "candidate", {"sandbox_create_ms": 3.1, "baseline-1_command_ms": 40.0})

    shown = records.get(ID_A)
    assert shown is not None
    assert (shown["status"], shown["step"]) == ("running", "candidate")
    assert shown["timings"] == {"sandbox_create_ms": 3.1, "baseline-1_command_ms": 40.0}
    assert records.list()[0]["step"] == "candidate"


def test_finished_sets_status_recommendation_and_outcome_and_a_second_call_does_not_overwrite_them(
    open_records: Callable[[], Records],
) -> None:
    records = open_records()
    records.requested(ID_A, request())
    records.progress(ID_A, "grade", {"grade_ms": 1.0})

    records.finished(ID_A, "success", "merge", {"status": "success", "changes": {"duration_s": 0.2}}, {"total_ms": 99.0})
    records.finished(ID_A, "failed", "rollback", {"status": "failed"}, {"total_ms": 1.0})
    records.progress(ID_A, "baseline", {"late": 1.0})

    shown = records.get(ID_A)
    assert shown is not None
    assert (shown["status"], shown["recommendation"], shown["step"]) == ("success", "merge", "done")
    assert shown["outcome"] == {"status": "success", "changes": {"duration_s": 0.2}}
    assert shown["timings"] == {"total_ms": 99.0}
    assert isinstance(shown["finished_at"], float)
    assert shown["finished_at"] >= shown["requested_at"]


@pytest.mark.parametrize("status", ["requested", "running", "merged", "", "SUCCESS"])
def test_finished_with_a_status_that_is_not_final_raises_value_error_and_changes_nothing(
    open_records: Callable[[], Records], status: str,
) -> None:
    records = open_records()
    records.requested(ID_A, request())

    with pytest.raises(ValueError, match=r"status must be one of \('success', 'partial_success', 'failed'\)"):
        records.finished(ID_A, status, "rollback", {}, {})

    shown = records.get(ID_A)
    assert shown is not None
    assert (shown["status"], shown["finished_at"]) == ("requested", None)


def test_unfinished_lists_only_the_experiments_without_an_outcome(open_records: Callable[[], Records]) -> None:
    records = open_records()
    for experiment_id in (ID_A, ID_B, ID_C):
        records.requested(experiment_id, request())
    records.progress(ID_B, "baseline", {})
    records.finished(ID_C, "partial_success", "rollback", {}, {})

    assert sorted(records.unfinished()) == [ID_A, ID_B]
    assert {row["id"]: row["status"] for row in records.list()} == {ID_A: "requested", ID_B: "running",
                                                                    ID_C: "partial_success"}  # fmt: skip


def test_list_returns_at_most_limit_rows(open_records: Callable[[], Records]) -> None:
    records = open_records()
    for experiment_id in (ID_A, ID_B, ID_C):
        records.requested(experiment_id, request())

    assert len(records.list(limit=2)) == 2
    assert len(records.list()) == 3


def test_rejected_requests_are_counted(open_records: Callable[[], Records]) -> None:
    records = open_records()
    assert records.rejections() == 0

    records.rejected("tv-1", "validation.metrics: unknown metric 'x'")
    records.rejected("x" * 500, "y" * 10_000)

    assert records.rejections() == 2


def test_a_second_records_on_the_same_file_sees_the_rows_of_the_first(open_records: Callable[[], Records]) -> None:
    writer, reader = open_records(), open_records()
    assert writer.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    writer.requested(ID_A, request(requester="agent_7"))
    assert [row["requester"] for row in reader.list()] == ["agent_7"]

    writer.finished(ID_A, "failed", "rollback", {"reasons": ["x"]}, {})
    shown = reader.get(ID_A)
    assert shown is not None
    assert (shown["status"], shown["outcome"]) == ("failed", {"reasons": ["x"]})

    reader.rejected("tv-2", "bad")
    assert writer.rejections() == 1
    assert reader.unfinished() == []


def test_reopening_the_file_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "genesis.sqlite3"
    first = Records(path)
    try:
        first.requested(ID_A, request())
    finally:
        first.close()

    again = Records(path)
    try:
        assert again.unfinished() == [ID_A]
    finally:
        again.close()
