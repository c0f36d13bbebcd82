"""The site's root: where the admin's "View site" link and a newcomer's first visit land."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, sign_in


def test_view_site_leads_to_a_page_linking_the_dashboard_and_the_api_docs(page: Page, member):
    member("ana", team_a="USER")
    sign_in(page, "ana")

    page.get_by_role("link", name="View site").click()

    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))
    expect(page.get_by_role("link", name="Dashboard and admin")).to_be_visible()
    expect(page.get_by_role("link", name="/healthz")).to_be_visible()
    page.get_by_role("link", name="API documentation").click()
    expect(page.get_by_text("Create a managed resource").first).to_be_visible()


def test_the_root_guides_an_anonymous_visitor_to_sign_in(page: Page):
    page.goto("/")

    expect(page.get_by_text("(sign in first)")).to_be_visible()
    expect(page.get_by_text("permission to view or edit anything")).to_have_count(0)
    page.get_by_role("link", name="Dashboard and admin").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_a_user_without_a_role_is_told_so_and_may_sign_in_as_someone_else(page: Page, member):
    member("nobody")
    page.goto("/admin/login/?next=/admin/")  # signs in, then finds no admin page to open
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto("/")

    expect(page.get_by_text("hold no role in any scope yet")).to_be_visible()
    expect(page.get_by_role("link", name="API tokens")).to_have_count(0)
    page.get_by_role("link", name="sign in as someone else").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
