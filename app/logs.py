"""Log setup: human-readable text or one JSON object per line, both carrying the session id when a record has one.

Log calls that concern a session pass it explicitly, ``log.info(..., extra={"session_id": sid})``: records come
from request handlers, the frame-clock thread and the encoders' writer threads alike, so there is no ambient
context to take it from.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "configure_logging"]

LogFormat = Literal["text", "json"]


def _session_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "session_id", None)
    return None if value is None else str(value)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [session <id>]: message``; the session part only when the record has one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._session_style = logging.PercentStyle("%(asctime)s %(levelname)s %(name)s [session %(session_id)s]: "
                                                   "%(message)s")  # fmt: skip

    def formatMessage(self, record: logging.LogRecord) -> str:
        style = self._style if _session_id(record) is None else self._session_style
        return style.format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601 UTC), level, logger, message, session_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (session_id := _session_id(record)) is not None:
            entry["session_id"] = session_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str | int = "INFO", fmt: LogFormat = "text") -> None:
    """Send every logger's records (uvicorn's included, run it with ``log_config=None``) to stderr in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
