"""Signing in through the identity provider from the admin's login page, in Chromium.

The provider is a running oidc-provider-mock (``tests.support.oidc``): its login form is a
field for the subject and an *Authorize* button. ``dana-sub``'s claims grant
``resourcemanager/team-a:ROLE_USER`` and nothing else.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from resourcemanager.identity.models import ExternalIdentity

OIDC_BUTTON = "Sign in with your organization's account"


@pytest.fixture
def resources(register) -> None:
    register("team-a", "alpha-orders")
    register("team-a", "alpha-reports")
    register("team-b", "bravo-secret-plans")


def test_a_user_signs_in_with_the_provider_sees_its_scope_and_signs_out(
    page: Page, oidc_provider, resources
):
    page.goto("/admin/login/?next=/admin/")
    page.get_by_role("link", name=OIDC_BUTTON).click()

    # The provider's own login page.
    expect(page).to_have_url(re.compile("^" + re.escape(oidc_provider.url)))
    page.get_by_placeholder("sub").fill("dana-sub")
    page.get_by_role("button", name="Authorize").click()

    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.url.endswith("/admin/")
    assert ExternalIdentity.objects.get(subject="dana-sub").user.username == "dana"

    # The dashboard counts and names team-a's resources and provider, nothing of team-b.
    resources_card = page.locator("section").filter(
        has=page.get_by_role("heading", name="Resources", exact=True)
    )
    expect(resources_card.get_by_role("link", name="2", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="team-a-pg").first).to_be_visible()
    body = page.content()
    assert "team-b" not in body and "bravo" not in body
    # A USER may not add resources: no such link on the dashboard nor on the list.
    expect(page.get_by_role("link", name=re.compile("Add resource"))).to_have_count(0)
    page.goto("/admin/resourcemanager/resource/")
    expect(page.get_by_role("link", name="alpha-orders")).to_be_visible()
    expect(page.get_by_role("link", name="alpha-reports")).to_be_visible()
    expect(page.get_by_role("link", name="bravo-secret-plans")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Add resource"))).to_have_count(0)
    who = page.request.get("/api/auth/user").json()
    assert (who["username"], who["authenticated_by"]) == ("dana", "session")

    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    assert Session.objects.filter(session_key=session_key).exists()
    page.get_by_role("button", name="Log out").click()

    # Back on the login page, the session gone from the server and the browser alike.
    expect(page.get_by_role("link", name=OIDC_BUTTON)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    assert not Session.objects.filter(session_key=session_key).exists()
    assert page.request.get("/api/auth/user").status in (401, 403)
    page.goto("/admin/resourcemanager/resource/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    expect(page.get_by_role("link", name="alpha-orders")).to_have_count(0)


def test_without_local_login_the_page_offers_only_the_provider(
    page: Page, oidc_provider, settings
):
    page.goto("/admin/login/")
    expect(page.get_by_label("Password")).to_be_visible()  # by default, both ways

    settings.RM_LOCAL_LOGIN = False
    page.reload()

    expect(page.get_by_role("link", name=OIDC_BUTTON)).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    assert 'name="password"' not in page.content()
