"""Holding back a consumer that fails (a circuit breaker), so that a tool that is down or
times out does not hold the workers that the other consumers' deliveries need.

After a failure worth retrying (unreachable, timeouts, 5xx), the consumer's deliveries go
one at a time: each takes the consumer's turn (``paused_until``, for as long as one
attempt may last) and the others wait for it. A success ends that, and an answer of the
tool's that is not worth retrying (a 4xx) too: the tool answers. After
``RM_CONSUMER_BREAKER_FAILURES`` such failures in a row the consumer is paused: its
deliveries wait, pending, with no attempt counted, until ``paused_until``, which moves
further out (the delivery backoff) at each pause; then again one delivery tries it.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from consumers.models import Consumer
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import queueing

logger = logging.getLogger(__name__)


def wait_before(consumer: Consumer) -> float | None:
    """Seconds a delivery to ``consumer`` should wait, or None to go ahead: the consumer
    has not failed, or this delivery takes its turn."""
    if not consumer.failures_in_a_row:
        return None  # the common case costs nothing
    now = timezone.now()
    if consumer.paused_until is not None and consumer.paused_until > now:
        return _waiting(consumer, (consumer.paused_until - now).total_seconds())
    turn = _one_attempt()
    taken = Consumer.objects.filter(pk=consumer.pk, paused_until=consumer.paused_until).update(
        paused_until=now + timedelta(seconds=turn))
    return None if taken else _waiting(consumer, turn)


def why_waiting(consumer: Consumer, wait: float) -> str:
    """A delivery's error when ``consumer``'s turn or pause holds it ``wait`` seconds."""
    return (f"not attempted: the consumer is held back for {math.ceil(wait)} s more, after "
            f"{consumer.failures_in_a_row} failures in a row")


def note_outcome(consumer: Consumer, *, transient_failure: bool) -> None:
    """Record an attempt's outcome: a transient failure counts, and pauses the consumer
    at ``RM_CONSUMER_BREAKER_FAILURES`` in a row; anything else ends the row."""
    if transient_failure:
        _count_failure(consumer)
    elif consumer.failures_in_a_row or consumer.paused_until is not None:
        Consumer.objects.filter(pk=consumer.pk).update(failures_in_a_row=0, paused_until=None)
        if consumer.failures_in_a_row >= settings.RM_CONSUMER_BREAKER_FAILURES:
            logger.info("consumer %s answers again; resumed", consumer.pk)
            _audit(consumer, "answers again: resumed")


def _count_failure(consumer: Consumer) -> None:
    failures = consumer.failures_in_a_row + 1
    beyond = failures - settings.RM_CONSUMER_BREAKER_FAILURES
    until = None  # the next delivery takes the turn
    if beyond >= 0:
        pause = queueing.retry_delay(beyond, base=settings.RM_CONSUMER_RETRY_BACKOFF,
                                     cap=settings.RM_CONSUMER_RETRY_BACKOFF_MAX)
        until = timezone.now() + timedelta(seconds=pause)
        logger.warning("consumer %s paused for %d s after %d failures in a row",
                       consumer.pk, pause, failures)
        _audit(consumer, f"paused for {int(pause)} s after {failures} failures in a row")
    Consumer.objects.filter(pk=consumer.pk).update(
        failures_in_a_row=F("failures_in_a_row") + 1, paused_until=until)


def _waiting(consumer: Consumer, seconds: float) -> float:
    """How long a delivery waits: out the pause, or a while for the one taking a turn
    (whose attempt may end much sooner than it may last)."""
    if consumer.failures_in_a_row >= settings.RM_CONSUMER_BREAKER_FAILURES:
        return seconds
    return min(seconds, float(settings.RM_CONSUMER_RETRY_BACKOFF))


def _one_attempt() -> float:
    """Seconds one attempt may last: how long a turn holds the consumer."""
    return settings.RM_CONSUMER_CONNECT_TIMEOUT + settings.RM_CONSUMER_READ_TIMEOUT + 5


def _audit(consumer: Consumer, message: str) -> None:
    record(SYSTEM.name, "consumer.breaker", AuditEntry.Outcome.SUCCESS, scope=consumer.scope,
           target=consumer, message=message)
