"""Who sees and does what with credentials in the admin: RESOURCE_ADMIN and ADMIN all of
their scope's; CONSUMER_ADMIN and USER only those they hold themselves (which they may
reveal; issue, renew and revoke too where the scope's self-service allows); another scope
nothing at all, not even a credential it holds, and its answers are those of a credential
that never was."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources.models import OWNER_HOLDER, Credential
from resourcemanager.scopes.services import update_settings
from resourcemanager.ui.adminscope import SESSION_KEY
from tests.admin.credential_pages import (
    CHANGELIST,
    issue_url,
    issued,
    operation,
    page,
    resource_page,
    scram_orders,  # noqa: F401 (fixture orders)
    shown_password,
)

MANAGERS = (Role.ADMIN, Role.RESOURCE_ADMIN)
CHANGES = ("renew", "rotate", "revoke")


def listed(browser: Client, query: dict | None = None) -> set:
    response = browser.get(CHANGELIST, query or {})
    assert response.status_code == 200
    # Issued ones: the owner's credential of ``orders`` is listed as the matrix says too
    # (test_credential_admin), and left out here.
    return {row.pk for row in response.context["cl"].result_list if row.holder != OWNER_HOLDER}


def state(credential: Credential) -> tuple:
    row = Credential.objects.get(pk=credential.pk)
    return row.status, row.expires_at, row.secret, row.pending_secret, row.rotated_at


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_and_does_what_the_matrix_says(admin_browser, orders, role):
    browser = admin_browser(team_a=role)
    own, own_secret = issued(orders, holder=f"user:{browser.user.username}", ttl=600)
    other, other_secret = issued(orders, holder="etl-zq-app", access="read-write", ttl=600)
    manager = role in MANAGERS

    assert listed(browser) == ({own.pk, other.pk} if manager else {own.pk})
    detail = browser.get(resource_page(orders)).content.decode()
    assert (page(other) in detail) is manager
    assert page(own) in detail
    assert ("Issue credential…" in detail) is manager
    assert browser.get(issue_url(orders)).status_code == (200 if manager else 403)

    own_page = browser.get(page(own))
    assert own_page.status_code == 200
    assert own_secret["password"] not in own_page.content.decode()
    assert ("Revoke…" in own_page.content.decode()) is manager
    revealed = browser.post(operation(own, "reveal"))
    assert revealed.status_code == 200
    assert shown_password(revealed.content.decode()) == own_secret["password"]

    if manager:
        assert browser.get(page(other)).status_code == 200
        assert shown_password(browser.post(operation(other, "reveal")).content.decode()) == (
            other_secret["password"])
        return
    before = {each.pk: state(each) for each in (own, other)}
    never_was = uuid.uuid4()
    assert browser.get(page(other)).url == browser.get(page(never_was)).url  # "no such"
    assert other.holder not in browser.get(page(other), follow=True).content.decode()
    assert browser.post(operation(other, "reveal")).status_code == 404
    for name in CHANGES:
        assert browser.post(operation(own, name), {"post": "yes"}).status_code == 403
        assert browser.post(operation(other, name), {"post": "yes"}).status_code == 404
    assert browser.get(operation(own, "revoke")).status_code == 403
    assert {each.pk: state(each) for each in (own, other)} == before
    assert list(AuditEntry.objects.filter(actor=browser.user.username, action__startswith=(
        "credential.")).values_list("action", "target_id")) == [
        ("credential.reveal", str(own.pk))]


@pytest.mark.parametrize("role", list(Role))
def test_another_scope_sees_nothing_of_the_credentials(admin_browser, orders, role):
    stranger = admin_browser(team_b=role)
    # It held a credential in team-a, and has left team-a since.
    membership = ScopeRole.objects.create(user=stranger.user, scope="team-a", role=Role.USER)
    held, held_secret = issued(orders, holder=f"user:{stranger.user.username}")
    membership.delete()
    other, other_secret = issued(orders, holder="etl-zq-app")
    markers = [orders.name, orders.backend_name, held.login, other.login, other.holder,
               held_secret["password"], other_secret["password"]]
    before = {each.pk: state(each) for each in (held, other)}

    def answers(credential_id) -> list:
        responses = [stranger.get(page(credential_id), follow=True),
                     stranger.get(reverse("admin:resourcemanager_credential_history",
                                          args=[credential_id]), follow=True),
                     stranger.get(operation(credential_id, "revoke"))]
        responses += [stranger.post(operation(credential_id, name), {"post": "yes"})
                      for name in ("reveal", *CHANGES)]
        shown = []
        for response in responses:
            body = response.content.decode().replace(str(credential_id), "<id>")
            assert not [marker for marker in markers if marker in body]
            shown.append((response.status_code, getattr(response, "redirect_chain", None)))
        return shown

    never_was = answers(uuid.uuid4())
    assert answers(held.pk) == answers(other.pk) == never_was
    assert never_was[3][0] == 404  # reveal
    assert listed(stranger) == listed(stranger, {"q": "etl"}) == set()
    assert stranger.get(issue_url(orders)).status_code == 404
    assert {each.pk: state(each) for each in (held, other)} == before
    assert not AuditEntry.objects.filter(action="credential.reveal").exists()


def test_narrowed_to_another_scope_a_manager_sees_none_of_these(admin_browser, orders):
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)
    credential, _ = issued(orders)
    assert listed(browser) == {credential.pk}

    session = browser.session
    session[SESSION_KEY] = "team-b"
    session.save()

    assert listed(browser) == set()
    assert browser.get(page(credential)).status_code == 302
    assert browser.post(operation(credential, "reveal")).status_code == 404
    assert not AuditEntry.objects.filter(action="credential.reveal").exists()


def test_operators_see_every_scope_s_credentials(admin_browser, orders):
    credential, secret = issued(orders)
    operator = admin_browser(operator=True)

    assert listed(operator) == {credential.pk}
    assert shown_password(operator.post(operation(credential, "reveal")).content.decode()) == (
        secret["password"])


@pytest.mark.parametrize("role", [Role.CONSUMER_ADMIN, Role.USER])
def test_self_service_lets_a_member_issue_renew_and_revoke_for_itself_only(
    admin_browser, orders, role
):
    update_settings(SYSTEM, "team-a", credential_self_service="read-only")
    member = admin_browser(team_a=role)
    mine = f"user:{member.user.username}"
    other, _ = issued(orders, holder="etl-zq-app", ttl=600)
    assert "Issue credential…" in member.get(resource_page(orders)).content.decode()

    form = member.get(issue_url(orders)).context["form"]
    assert form.fields["holder"].disabled and form["holder"].value() == mine
    too_much = member.post(issue_url(orders), {"holder": "etl", "access": "read-write"})
    assert "read-only credentials at most" in too_much.content.decode()
    answer = member.post(issue_url(orders), {"holder": "etl-zq-app", "access": "read-only",
                                             "ttl": "600"})

    assert "Shown once:" in answer.content.decode()
    own = Credential.objects.get(resource=orders, holder=mine)  # the posted holder ignored
    assert shown_password(answer.content.decode()) == own.secret["password"]
    assert listed(member) == {own.pk}
    html = member.get(page(own)).content.decode()
    assert 'value="Renew"' in html and "Revoke…" in html and 'value="Rotate"' not in html
    assert member.post(operation(own, "rotate")).status_code == 403
    assert member.post(operation(other, "renew")).status_code == 404
    assert member.post(operation(own, "renew"), {"ttl": "900"}).status_code == 302
    assert member.post(operation(own, "revoke"), {"post": "yes"}).status_code == 302
    assert Credential.objects.get(pk=own.pk).status == Credential.Status.REVOKED
    assert Credential.objects.get(pk=other.pk).status == Credential.Status.ACTIVE
