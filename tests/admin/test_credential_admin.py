"""Credentials in the admin, on the least-privilege PostgreSQL instance (scram cluster,
where passwords are really checked): issued from the resource's page with the secret shown
once, listed and shown without it, revealed (audited), renewed, rotated and revoked from
the credential's page; refusals of the service are messages, never a server error."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import credentials, services
from resourcemanager.resources.models import OWNER_HOLDER, Credential, Resource
from tests.admin.credential_pages import (
    CHANGELIST,
    issue_url,
    issued,
    login,
    messages_of,
    operation,
    page,
    resource_page,
    scram_orders,  # noqa: F401 (fixture orders)
    shown_password,
)
from tests.support.credentials import issued_credentials


@pytest.mark.parametrize("role", [Role.RESOURCE_ADMIN, Role.ADMIN])
def test_a_credential_issued_from_the_resource_page_shows_its_secret_once(
    admin_browser, orders, role
):
    browser = admin_browser(team_a=role)
    detail = browser.get(resource_page(orders)).content.decode()
    assert issue_url(orders) in detail and "Issue credential" in detail
    assert browser.get(issue_url(orders)).status_code == 200

    answer = browser.post(issue_url(orders), {"holder": "reports", "access": "read-only",
                                              "ttl": "3600", "rotation_period": ""})

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    html = answer.content.decode()
    assert "Shown once:" in html
    credential = issued_credentials().get(resource=orders)
    assert (credential.holder, credential.access, credential.status) == (
        "reports", "read-only", "active")
    assert credential.expires_at - timezone.now() > timedelta(seconds=3500)
    password = shown_password(html)
    assert password == credential.secret["password"]
    assert f"PGPASSWORD={password}" in html  # the ready-to-paste psql command
    with login(credential.secret) as reader:
        assert reader.execute("SELECT current_user").fetchone() == (credential.login,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("CREATE TABLE mine (a int)")
    assert AuditEntry.objects.filter(action="credential.issue", outcome="accepted",
                                     actor=browser.user.username).exists()

    later = [browser.get(url) for url in (
        page(credential), CHANGELIST, resource_page(orders),
        reverse("admin:resourcemanager_credential_history", args=[credential.pk]),
        f"{CHANGELIST}?q=reports")]
    for response in later:
        assert response.status_code == 200
        assert password not in response.content.decode()
    assert "reports" in later[1].content.decode()
    assert page(credential) in later[2].content.decode()  # listed on the resource's page


@pytest.mark.parametrize(("typed", "field", "error"), [
    ({"holder": "Not A Name!"}, "holder", "a holder is an application"),
    ({"holder": "user:nobody-here"}, "holder", "not an active member of this scope"),
    ({"access": "superuser"}, "access", "Select a valid choice"),
    ({"ttl": "10"}, "ttl", "ttl is a whole number of seconds, at least 60"),
    ({"ttl": "soon"}, "ttl", "Enter a whole number"),
    ({"ttl": "99999999999999"}, "ttl", "less than or equal to"),
    ({"max_ttl": "3600"}, "max_ttl", "max_ttl goes with a ttl"),
    ({"ttl": "3600", "max_ttl": "60"}, "max_ttl", "at least 3600"),
    ({"rotation_period": "5"}, "rotation_period", "at least 60"),
], ids=lambda value: str(value))
def test_refused_input_is_shown_beside_its_field(admin_browser, orders, typed, field, error):
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    answer = browser.post(issue_url(orders), {"holder": "app", "access": "read-only",
                                              **typed})

    assert answer.status_code == 200
    form = answer.context["form"]
    assert error in " ".join(form.errors[field])
    assert "Please correct the errors below." in answer.content.decode()
    assert not issued_credentials().exists()


def test_a_resource_that_is_not_ready_refuses_with_a_message(admin_browser, orders):
    browser = admin_browser(team_a=Role.ADMIN)
    Resource.objects.filter(pk=orders.pk).update(status=Resource.Status.ERROR)

    answer = browser.post(issue_url(orders), {"holder": "app", "access": "owner"})

    assert answer.status_code == 200
    assert "the resource is error; credentials are issued" in answer.content.decode()
    assert "Issue credential…" not in browser.get(resource_page(orders)).content.decode()
    assert not issued_credentials().exists()


def test_the_list_filters_by_status_and_access_and_searches_by_holder(admin_browser, orders):
    reader, _ = issued(orders, holder="reports")
    writer, _ = issued(orders, holder="etl", access="read-write")
    credentials.revoke_credential(SYSTEM, writer)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    def listed(query: dict) -> set[str]:
        response = browser.get(CHANGELIST, query)
        assert response.status_code == 200
        return {row.holder for row in response.context["cl"].result_list}

    assert listed({}) == {"reports", "etl", OWNER_HOLDER}
    assert listed({"status__exact": "revoked"}) == {"etl"}
    assert listed({"access__exact": "read-only"}) == {"reports"}
    assert listed({"q": "rep"}) == {"reports"}
    assert listed({"resource__id__exact": str(orders.pk)}) == {"reports", "etl", OWNER_HOLDER}
    html = browser.get(CHANGELIST).content.decode()
    for column in ("Holder", "Access", "Resource", "Status", "Expires", "Last rotated"):
        assert f">{column}</a>" in html
    for each in (reader, writer):
        assert each.secret["password"] not in html


def test_reveal_shows_the_secret_and_is_audited(admin_browser, orders):
    credential, secret = issued(orders)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)
    detail = browser.get(page(credential)).content.decode()
    assert "Reveal secret" in detail and secret["password"] not in detail

    answer = browser.post(operation(credential, "reveal"))

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    assert shown_password(answer.content.decode()) == secret["password"]
    assert "recorded in the audit trail" in answer.content.decode()
    assert AuditEntry.objects.filter(
        action="credential.reveal", outcome="success", actor=browser.user.username,
        target_id=str(credential.pk)).count() == 1
    assert "credential.reveal" in browser.get(page(credential)).content.decode()  # history


def test_rotate_shows_the_new_secret_once_and_it_works(admin_browser, orders):
    credential, old = issued(orders)
    browser = admin_browser(team_a=Role.ADMIN)

    answer = browser.post(operation(credential, "rotate"), {"grace": "120"})

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    html = answer.content.decode()
    assert "Shown once:" in html and "keeps working for 120 seconds" in html
    new = shown_password(html)
    assert new != old["password"]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    assert credential.secret["password"] == new
    with login(credential.secret) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert new not in browser.get(page(credential)).content.decode()

    again = browser.post(operation(credential, "rotate"), {"grace": "-1"}, follow=True)
    assert "Grace (seconds): Ensure this value is greater than or equal to 0." in (
        messages_of(again))


def test_the_owner_rotates_from_its_page_and_offers_no_revoke(admin_browser, orders):
    owner = Credential.objects.get(resource=orders, holder=OWNER_HOLDER)
    old = dict(owner.secret)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)
    detail = browser.get(page(owner)).content.decode()
    assert "Rotate" in detail and "Revoke…" not in detail
    assert old["password"] not in detail
    assert browser.post(operation(owner, "revoke"), {"post": "yes"}).status_code in (
        200, 302)
    assert Credential.objects.get(pk=owner.pk).status == Credential.Status.ACTIVE

    answer = browser.post(operation(owner, "rotate"), {"grace": "0"})

    new = shown_password(answer.content.decode())
    orders.refresh_from_db()
    assert orders.credentials["password"] == new != old["password"]
    with login(orders.credentials) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        login(old).close()


def test_renew_moves_the_expiry_and_refusals_are_messages(admin_browser, orders):
    credential, _ = issued(orders, ttl=600, max_ttl=3600)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    renewed = browser.post(operation(credential, "renew"), {"ttl": "1800"}, follow=True)

    assert renewed.redirect_chain == [(page(credential), 302)]
    assert any(message.startswith("Renewed: reports's credential expires")
               for message in messages_of(renewed))
    credential.refresh_from_db()
    assert credential.expires_at - timezone.now() > timedelta(seconds=1700)

    too_long = browser.post(operation(credential, "renew"), {"ttl": "7200"}, follow=True)
    assert too_long.status_code == 200
    assert any("ttl would reach past the credential's max_ttl" in message
               for message in messages_of(too_long))
    never, _ = issued(orders, holder="forever")
    assert 'value="Renew"' not in browser.get(page(never)).content.decode()
    forged = browser.post(operation(never, "renew"), {}, follow=True)
    assert any("does not expire" in message for message in messages_of(forged))


def test_revoke_asks_first_then_drops_the_login(admin_browser, orders):
    credential, secret = issued(orders)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    confirmation = browser.get(operation(credential, "revoke"))

    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert (f"reports loses its read-only access to team-a/orders: login {credential.login}"
            " dropped on the server") in html
    assert Credential.objects.get(pk=credential.pk).status == Credential.Status.ACTIVE

    done = browser.post(operation(credential, "revoke"), {"post": "yes"}, follow=True)

    assert done.redirect_chain == [(page(credential), 302)]
    assert "reports's credential: Revoked." in messages_of(done)
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        login(secret)
    assert "Revoke…" not in done.content.decode()
    assert 'value="Reveal secret"' not in done.content.decode()
    forged = browser.post(operation(credential, "reveal"), follow=True)
    assert any("it has no secret to reveal" in message for message in messages_of(forged))
    assert AuditEntry.objects.filter(action="credential.revoke", outcome="accepted",
                                     actor=browser.user.username).exists()


def test_the_credential_pages_change_nothing_by_themselves(admin_browser, orders):
    """No add, change or delete of Django's own: only the operations above."""
    credential, _ = issued(orders)
    browser = admin_browser(team_a=Role.ADMIN)

    assert browser.get(reverse("admin:resourcemanager_credential_add")).status_code == 403
    changed = browser.post(page(credential), {"holder": "hijacked", "access": "owner"})
    deleted = browser.post(reverse("admin:resourcemanager_credential_delete",
                                   args=[credential.pk]), {"post": "yes"})

    assert changed.status_code == deleted.status_code == 403
    row = Credential.objects.get(pk=credential.pk)
    assert (row.holder, row.access, row.status) == ("reports", "read-only", "active")


