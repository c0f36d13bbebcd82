"""Admin connections kept open between operations, in each process.

Opening a connection can cost many times the statements an operation runs (a MySQL
handshake takes about 15 ms here, a PostgreSQL one with SCRAM about 5 ms; a CREATE USER
under 1 ms). An operation takes an idle
connection of its instance, that is of the same server, account and options, after
checking that it still answers, or opens one; it gives it back when it ended without an
error. A connection that failed, or stayed idle for ``MAX_IDLE`` seconds, is closed
instead. A process forked from one holding connections starts with none: the parent's
stay the parent's, untouched.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from typing import Generic, TypeVar

Connection = TypeVar("Connection")

#: Seconds an idle connection is kept.
MAX_IDLE = 60.0
#: Idle connections kept per instance.
MAX_KEPT = 4


def instance_key(*parts: Hashable, password: str) -> tuple[Hashable, ...]:
    """What tells instances apart, with the password digested (never kept in clear)."""
    return (*parts, hashlib.sha256(password.encode()).hexdigest())


class IdleConnections(Generic[Connection]):
    """Idle connections by instance key. ``alive`` checks one before reuse (a round trip)
    and ``close`` ends one; both must not raise for a connection that is gone."""

    def __init__(self, alive: Callable[[Connection], bool],
                 close: Callable[[Connection], None]) -> None:
        self._alive, self._close = alive, close
        self._idle: dict[Hashable, list[tuple[float, Connection]]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextmanager
    def borrowed(self, key: Hashable, connect: Callable[[], Connection]) -> Iterator[Connection]:
        """An idle connection of ``key``, else a new one from ``connect`` (whose errors
        propagate); given back when the block ends without an exception, else closed."""
        conn = self.take(key)
        if conn is None:
            conn = connect()
        try:
            yield conn
        except BaseException:
            self._quietly_close(conn)
            raise
        self.give_back(key, conn)

    def take(self, key: Hashable) -> Connection | None:
        """An idle connection of ``key`` that still answers, or None."""
        while (conn := self._pop(key)) is not None:
            if self._alive(conn):
                return conn
            self._quietly_close(conn)
        return None

    def give_back(self, key: Hashable, conn: Connection) -> None:
        stale: list[Connection] = []
        with self._lock:
            self._forget_a_parents()
            kept = self._idle.setdefault(key, [])
            kept.append((time.monotonic(), conn))
            while len(kept) > MAX_KEPT:
                stale.append(kept.pop(0)[1])
        for each in stale:
            self._quietly_close(each)

    def _pop(self, key: Hashable) -> Connection | None:
        stale: list[Connection] = []
        found = None
        with self._lock:
            self._forget_a_parents()
            kept = self._idle.get(key, [])
            oldest_fresh = time.monotonic() - MAX_IDLE
            while kept and found is None:
                since, conn = kept.pop()
                if since < oldest_fresh:
                    stale.append(conn)
                else:
                    found = conn
        for each in stale:
            self._quietly_close(each)
        return found

    def _forget_a_parents(self) -> None:
        """In a forked child: drop the parent's connections without closing them (closing
        would end the parent's sessions); called with the lock held."""
        if os.getpid() != self._pid:
            self._idle, self._pid = {}, os.getpid()

    def _quietly_close(self, conn: Connection) -> None:
        with suppress(Exception):
            self._close(conn)
