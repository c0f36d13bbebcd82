"""A consumer that fails is held back: after a failure its deliveries go one at a time,
after several in a row it is paused, its deliveries waiting without reaching the tool or
counting an attempt; when the pause is over one delivery tries it, and a success (or any
answer of the tool's) resumes it. Against a real HTTP receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from consumers import breaker, deliveries
from consumers.models import Consumer, Delivery
from resourcemanager.identity.roles import Role
from tests.consumers.conftest import TEAM_A, in_30s, pending_delivery
from tests.consumers.test_consumer_admin import CHANGELIST, browser_of

FAILURES = 3


@pytest.fixture(autouse=True)
def three_failures_pause(settings) -> None:
    settings.RM_CONSUMER_BREAKER_FAILURES = FAILURES
    settings.RM_CONSUMER_RETRY_BACKOFF = 60
    settings.RM_CONSUMER_RETRY_BACKOFF_MAX = 3600


def another(delivery: Delivery) -> Delivery:
    """One more delivery to the same consumer."""
    return Delivery.objects.create(
        consumer_id=delivery.consumer_id, event="resource.updated",
        resource_id=delivery.resource_id, resource=delivery.resource,
        provider_class=delivery.provider_class, occurred_at=timezone.now())


def fail_in_a_row(delivery: Delivery, server, times: int) -> None:
    server.statuses = [503] * times
    for _ in range(times):
        with pytest.raises(deliveries.RetryDelivery):
            deliveries.deliver(another(delivery).pk, in_process=False, backoff=in_30s)


def consumer_of(delivery: Delivery) -> Consumer:
    return Consumer.objects.get(pk=delivery.consumer_id)


def test_failures_in_a_row_pause_the_consumer_and_its_deliveries_wait(
        owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES - 1)
    assert consumer_of(delivery).paused_until is None  # not yet

    fail_in_a_row(delivery, webhook_server, 1)

    paused = consumer_of(delivery)
    assert paused.failures_in_a_row == FAILURES
    assert timezone.now() + timedelta(seconds=29) < paused.paused_until \
        < timezone.now() + timedelta(seconds=61)
    sent = len(webhook_server.requests)
    with pytest.raises(deliveries.RetryDelivery) as waiting:
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    assert 29 < waiting.value.delay <= 60
    assert len(webhook_server.requests) == sent  # the tool was not asked
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)  # no attempt counted
    assert abs(delivery.next_attempt_at - paused.paused_until) < timedelta(seconds=1)
    [entry] = AuditEntry.objects.filter(action="consumer.breaker")
    assert entry.message.startswith("paused for ") and entry.message.endswith(
        f"after {FAILURES} failures in a row")
    assert entry.target_id == str(paused.pk) and entry.scope == paused.scope


def test_after_the_pause_one_delivery_tries_and_its_success_resumes(
        owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES)
    Consumer.objects.filter(pk=delivery.consumer_id).update(
        paused_until=timezone.now() - timedelta(seconds=1))
    trial, waiting = consumer_of(delivery), another(delivery)

    assert breaker.wait_before(trial) is None  # this one tries the tool
    with pytest.raises(deliveries.RetryDelivery):  # the others wait out that attempt
        deliveries.deliver(waiting.pk, in_process=False, backoff=in_30s)
    assert Delivery.objects.get(pk=waiting.pk).attempts == 0

    Consumer.objects.filter(pk=delivery.consumer_id).update(
        paused_until=timezone.now() - timedelta(seconds=1))
    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    resumed = consumer_of(delivery)
    assert (resumed.failures_in_a_row, resumed.paused_until) == (0, None)
    assert AuditEntry.objects.filter(action="consumer.breaker",
                                     message="answers again: resumed").count() == 1
    deliveries.deliver(waiting.pk, in_process=False, backoff=in_30s)
    assert Delivery.objects.get(pk=waiting.pk).status == "delivered"


def test_a_failed_trial_pauses_the_consumer_again_for_longer(
        owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES)
    Consumer.objects.filter(pk=delivery.consumer_id).update(
        paused_until=timezone.now() - timedelta(seconds=1))

    fail_in_a_row(delivery, webhook_server, 1)

    again = consumer_of(delivery)
    assert again.failures_in_a_row == FAILURES + 1
    assert again.paused_until > timezone.now() + timedelta(seconds=59)  # 60-120 s now


def test_after_a_failure_deliveries_go_one_at_a_time(owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, 1)
    failing, second = consumer_of(delivery), another(delivery)
    assert failing.paused_until is None

    assert breaker.wait_before(failing) is None  # this one takes the turn
    sent = len(webhook_server.requests)
    with pytest.raises(deliveries.RetryDelivery) as waiting:
        deliveries.deliver(second.pk, in_process=False, backoff=in_30s)
    assert 0 < waiting.value.delay <= 40  # at most one attempt's length
    assert len(webhook_server.requests) == sent
    assert Delivery.objects.get(pk=second.pk).attempts == 0


def test_an_answer_of_the_tool_s_ends_the_row(owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES - 1)
    webhook_server.statuses = [400]  # the tool refuses the request: not worth retrying

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    assert Delivery.objects.get(pk=delivery.pk).status == "failed"
    answered = consumer_of(delivery)
    assert (answered.failures_in_a_row, answered.paused_until) == (0, None)


def test_in_process_a_paused_consumer_s_delivery_fails_without_asking_the_tool(
        owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES)
    sent = len(webhook_server.requests)

    deliveries.deliver(delivery.pk, in_process=True, backoff=in_30s)

    delivery.refresh_from_db()
    assert delivery.status == "failed" and len(webhook_server.requests) == sent
    assert delivery.last_error.startswith("not attempted: the consumer is held back for ")


def test_the_api_and_the_admin_show_the_pause(owner, pg_provider, webhook_server,
                                              django_user_model):
    delivery = pending_delivery(owner, webhook_server)
    fail_in_a_row(delivery, webhook_server, FAILURES)

    answer = owner.get(f"{TEAM_A}/consumers/{delivery.consumer_id}")

    status = answer.json()["delivery_status"]
    assert status["failures_in_a_row"] == FAILURES
    assert status["paused_until"] == consumer_of(delivery).paused_until.isoformat().replace(
        "+00:00", "Z")
    browser = browser_of(django_user_model, "reader", Role.USER)
    assert "; held back until " in browser.get(CHANGELIST).content.decode()
    page = browser.get(f"{CHANGELIST}{delivery.consumer_id}/change/").content.decode()
    assert f"after {FAILURES} failures in a row" in page
