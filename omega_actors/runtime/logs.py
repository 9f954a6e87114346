"""Structured log events.

Every runtime log record carries a dict under ``record.omega`` with at least
``event`` (``child_exited``, ``reached_max_restart_intensity``, ...) and
``actor`` (a path such as ``app/pool/w1``), so operators can grep and count.
The record is formatted only when a handler writes it: :class:`JsonFormatter`
writes one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

# A library stays quiet until its user configures logging.
logging.getLogger("omega").addHandler(logging.NullHandler())


def emit(level: int, event: str, actor: str, **fields: Any) -> None:
    # Looked up on every call: Thespian replaces the logging tree in each actor
    # process, and a logger object kept from before the fork would bypass it.
    logger = logging.getLogger("omega")
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"omega": {"event": event, "actor": actor, **fields}})


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        fields = getattr(record, "omega", None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def logging_config(path: str | None, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: JSON lines to ``path`` (or nowhere)."""
    handler: dict[str, Any] = (
        {"class": "logging.FileHandler", "filename": path, "formatter": "json", "level": level}
        if path
        else {"class": "logging.NullHandler"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level},
    }
