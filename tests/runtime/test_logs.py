"""Structured log events, one JSON object per line."""

from __future__ import annotations

import json
import logging

from omega_actors.runtime import logs


def test_an_event_is_written_as_one_json_line_with_its_fields(tmp_path):
    path = tmp_path / "omega.jsonl"
    handler = logging.FileHandler(path)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("omega")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        logs.emit(logging.ERROR, "child_exited", "app/w", reason="crash: boom")
        logs.emit(logging.DEBUG, "too_quiet", "app/w")
    finally:
        logger.removeHandler(handler)
        logger.level = level
        handler.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (record["event"], record["actor"], record["reason"], record["level"]) == ("child_exited", "app/w", "crash: boom", "ERROR")


def test_the_logging_config_writes_json_lines_to_the_given_file():
    config = logs.logging_config("/tmp/x.jsonl", "WARNING")
    assert config["handlers"]["main"] == {
        "class": "logging.FileHandler", "filename": "/tmp/x.jsonl", "formatter": "json", "level": "WARNING",
    }  # fmt: skip
    assert config["formatters"]["json"]["()"].endswith("logs.JsonFormatter")
    assert logs.logging_config(None)["handlers"]["main"]["class"] == "logging.NullHandler"
