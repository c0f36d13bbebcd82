"""Short transactions that record an outcome, tried again after a transient database error.

An operation's outcome must not be lost because the app database hiccupped once (SQLite's
"database is locked", a PostgreSQL serialization failure, a dropped connection). The
recording transaction is idempotent (it re-reads the locked row), so it simply runs again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Tries of a recording transaction, and the first pause between two (doubling).
ATTEMPTS = 4
BACKOFF = 0.1


def in_short_transaction(record: Callable[[], T], *, what: str) -> T:
    """Run ``record`` in its own transaction, again after an ``OperationalError``.

    The last error propagates: the caller's lease then expires and a sweep runs the
    (idempotent) operation again.
    """
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                return record()
        except OperationalError as exc:
            if attempt == ATTEMPTS:
                logger.error("could not record %s after %d tries: %s", what, attempt, exc)
                raise
            logger.warning("recording %s failed (%s); trying again", what, exc)
            time.sleep(BACKOFF * 2 ** (attempt - 1))
            attempt += 1
