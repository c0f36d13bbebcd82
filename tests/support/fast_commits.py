"""Commits as the code under test sees them, inside a test's rolled-back transaction.

pytest-django's ``db`` runs each test in a transaction rolled back at its end: cheap,
unlike ``transactional_db``, which empties every table after each test. Inside it the
code's own ``transaction.atomic()`` blocks are savepoints, and ``on_commit`` callbacks (the
outbox relay, the provider operations, the deliveries) would never run.

``emulated_commits`` runs them where a real commit would: when the outermost block the
code opened ends without error, and at once when ``on_commit`` is called outside any block
of the code (autocommit). Callbacks of a block rolled back are dropped, as on a server.

Not emulated: another connection seeing the rows, and constraints checked at commit time.
Tests about those, or about another thread or process reading the database, keep
``transactional_db``, under which this emulation changes nothing (the commits are real).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

_emulations: dict[int, _CommitEmulation] = {}
_atomic_exit = transaction.Atomic.__exit__


def _run(func: Callable[[], Any], robust: bool) -> None:
    """Call ``func`` as Django calls an on-commit callback (robust: errors only logged)."""
    if not robust:
        func()
        return
    try:
        func()
    except Exception:
        logger.exception("Error calling %s in on_commit()", func.__qualname__)


class _CommitEmulation:
    def __init__(self, wrapper: BaseDatabaseWrapper) -> None:
        self.wrapper = wrapper
        self.test_depth = len(wrapper.atomic_blocks)  # the test's own blocks
        self.queue_on_commit = wrapper.on_commit

    def at_test_level(self) -> bool:
        return len(self.wrapper.atomic_blocks) == self.test_depth

    def on_commit(self, func: Callable[[], Any], robust: bool = False) -> None:
        if self.at_test_level():
            _run(func, robust)
        else:
            self.queue_on_commit(func, robust)

    def commit(self) -> None:
        """The code's outermost block ended: run its callbacks, in order, as Django does
        after a commit (a callback's own transactions commit by themselves)."""
        committed, self.wrapper.run_on_commit = self.wrapper.run_on_commit, []
        for _, func, robust in committed:
            _run(func, robust)


def _exit_and_commit(atomic: transaction.Atomic, exc_type, exc_value, traceback) -> Any:
    suppress = _atomic_exit(atomic, exc_type, exc_value, traceback)
    wrapper = transaction.get_connection(atomic.using)
    emulation = _emulations.get(id(wrapper))
    if (emulation is not None and exc_type is None and emulation.at_test_level()
            and not wrapper.needs_rollback):
        emulation.commit()
    return suppress


@contextmanager
def emulated_commits(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Within: the code's transactions on database ``using`` run their on-commit callbacks
    when they end, as committed ones do. Enter it after the test's transaction began."""
    wrapper = transaction.get_connection(using)
    emulation = _CommitEmulation(wrapper)
    _emulations[id(wrapper)] = emulation
    wrapper.on_commit = emulation.on_commit
    transaction.Atomic.__exit__ = _exit_and_commit
    try:
        yield
    finally:
        del _emulations[id(wrapper)]
        del wrapper.on_commit  # the class's method again
        if not _emulations:
            transaction.Atomic.__exit__ = _atomic_exit


@pytest.fixture(name="api_db")
def rolled_back_api_db(committing_db) -> None:
    """``api_db`` (tests/conftest.py) in the rolled-back transaction with emulated commits,
    for the directories whose conftest imports it: their tests use no other connection."""
