"""The header's scope switcher in a real browser: choosing a scope narrows the lists."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from resourcemanager.identity.roles import Role
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_resource_pages import RESOURCES, make_resource


def test_switching_scope_shows_only_that_scope_s_rows(page, member, pg_provider):
    make_resource("team-a", "alpha-orders")
    make_resource("team-b", "bravo-orders")
    make_resource("team-c", "charlie-orders")
    member("two-teams", team_a=Role.ADMIN, team_b=Role.USER)
    alpha, bravo = (page.get_by_role("link", name=n) for n in ("alpha-orders", "bravo-orders"))
    switcher = page.get_by_label("Showing")

    sign_in(page, "two-teams")
    page.goto(RESOURCES)
    expect(switcher).to_have_value("")
    expect(switcher.get_by_role("option")).to_have_text(["All my scopes", "team-a", "team-b"])
    expect(alpha).to_be_visible()
    expect(bravo).to_be_visible()

    switcher.select_option("team-a")  # submits at once, back to the same page

    expect(switcher).to_have_value("team-a")
    expect(page).to_have_url(re.compile(re.escape(RESOURCES) + "$"))
    expect(alpha).to_be_visible()
    expect(bravo).to_have_count(0)
    screenshot(page, "scope-switcher")

    page.goto("/admin/")  # the dashboard follows, and the choice stays
    expect(switcher).to_have_value("team-a")
    expect(page.get_by_role("link", name="bravo-orders")).to_have_count(0)

    switcher.select_option(label="All my scopes")
    expect(switcher).to_have_value("")
    page.goto(RESOURCES)
    expect(bravo).to_be_visible()
    expect(page.get_by_role("link", name="charlie-orders")).to_have_count(0)
