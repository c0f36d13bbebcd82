"""Scope memberships and personal API tokens, managed in the admin by the people concerned.

Memberships: a scope's ADMIN grants and revokes roles in that scope only, never its own,
and the last ADMIN of a scope stays (``resourcemanager.identity.memberships``). Tokens: a user
issues one, sees it once, uses it on the API and revokes it (``resourcemanager.identity.tokens``).
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from audit.models import AuditEntry
from resourcemanager.identity.models import ApiToken, ScopeRole
from resourcemanager.identity.roles import Role
from tests.browser.conftest import PASSWORD, sign_in
from tests.browser.helpers import csrf_token, enter, is_select

MEMBERSHIPS = "/admin/resourcemanager/scoperole/"
TOKENS = "/admin/resourcemanager/apitoken/"
#: Every refused grant says the same, so that none tells whether a username exists.
REFUSED_GRANT = "this grant is not allowed"


def membership_row(page: Page, username: str, role: str = ""):
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=username, exact=True))
    return row.filter(has_text=role) if role else row


def open_grant_form(page: Page) -> None:
    page.goto(MEMBERSHIPS)
    page.get_by_role("link", name=re.compile("Add scope role", re.IGNORECASE)).click()


def fill_grant(page: Page, username: str, scope: str, role: str) -> None:
    open_grant_form(page)
    page.get_by_label("Username").fill(username)
    enter(page.get_by_label("Scope"), scope)
    page.get_by_label("Role").select_option(label=role)
    page.get_by_role("button", name="Save", exact=True).click()


def audited(action: str, actor: str, scope: str, username: str) -> int:
    return AuditEntry.objects.filter(
        action=action, actor=actor, scope=scope, outcome=AuditEntry.Outcome.SUCCESS,
        target_name__contains=username,
    ).count()


def test_a_scope_admin_grants_and_revokes_roles_in_its_own_scope_only(page: Page, member):
    alma = member("alma", team_a=Role.ADMIN)
    member("adam", team_a=Role.ADMIN)
    rita = member("rita")
    bert = member("bert", team_b=Role.USER)
    bert_membership = ScopeRole.objects.get(user=bert)
    sign_in(page, "alma")

    page.goto(MEMBERSHIPS)
    expect(membership_row(page, "adam", "Admin")).to_be_visible()
    expect(page.get_by_role("link", name="bert")).to_have_count(0)
    assert "team-b" not in page.content()

    # Grant by username.
    fill_grant(page, "rita", "team-a", "Resource admin")
    expect(page.get_by_text(re.compile("was added successfully"))).to_be_visible()
    expect(membership_row(page, "rita", "Resource admin")).to_contain_text("team-a")
    assert ScopeRole.objects.filter(user=rita, scope="team-a",
                                    role=Role.RESOURCE_ADMIN).exists()
    assert audited("membership.grant", "alma", "team-a", "rita") == 1

    # Not in a scope alma does not administer: the form refuses it (or does not offer it),
    # a forged POST too.
    open_grant_form(page)
    if is_select(page.get_by_label("Scope")):
        expect(page.get_by_label("Scope").locator("option", has_text="team-b")).to_have_count(0)
    else:
        fill_grant(page, "rita", "team-b", "User")
        expect(page.get_by_text(REFUSED_GRANT)).to_be_visible()
    forged = page.request.post(f"{MEMBERSHIPS}add/", form={
        "csrfmiddlewaretoken": csrf_token(page), "username": "rita", "scope": "team-b",
        "role": Role.USER,
    })
    assert forged.status in (200, 403)
    assert "was added successfully" not in forged.text()
    # Nor her own roles.
    fill_grant(page, "alma", "team-a", "User")
    expect(page.get_by_text(REFUSED_GRANT)).to_be_visible()
    assert set(ScopeRole.objects.filter(user__in=[rita, alma]).values_list(
        "user__username", "scope", "role")) == {
        ("rita", "team-a", Role.RESOURCE_ADMIN), ("alma", "team-a", Role.ADMIN)}
    assert not AuditEntry.objects.filter(actor="alma", scope="team-b").exclude(
        outcome=AuditEntry.Outcome.DENIED).exists()

    # Revoke through the membership's page.
    page.goto(MEMBERSHIPS)
    membership_row(page, "rita").get_by_role("link", name="rita").click()
    page.get_by_role("link", name=re.compile("^Delete")).click()
    page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(page.get_by_text(re.compile("deleted successfully"))).to_be_visible()
    expect(page.get_by_role("link", name="rita", exact=True)).to_have_count(0)
    assert not ScopeRole.objects.filter(user=rita).exists()
    assert audited("membership.revoke", "alma", "team-a", "rita") == 1

    # Her own membership offers no deletion, and a forged one is refused.
    own = ScopeRole.objects.get(user=alma)
    page.goto(f"{MEMBERSHIPS}{own.pk}/change/")
    expect(page.get_by_role("link", name=re.compile("^Delete"))).to_have_count(0)
    token = csrf_token(page)
    refused = page.request.post(f"{MEMBERSHIPS}{own.pk}/delete/",
                                form={"csrfmiddlewaretoken": token, "post": "yes"})
    assert refused.url.endswith(f"{MEMBERSHIPS}{own.pk}/change/")  # back, naming the rule
    assert "nobody changes their own roles" in refused.text()
    assert ScopeRole.objects.filter(pk=own.pk).exists()
    # Another scope's membership does not exist for her.
    page.request.post(f"{MEMBERSHIPS}{bert_membership.pk}/delete/",
                      form={"csrfmiddlewaretoken": token, "post": "yes"})
    page.request.post(MEMBERSHIPS, form={
        "csrfmiddlewaretoken": token, "action": "delete_selected", "post": "yes",
        "_selected_action": [str(own.pk), str(bert_membership.pk)],
    })
    assert ScopeRole.objects.filter(pk__in=[own.pk, bert_membership.pk]).count() == 2
    assert not AuditEntry.objects.filter(action="membership.revoke", actor="alma",
                                         target_name__contains="bert").exists()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("root", password=PASSWORD)


def test_the_last_admin_of_a_scope_stays(page: Page, member, operator):
    alma = member("alma", team_a=Role.ADMIN)
    only_admin = ScopeRole.objects.get(user=alma)
    sign_in(page, "root")

    page.goto(f"{MEMBERSHIPS}{only_admin.pk}/change/")
    expect(page.get_by_role("heading", name="alma ADMIN in team-a")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Delete"))).to_have_count(0)
    token = csrf_token(page)
    refused = page.request.post(f"{MEMBERSHIPS}{only_admin.pk}/delete/",
                                form={"csrfmiddlewaretoken": token, "post": "yes"})
    assert refused.url.endswith(f"{MEMBERSHIPS}{only_admin.pk}/change/")
    assert "the last ADMIN of a scope cannot be removed" in refused.text()
    assert ScopeRole.objects.filter(pk=only_admin.pk).exists()
    page.request.post(MEMBERSHIPS, form={
        "csrfmiddlewaretoken": token, "action": "delete_selected", "post": "yes",
        "_selected_action": str(only_admin.pk),
    })
    assert ScopeRole.objects.filter(pk=only_admin.pk).exists()

    # With a second ADMIN, the first may go.
    member("adam")
    fill_grant(page, "adam", "team-a", "Admin")
    expect(membership_row(page, "adam", "Admin")).to_be_visible()
    page.goto(f"{MEMBERSHIPS}{only_admin.pk}/change/")
    page.get_by_role("link", name=re.compile("^Delete")).click()
    page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(page.get_by_text(re.compile("deleted successfully"))).to_be_visible()
    assert not ScopeRole.objects.filter(pk=only_admin.pk).exists()
    assert audited("membership.grant", "root", "team-a", "adam") == 1
    assert audited("membership.revoke", "root", "team-a", "alma") == 1


def test_a_user_issues_uses_and_revokes_an_api_token(page: Page, member, register, live_server):
    register("team-a", "alpha-orders")
    register("team-b", "bravo-secret-plans")
    member("ursula", team_a=Role.USER)
    sign_in(page, "ursula")

    page.goto(TOKENS)
    page.get_by_role("link", name=re.compile("Add api token", re.IGNORECASE)).click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Expires in days").fill("7")
    page.get_by_role("button", name="Save", exact=True).click()

    shown = page.get_by_role("textbox", name="API token")
    expect(shown).to_have_value(re.compile(r"^rmt_"))
    plaintext = shown.input_value()
    expect(page.get_by_text("shown this once")).to_be_visible()
    token = ApiToken.objects.get(user__username="ursula", name="laptop")
    assert token.digest == ApiToken.digest_of(plaintext)

    def api(scope: str = "team-a") -> requests.Response:
        return requests.get(f"{live_server.url}/api/resources", timeout=10, headers={
            "Authorization": f"Bearer {plaintext}", "X-Scope": scope})

    answer = api()
    assert answer.status_code == 200, answer.text
    assert [r["name"] for r in answer.json()["results"]] == ["alpha-orders"]
    assert api("team-b").status_code == 403

    # Never shown again: not on the list, not on the token's page.
    page.get_by_role("link", name="Back to your tokens").click()
    row = page.get_by_role("row").filter(has_text="laptop")
    expect(row).to_contain_text(token.hint)
    assert plaintext not in page.content()
    row.get_by_role("link").first.click()
    expect(page.get_by_text(token.hint, exact=True)).to_be_visible()
    assert plaintext not in page.content()

    page.goto(TOKENS)
    row.get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(label="Revoke selected tokens")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_role("button", name="Go").click()

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api().status_code == 401
    assert AuditEntry.objects.filter(action="token.revoke", actor="ursula",
                                     outcome=AuditEntry.Outcome.SUCCESS).count() == 1
