"""Draining a consumer: its due deliveries, attempted in batches by one task.

A delivery is small, and a task per delivery paid a message, a claim, an outcome and an
audit entry each, where composing each statement cost more than running it. A drain
claims a batch of the consumer's due deliveries in one short transaction, hands them to
the consumer's builder one after another (one builder, its connection kept alive), and
records their outcomes together (``consumers.attempts``).

Queueing: whoever adds deliveries (``fan_out``, a sync, the stalled sweep) asks for a
drain of their consumers (``request``), which starts ``RM_CONSUMER_DRAIN_DELAY`` later
(a trickle of events then makes a batch, not a drain each), at the broker's bulk
priority (operations and fan-outs go first). A consumer with none queued (``drain_queued_at``
empty, or so old that its message is taken as lost) has one queued, unless a drain holds
it: then the mark is set and no message sent, since the holder looks at the mark before
it lets go (a message would only find the consumer held, at the cost of a task). The
drain empties the mark before it claims, so a delivery committed after that asks for
more and one committed before is claimed by this one.

One drain at a time per consumer: a drain holds the consumer (``draining_until``), and
one that finds it held ends at once. The holder lets go only if no drain was asked for
meanwhile, in the same statement that reads the mark; else it goes on. So a tool that
times out holds one drain (a thread of a worker process: ``consumers.background``),
never all of them, and the claims (which lock the rows they take, ``SKIP LOCKED``)
never hand one delivery to two drains anyway.

Fairness and failures: a drain delivers ``ROUNDS`` batches at most, then queues itself
again behind the other consumers' drains. A consumer that is held back
(``consumers.breaker``) gets one delivery per batch, and a transient failure ends the
batch: the failed delivery waits for its retry, those not tried yet are released with no
attempt counted, and the drain is queued again for when the first is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from consumers import attempts, breaker
from consumers.models import Consumer, Delivery
from resourcemanager.outbox import queueing

Status = Delivery.Status
#: Deliveries claimed at once.
BATCH = 50
#: Batches a drain delivers before it queues itself again (in-process: no limit).
ROUNDS = 4


def request(consumer_ids: Iterable[UUID]) -> None:
    """Queue a drain of each consumer of ``consumer_ids`` that has none queued, once the
    current transaction commits. With the broker down their deliveries wait for the
    stalled sweep; the request or event is not held up."""
    ids = set(consumer_ids)
    if ids:
        transaction.on_commit(
            lambda: queue(ids, countdown=settings.RM_CONSUMER_DRAIN_DELAY), robust=True)


def queue(consumer_ids: Iterable[UUID], *, countdown: float | None = None,
          again: bool = False) -> int:
    """Queue a drain of each consumer of ``consumer_ids`` (``countdown`` seconds from now)
    that has none queued, or whose queued one is older than ``RM_OPERATION_TIMEOUT``
    (lost); ``again``: of each, whatever is queued. A consumer that a drain holds is only
    marked: that drain sees the mark before it lets go, and goes on. Returns how many
    drains were queued."""
    now = timezone.now()
    due = now + timedelta(seconds=countdown or 0)
    waiting = Consumer.objects.filter(pk__in=list(consumer_ids))
    if not again:
        stale = now - timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
        waiting = waiting.filter(Q(drain_queued_at__isnull=True) | Q(drain_queued_at__lt=stale))
    with transaction.atomic():  # the holder lets go before or after this, never between
        marked = list(waiting.select_for_update().values_list("pk", "draining_until"))
        if marked:
            Consumer.objects.filter(pk__in=[pk for pk, _ in marked]).update(
                drain_queued_at=due)
    ids = [pk for pk, held_until in marked if held_until is None or held_until < now]
    for consumer_id in ids:  # the message headers carry the request's context
        queueing.send(queueing.DRAIN_CONSUMER, {"consumer_id": str(consumer_id)},
                      countdown=countdown, priority=queueing.BULK_PRIORITY)
    return len(ids)


def drain(consumer_id: UUID | str, *, in_process: bool, backoff: attempts.Backoff
          ) -> float | None:
    """Deliver the consumer's due deliveries, ``ROUNDS`` batches at most (in-process, all
    of them), unless another drain of it runs. Returns in how many seconds to drain it
    again (``queue`` it ``again``): 0 when more are due now; after a transient failure or
    while the consumer is held back, when the first waiting one is due; None when nothing
    is left to it (a delivery waiting for its retry is the business of the drain whose
    attempt failed, queued again for it; the stalled sweep catches one whose message was
    lost)."""
    if not _take(consumer_id):
        return None  # the drain running looks for a request before it lets go
    rounds = 0
    while in_process or rounds < ROUNDS:
        rounds += 1
        outcome = _round(consumer_id, in_process=in_process, backoff=backoff)
        if outcome is _MORE:
            _take(consumer_id, held=True)  # the hold lasts as long as the batches
            continue
        if outcome is not None:  # held back: drained again once the wait is over
            _let_go(consumer_id)
            return outcome
        if _let_go(consumer_id, unless_asked=True):
            return None
        if not _take(consumer_id, held=True):  # asked for meanwhile: go on
            return None  # the consumer is gone
    _let_go(consumer_id)
    return 0


#: What ``_round`` returns when it claimed a full batch: there may be more.
_MORE = -1.0


def _round(consumer_id: UUID | str, *, in_process: bool, backoff: attempts.Backoff
           ) -> float | None:
    """Claim a batch of the consumer's due deliveries and attempt them. Returns ``_MORE``
    after a full batch, None when that was all, or the seconds to wait when the
    consumer is held back."""
    try:  # not first(): composing its ORDER BY costs more than reading the row
        consumer = Consumer.objects.get(pk=consumer_id)
    except Consumer.DoesNotExist:
        return None
    limit = 1 if consumer.failures_in_a_row else BATCH
    batch, lease = _claim(consumer, limit)
    if not batch:
        return None
    if not consumer.enabled:
        skipped = [attempts.Attempt(each, skipped="the consumer was disabled")
                   for each in batch]
        attempts.record(consumer, skipped, lease, in_process=in_process, backoff=backoff)
        return _MORE
    if (wait := breaker.wait_before(consumer)) is not None:
        if not in_process:
            _release(batch, lease)
            return wait
        why = breaker.why_waiting(consumer, wait)  # no queue to wait in: they fail
        attempts.record(consumer, [attempts.Attempt(each, error=why) for each in batch],
                        lease, in_process=True, backoff=backoff, attempted=False)
        return _MORE
    done = _deliver(consumer, batch, lease, in_process=in_process, backoff=backoff)
    if done[-1].transient and not in_process:
        return _next_due(consumer)  # held back now: the rest waits for the retry
    if len(done) == len(batch) < limit:
        return None  # all that was due: what came since asked for another drain
    return _MORE


def _take(consumer_id: UUID | str, *, held: bool = False) -> bool:
    """Hold the consumer for this drain (``held``: already), for ``RM_OPERATION_TIMEOUT``
    at most (a lost worker's hold lapses), and empty its mark: a delivery committed from
    now on asks for another drain. False when another drain holds it (or it is gone)."""
    now = timezone.now()
    mine = Consumer.objects.filter(pk=consumer_id)
    if not held:
        mine = mine.filter(Q(draining_until__isnull=True) | Q(draining_until__lt=now))
    return bool(mine.update(drain_queued_at=None,
                            draining_until=now + timedelta(seconds=settings.RM_OPERATION_TIMEOUT)))


def _let_go(consumer_id: UUID | str, *, unless_asked: bool = False) -> bool:
    """Let go of the consumer; ``unless_asked``: only if no drain was asked for meanwhile
    (then this one goes on: the one queued would find it held). Whether it let go."""
    mine = Consumer.objects.filter(pk=consumer_id)
    if unless_asked:
        mine = mine.filter(drain_queued_at__isnull=True)
    return bool(mine.update(draining_until=None))


def _deliver(consumer: Consumer, batch: list[Delivery], lease: datetime, *,
             in_process: bool, backoff: attempts.Backoff) -> list[attempts.Attempt]:
    """Attempt ``batch`` in order, and release what is left untried: after a transient
    failure, and once half the lease is gone (the rest would risk outliving it while
    waiting their turn, and being claimed again). Returns the attempts, at least one."""
    builder = attempts.builder_for(consumer)
    half_gone = lease - timedelta(seconds=settings.RM_OPERATION_TIMEOUT / 2)
    done: list[attempts.Attempt] = []
    for delivery in batch:
        done.append(attempts.attempt(delivery, builder))
        if done[-1].transient or timezone.now() > half_gone:
            break
    attempts.record(consumer, done, lease, in_process=in_process, backoff=backoff)
    _release(batch[len(done):], lease)
    return done


def _release(untried: list[Delivery], lease: datetime) -> None:
    """Give back deliveries claimed with ``lease`` and not attempted, uncounted."""
    if untried:
        Delivery.objects.filter(pk__in=[each.pk for each in untried], status=Status.PENDING,
                                lease_expires_at=lease).update(
            attempts=F("attempts") - 1, lease_expires_at=None, updated_at=timezone.now())


def _claim(consumer: Consumer, limit: int) -> tuple[list[Delivery], datetime]:
    """Count and lease an attempt of up to ``limit`` of the consumer's due deliveries,
    oldest first, in one short transaction; they carry ``stored_credentials``. Rows
    another claim holds are passed over."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
    due = (Delivery.objects.filter(consumer=consumer, status=Status.PENDING)
           .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
           .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
           .order_by("pk"))
    with transaction.atomic():
        batch = list(attempts.with_stored_credentials(
            due.select_for_update(of=("self",), skip_locked=True))[:limit])
        if batch:
            Delivery.objects.filter(pk__in=[each.pk for each in batch]).update(
                attempts=F("attempts") + 1, lease_expires_at=lease, updated_at=now)
    for each in batch:
        each.consumer = consumer
        each.attempts += 1
        each.lease_expires_at, each.updated_at = lease, now
    return batch, lease


def _next_due(consumer: Consumer) -> float | None:
    """Seconds until the consumer's first delivery waiting for a retry is due; None when
    none waits."""
    first = (Delivery.objects.filter(consumer=consumer, status=Status.PENDING,
                                     next_attempt_at__isnull=False)
             .aggregate(first=Min("next_attempt_at"))["first"])
    if first is None:
        return None
    return max((first - timezone.now()).total_seconds(), 0.0)
