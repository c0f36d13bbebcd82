"""Request context (request id, client address) carried into tasks, audit rows and logs."""

import logging
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="")
_source_ip: ContextVar[str | None] = ContextVar("source_ip", default=None)


def get_request_id() -> str:
    return _request_id.get()


def get_source_ip() -> str | None:
    return _source_ip.get()


def bind(request_id: str | None, source_ip: str | None = None) -> None:
    _request_id.set(request_id or "")
    _source_ip.set(source_ip)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
