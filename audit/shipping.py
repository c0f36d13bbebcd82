"""Delivering the trail to ``RM_AUDIT_SINK``, resumably: no gap, no duplicate.

The trail is its own outbox: sealed entries are rows in ``seq`` order, written with the
change they record, so the sink needs no outbox row per entry, only a cursor into them,
and a beat task as the outbox relay has.

The sink's cursor (``SinkCursor``: the last ``seq`` the receiver accepted) lives in the
database. A run leases the cursor (committed, so two runs never send at once), reads the
next sealed entries after it, sends them with no transaction open (``audit.sinks``), and
moves the cursor only once the receiver accepted the batch, only if it is still where the
run found it. A refused batch leaves the cursor in place and sets the next attempt after a
backoff (``RM_AUDIT_SINK_INTERVAL``·2ⁿ, capped at ``RM_TASK_RETRY_BACKOFF_MAX``); the
next run sends the same entries again. Beat runs ``audit.ship`` every
``RM_AUDIT_SINK_INTERVAL`` seconds. Only a run dying after the receiver accepted a batch and
before its cursor moved sends that batch twice; every line carries its ``seq``, by which a
receiver can drop it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import export, sinks
from audit.chain import seal
from audit.models import AuditEntry, SinkCursor
from resourcemanager.outbox.queueing import retry_delay

logger = logging.getLogger(__name__)
#: How long a run may hold the cursor before another may take it over.
LEASE = timedelta(minutes=5)
BATCH = 500


@dataclass(frozen=True)
class ShipReport:
    sent: int
    cursor: int
    error: str = ""
    skipped: str = ""


def ship(*, max_batches: int = 20, respect_backoff: bool = True) -> ShipReport:
    """Send up to ``max_batches`` batches of entries the sink has not accepted yet."""
    url = settings.RM_AUDIT_SINK
    if not url:
        return ShipReport(0, 0, skipped="no RM_AUDIT_SINK")
    seal()
    key = sinks.name(url)
    cursor, skipped = _lease(key, respect_backoff)
    if cursor is None:
        return ShipReport(0, 0, skipped=skipped)
    sent, position = 0, cursor.seq
    try:
        for _ in range(max_batches):
            rows = list(export.rows_after(AuditEntry.objects.all(), position, limit=BATCH))
            if not rows:
                break
            sinks.send(url, [export.line(row) for row in rows],
                       timeout=settings.RM_AUDIT_SINK_TIMEOUT, token=settings.RM_AUDIT_SINK_TOKEN)
            if not _advance(key, position, rows[-1]["seq"]):
                return ShipReport(sent, position, skipped="the cursor was taken over")
            sent, position = sent + len(rows), rows[-1]["seq"]
    except sinks.SinkError as exc:
        _fail(key, cursor.failures + 1, str(exc))
        logger.warning("audit sink %s refused entries after #%d: %s", key, position, exc)
        return ShipReport(sent, position, error=str(exc))
    SinkCursor.objects.filter(sink=key).update(leased_until=None)
    return ShipReport(sent, position)


def _lease(key: str, respect_backoff: bool) -> tuple[SinkCursor | None, str]:
    now = timezone.now()
    with transaction.atomic():
        SinkCursor.objects.get_or_create(sink=key)
        cursor = SinkCursor.objects.select_for_update().get(sink=key)
        if cursor.leased_until and cursor.leased_until > now:
            return None, "another run holds the cursor"
        if respect_backoff and cursor.next_attempt_at and cursor.next_attempt_at > now:
            return None, "waiting before the next attempt"
        cursor.leased_until = now + LEASE
        cursor.save(update_fields=["leased_until"])
    return cursor, ""


def _advance(key: str, old: int, new: int) -> bool:
    return bool(SinkCursor.objects.filter(sink=key, seq=old).update(
        seq=new, failures=0, last_error="", next_attempt_at=None,
        delivered_at=timezone.now(), leased_until=timezone.now() + LEASE))


def _fail(key: str, failures: int, error: str) -> None:
    delay = retry_delay(failures - 1, base=settings.RM_AUDIT_SINK_INTERVAL)
    SinkCursor.objects.filter(sink=key).update(
        failures=failures, last_error=error[:500], leased_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay))
