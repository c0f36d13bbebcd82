"""What a consumer's delivery status says, in the API and the admin: the last success,
the last error with the time it happened, retries and their next time, skips apart."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from consumers import deliveries
from consumers.models import Consumer, Delivery
from resourcemanager.identity.roles import Role
from tests.consumers.conftest import TEAM_A, in_30s, pending_delivery
from tests.consumers.test_consumer_admin import CHANGELIST, browser_of


def status_of(owner, delivery: Delivery) -> dict:
    answer = owner.get(f"{TEAM_A}/consumers/{delivery.consumer_id}")
    assert answer.status_code == 200, answer.json()
    return answer.json()["delivery_status"]


def deliveries_of(owner, delivery: Delivery, query: str = "") -> list[dict]:
    answer = owner.get(f"{TEAM_A}/consumers/{delivery.consumer_id}/deliveries{query}")
    assert answer.status_code == 200, answer.json()
    return answer.json()["results"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_retry_that_succeeds_keeps_the_error_s_own_time(owner, pg_provider,
                                                          webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [503]

    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    retrying = status_of(owner, delivery)
    assert (retrying["pending"], retrying["retrying"], retrying["failed"]) == (1, 1, 0)
    assert retrying["last_error"] == "the webhook at 127.0.0.1 answered HTTP 503"
    assert at(retrying["next_retry_at"]) > at(retrying["last_error_at"])
    [listed] = deliveries_of(owner, delivery)
    assert (listed["status"], listed["attempts"]) == ("pending", 1)
    assert listed["next_retry_at"] == retrying["next_retry_at"]

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)  # the retry: 200

    recovered = status_of(owner, delivery)
    assert (recovered["pending"], recovered["retrying"], recovered["failed"]) == (0, 0, 0)
    assert recovered["next_retry_at"] is None
    assert recovered["last_error_at"] == retrying["last_error_at"]  # not the success's
    assert at(recovered["last_success_at"]) > at(recovered["last_error_at"])
    [listed] = deliveries_of(owner, delivery)
    assert (listed["status"], listed["attempts"]) == ("delivered", 2)
    assert listed["last_error_at"] == retrying["last_error_at"]
    assert at(listed["delivered_at"]) > at(listed["last_error_at"])
    assert listed["next_retry_at"] is None
    assert listed["resource"]["name"] == "orders"


def test_a_skipped_delivery_is_no_error(owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    Consumer.objects.filter(pk=delivery.consumer_id).update(enabled=False)

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    status = status_of(owner, delivery)
    assert (status["skipped"], status["failed"], status["pending"]) == (1, 0, 0)
    assert status["last_error"] is None and status["last_error_at"] is None
    [listed] = deliveries_of(owner, delivery, "?status=skipped")
    assert listed["skip_reason"] == "the consumer was disabled"
    assert listed["last_error"] == "" and listed["last_error_at"] is None
    assert deliveries_of(owner, delivery, "?status=failed") == []
    assert webhook_server.requests == []


def test_a_failed_delivery_shows_its_error_and_time(owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [400]

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    status = status_of(owner, delivery)
    assert (status["failed"], status["pending"], status["last_success_at"]) == (1, 0, None)
    [listed] = deliveries_of(owner, delivery)
    assert listed["status"] == "failed"
    assert listed["last_error"] == status["last_error"] == (
        "the webhook at 127.0.0.1 answered HTTP 400")
    assert listed["last_error_at"] == status["last_error_at"]


def test_an_unknown_status_filter_is_refused(owner, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    answer = owner.get(f"{TEAM_A}/consumers/{delivery.consumer_id}/deliveries?status=bogus")
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"status": [
        "status is one of pending, delivered, failed, skipped"]}


def test_other_scopes_see_no_deliveries(owner, make_client, pg_provider, webhook_server):
    delivery = pending_delivery(owner, webhook_server)
    stranger = make_client(team_b="ADMIN")
    answer = stranger.get(f"/api/c/team-b/consumers/{delivery.consumer_id}/deliveries")
    assert answer.status_code == 404


def test_the_admin_shows_success_error_and_retries(owner, pg_provider, webhook_server,
                                                   django_user_model):
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [503]
    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    delivery.refresh_from_db()
    error_at = timezone.localtime(delivery.last_error_at).strftime("%Y-%m-%d %H:%M:%S")
    browser = browser_of(django_user_model, "reader", Role.USER)

    listing = browser.get(CHANGELIST).content.decode()
    assert f"{error_at}: the webhook at 127.0.0.1 answered HTTP 503" in listing
    assert "1, next " in listing  # retrying, and when

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    delivery.refresh_from_db()
    page = browser.get(f"{CHANGELIST}{delivery.consumer_id}/change/").content.decode()
    assert "0 pending (0 retrying); 0 failed; 0 skipped; last success " in page
    assert f"last error {error_at}: the webhook at 127.0.0.1 answered HTTP 503" in page
    assert f"<td>{delivery.pk}</td><td>resource.created</td><td>orders</td>" in page
    assert "<td>delivered</td><td>2</td>" in page
