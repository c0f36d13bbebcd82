"""Pausing a consumer that keeps failing (a circuit breaker), so that a tool that is down
or times out does not hold the workers that the other consumers' deliveries need.

After ``RM_CONSUMER_BREAKER_FAILURES`` transient failures in a row (unreachable,
timeouts, 5xx) the consumer is paused: its deliveries wait, pending, without an attempt
counted, until ``paused_until``, which moves further out (the delivery backoff) at each
pause. Then one delivery at a time tries it (the others wait out that attempt); its
success resumes the consumer, its failure pauses it again, longer. A failure that is not
transient (a refused login, a wrong URL) is the tool answering: it changes nothing here.
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
    is not paused, or its pause is over and this delivery is the one that tries it."""
    if consumer.paused_until is None:
        return None
    now = timezone.now()
    if consumer.paused_until > now:
        return (consumer.paused_until - now).total_seconds()
    trial = _one_attempt()
    taken = Consumer.objects.filter(pk=consumer.pk, paused_until=consumer.paused_until).update(
        paused_until=now + timedelta(seconds=trial))
    return None if taken else trial


def why_paused(consumer: Consumer, wait: float) -> str:
    """A delivery's error while ``consumer`` is paused for ``wait`` seconds more."""
    return (f"not attempted: the consumer is paused for {math.ceil(wait)} s more, after "
            f"{consumer.failures_in_a_row} failures in a row")


def note_success(consumer: Consumer) -> None:
    """A delivery went through: a failing or paused consumer works again."""
    if not consumer.failures_in_a_row and consumer.paused_until is None:
        return  # the common case costs nothing
    Consumer.objects.filter(pk=consumer.pk).update(failures_in_a_row=0, paused_until=None)
    if consumer.paused_until is not None:
        logger.info("consumer %s delivers again; resumed", consumer.pk)
        _audit(consumer, "delivers again: resumed")


def note_transient_failure(consumer: Consumer) -> None:
    """A delivery failed in a way worth retrying: count it, and pause the consumer once
    the failures in a row reach ``RM_CONSUMER_BREAKER_FAILURES``."""
    failures = consumer.failures_in_a_row + 1
    changes: dict[str, object] = {"failures_in_a_row": F("failures_in_a_row") + 1}
    beyond = failures - settings.RM_CONSUMER_BREAKER_FAILURES
    if beyond >= 0:
        pause = queueing.retry_delay(beyond, base=settings.RM_CONSUMER_RETRY_BACKOFF,
                                     cap=settings.RM_CONSUMER_RETRY_BACKOFF_MAX)
        changes["paused_until"] = timezone.now() + timedelta(seconds=pause)
        logger.warning("consumer %s paused for %d s after %d failures in a row",
                       consumer.pk, pause, failures)
        _audit(consumer, f"paused for {int(pause)} s after {failures} failures in a row")
    Consumer.objects.filter(pk=consumer.pk).update(**changes)


def _one_attempt() -> float:
    """Seconds one attempt may take: the trial's hold on the paused consumer."""
    return settings.RM_CONSUMER_CONNECT_TIMEOUT + settings.RM_CONSUMER_READ_TIMEOUT + 5


def _audit(consumer: Consumer, message: str) -> None:
    record(SYSTEM.name, "consumer.breaker", AuditEntry.Outcome.SUCCESS, scope=consumer.scope,
           target=consumer, message=message)
