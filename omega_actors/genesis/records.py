"""Genesis' own database: every request, its timings, metrics and outcome.

::

    records = Records(Path(".omega/genesis/genesis.sqlite3"))
    records.requested("g0123456789ab", request)         # status "requested"
    records.progress("g0123456789ab", "baseline", {"sandbox_create_ms": 3.1})
    records.finished("g0123456789ab", "success", "merge", verdict_dict, timings)
    records.list(); records.get("g0123456789ab")

One SQLite file in WAL mode, written by the Genesis service alone (the
experiment actors report to it), read by ``run.py genesis list`` and
``show`` at any time. Rows are JSON documents beside the columns a list
needs, so a new field never needs a migration.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from .grading import Grade
from .request import ExperimentRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    experiment_type TEXT NOT NULL,
    risk_level TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    recommendation TEXT NOT NULL DEFAULT '',
    step TEXT NOT NULL DEFAULT '',
    requested_at REAL NOT NULL,
    finished_at REAL,
    request TEXT NOT NULL,
    timings TEXT NOT NULL DEFAULT '{}',
    outcome TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS rejected (
    at REAL NOT NULL,
    requester TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""
FINAL = tuple(str(grade) for grade in Grade)  # the statuses of a finished experiment


class Records:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def requested(self, experiment_id: str, request: ExperimentRequest) -> None:
        self.db.execute(
            "INSERT INTO experiments (id, requester, experiment_type, risk_level, description, status, requested_at, request) "
            "VALUES (?, ?, ?, ?, ?, 'requested', ?, ?)",
            (experiment_id, request.requester, request.experiment_type, request.risk_level, request.description,
             time.time(), json.dumps(request.to_dict())),
        )  # fmt: skip

    def rejected(self, requester: str, reason: str) -> None:
        self.db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (time.time(), requester[:64], reason[:2000]))

    def progress(self, experiment_id: str, step: str, timings: dict[str, float]) -> None:
        self.db.execute("UPDATE experiments SET status = 'running', step = ?, timings = ? WHERE id = ? AND finished_at IS NULL",
                        (step, json.dumps(timings), experiment_id))  # fmt: skip

    def finished(self, experiment_id: str, status: str, recommendation: str, outcome: dict[str, Any],
                 timings: dict[str, float]) -> None:
        if status not in FINAL:
            raise ValueError(f"status must be one of {FINAL}; got {status!r}")
        self.db.execute(
            "UPDATE experiments SET status = ?, recommendation = ?, step = 'done', finished_at = ?, outcome = ?, timings = ? "
            "WHERE id = ? AND finished_at IS NULL",
            (status, recommendation, time.time(), json.dumps(outcome), json.dumps(timings), experiment_id),
        )  # fmt: skip

    def unfinished(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM experiments WHERE finished_at IS NULL ORDER BY requested_at")]

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, requester, experiment_type, risk_level, status, recommendation, step, requested_at, finished_at, "
            "description FROM experiments ORDER BY requested_at DESC LIMIT ?", (limit,)).fetchall()  # fmt: skip
        keys = ("id", "requester", "experiment_type", "risk_level", "status", "recommendation", "step", "requested_at",
                "finished_at", "description")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def get(self, experiment_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, status, recommendation, step, requested_at, finished_at, request, timings, outcome "
                              "FROM experiments WHERE id = ?", (experiment_id,)).fetchone()  # fmt: skip
        if row is None:
            return None
        keys = ("id", "status", "recommendation", "step", "requested_at", "finished_at")
        record = dict(zip(keys, row[:6], strict=True))
        record.update(request=json.loads(row[6]), timings=json.loads(row[7]), outcome=json.loads(row[8]))
        return record

    def rejections(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])