def test_an_s3_key_made_by_the_server_is_shown_once_with_its_aws_snippet(
    admin_browser, s3_provider
):
    bucket = services.create_resource(SYSTEM, services.prepare_resource(
        SYSTEM, "team-a", provider="s3", name="assets"))
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    answer = browser.post(issue_url(bucket), {"holder": "uploads", "access": "read-write"})

    html = answer.content.decode()
    assert "Shown once:" in html
    credential = issued_credentials().get(resource=bucket)
    key = credential.secret
    assert shown_password(html) == key["password"]
    assert f"AWS_SECRET_ACCESS_KEY={key['password']}" in html
    assert key["password"] not in browser.get(page(credential)).content.decode()
    revealed = browser.post(operation(credential, "reveal")).content.decode()
    assert shown_password(revealed) == key["password"]


@pytest.mark.parametrize("name", ["reveal", "rotate", "renew"])
def test_a_get_of_an_operation_goes_back_to_the_credential_and_does_nothing(
    admin_browser, orders, name
):
    credential, secret = issued(orders, ttl=3600)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    response = browser.get(operation(credential, name), follow=True)

    assert response.redirect_chain == [(page(credential), 302)]
    assert messages_of(response) == [
        "Nothing was done: that address acts only from its button on this page."]
    assert secret["password"] not in response.content.decode()
    assert not AuditEntry.objects.filter(action__startswith="credential.",
                                         target_id=str(credential.pk)).exclude(
        action="credential.issue").exists()
    assert admin_browser(team_b=Role.ADMIN).get(operation(credential, name)).status_code == 404


def test_a_form_sent_again_by_reloading_its_secret_page_does_nothing_again(
        admin_browser, orders):
    """The page that shows a secret is its form's answer: reloading it sends the form
    again, with the token the form carried, which its first send spent."""
    browser = admin_browser(team_a=Role.ADMIN)
    form = {"holder": "reports", "access": "read-only", "ttl": "", "rotation_period": "",
            "once": browser.get(issue_url(orders)).context["rm_once"]}

    first, again = (browser.post(issue_url(orders), form) for _ in range(2))

    assert first.status_code == 200 and "Shown once:" in first.content.decode()
    assert again.status_code == 302 and again["Location"] == resource_page(orders)
    credential = issued_credentials().get(resource=orders, holder="reports")
    tokens = browser.get(page(credential)).context["rm_once"]
    for name in ("reveal", "rotate"):
        sent = [browser.post(operation(credential, name), {"once": tokens[name]})
                for _ in range(2)]
        assert [answer.status_code for answer in sent] == [200, 302], name
    assert AuditEntry.objects.filter(action="credential.issue", outcome="accepted").count() == 1
    assert AuditEntry.objects.filter(action="credential.reveal").count() == 1
    assert AuditEntry.objects.filter(action="credential.rotate", outcome="accepted").count() == 1
