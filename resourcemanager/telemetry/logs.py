"""Log formats: plain text lines, or one JSON object per line for log shippers
(``LOG_FORMAT=json``). Neither lets a logged value (a request path, a user agent, a
username, a scope) break a line: a value may not forge a line of its own."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
#: Django adds the request object to its own lines: its text holds the query string.
_SKIPPED_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request"}
)


#: Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: what
#: a terminal or a log reader may take for the end of a line, or act upon.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control_characters(text: str) -> str:
    """``text`` with each control character written as its Python escape (``\\n``, ``\\x1b``)."""
    return _LINE_BREAKING.sub(lambda found: found[0].encode("unicode_escape").decode(), text)


class PlainFormatter(logging.Formatter):
    """The configured format, with control characters in the line escaped; a traceback
    that follows keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_control_characters(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """Time, level, logger, message, request id, the fields passed as ``extra``, and
    the traceback when there is one. Values that JSON cannot hold are written as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items()
            if key not in _SKIPPED_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # json escapes C0 controls; DEL, C1 and the separators pass with ensure_ascii=False.
        text = json.dumps(entry, default=str, ensure_ascii=False)
        return _LINE_BREAKING.sub(lambda found: f"\\u{ord(found[0]):04x}", text)


def dict_config(level: str, log_format: str) -> dict[str, Any]:
    """Django's ``LOGGING``: one console handler in ``log_format`` (``plain`` or ``json``),
    every record carrying its request id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "resourcemanager.telemetry.context.RequestIdLogFilter"}},
        "formatters": {
            "plain": {
                "class": "resourcemanager.telemetry.logs.PlainFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            },
            "json": {"()": "resourcemanager.telemetry.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # runserver's request lines and Django's 4xx warnings would repeat the access
            # log of RequestIdMiddleware; server errors (with their traceback) stay.
            "django.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
        },
    }
