"""Credentials in a real browser: issued from the resource's page with the secret shown
once and copied from there, revealed, then revoked after a confirmation; a USER sees only
the credential it holds.

Locators go by role, label and text, not by the stock admin's CSS classes.
"""

from __future__ import annotations

import re

import psycopg
from playwright.sync_api import expect

from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import credentials
from resourcemanager.resources.models import Credential
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_resource_pages import make_resource
from tests.support.credentials import issued_credentials

CREDENTIALS = "/admin/resourcemanager/credential/"


def test_a_resource_admin_issues_copies_reveals_and_revokes_a_credential(
    page, member, scram_provider
):
    member("ra-alpha", team_a=Role.RESOURCE_ADMIN)
    orders = make_resource("team-a", "orders", provider="pg-scram")
    sign_in(page, "ra-alpha")

    page.goto(f"/admin/resourcemanager/resource/{orders.pk}/change/")
    expect(page.get_by_role("heading", name="Issued credentials")).to_be_visible()
    page.get_by_role("link", name="Issue credential…").click()
    page.get_by_label("Holder").fill("reports")
    page.get_by_label("Access").select_option("read-only")
    page.get_by_label(re.compile(r"^TTL")).fill("3600")
    screenshot(page, "credential-issue")
    page.get_by_role("button", name="Issue credential").click()

    expect(page.get_by_text("Shown once:")).to_be_visible()
    credential = issued_credentials().get(resource=orders)
    password = credential.secret["password"]
    expect(page.get_by_label("Password", exact=True)).to_have_value(password)
    expect(page.get_by_role("textbox", name="psql")).to_have_value(
        re.compile(re.escape(f"PGPASSWORD={password}")))
    page.get_by_role("button", name="Copy Password").click()
    expect(page.get_by_role("status")).to_have_text("Copied: Password")
    assert page.evaluate("navigator.clipboard.readText()") == password
    screenshot(page, "credential-secret-once")
    with psycopg.connect(credential.secret["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (credential.login,)

    page.get_by_role("link", name="Back to the credential").click()
    expect(page.get_by_text("Reveal secret")).to_be_visible()
    assert password not in page.content()
    screenshot(page, "credential-page")
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.get_by_label("Password", exact=True)).to_have_value(password)
    expect(page.get_by_text("recorded in the audit trail")).to_be_visible()

    page.get_by_role("link", name="Back to the credential").click()
    page.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_text(f"login {credential.login} dropped")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Yes, I")).click()
    expect(page.get_by_text("reports's credential: Revoked.")).to_be_visible()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED

    page.goto(CREDENTIALS)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="reports"))
    expect(row).to_contain_text("Revoked")
    screenshot(page, "credential-list")


def test_a_user_sees_only_the_credential_it_holds(page, member, scram_provider):
    member("user-alpha", team_a=Role.USER)
    orders = make_resource("team-a", "orders", provider="pg-scram")
    for holder in ("user:user-alpha", "etl"):
        credentials.issue_credential(SYSTEM, orders, holder=holder, access="read-only")
    sign_in(page, "user-alpha")

    page.goto(CREDENTIALS)
    expect(page.get_by_role("link", name="user:user-alpha")).to_be_visible()
    expect(page.get_by_role("link", name="etl")).to_have_count(0)
    page.get_by_role("link", name="user:user-alpha").click()
    expect(page.get_by_role("link", name="Revoke…")).to_have_count(0)
    page.get_by_role("button", name="Reveal secret").click()
    own = Credential.objects.get(holder="user:user-alpha")
    expect(page.get_by_label("Password", exact=True)).to_have_value(own.secret["password"])
