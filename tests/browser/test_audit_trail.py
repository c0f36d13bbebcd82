"""The audit trail page: its filters narrow what the user may read, and nothing more shows.

A scope's ADMIN reads the scope's whole trail, other roles their own actions there; no
one reads another scope's (``AuditQuerySet.readable_by``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from audit.services import record
from resourcemanager.identity.roles import Role
from tests.browser.conftest import sign_in

TRAIL = "/admin/audit/auditentry/"


@pytest.fixture
def trail(transactional_db) -> None:
    record("bob", "resource.check", "success", scope="team-a", message="bob check passed")
    record("bob", "resource.check", "failure", scope="team-a", message="bob check failed")
    record("bob", "resource.create", "failure", scope="team-a", message="bob create failed")
    record("ann", "resource.check", "failure", scope="team-a", message="ann check failed")
    record("bob", "resource.check", "failure", scope="team-b", message="bob in team-b")
    record("zed", "resource.check", "failure", scope="team-b", message="zed in team-b")


def filter_by(page: Page, title: str, choice: str) -> None:
    filters = page.get_by_role("navigation", name="Filter")
    group = filters.locator("details").filter(has=page.get_by_text(f"By {title}", exact=True))
    group.get_by_role("link", name=choice, exact=True).click()


def shown(page: Page) -> set[str]:
    """The messages of the listed entries (the table's last column)."""
    table = page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name="Message"))
    rows = table.get_by_role("row").filter(has=page.get_by_role("cell"))
    return {row.get_by_role("cell").last.inner_text().strip() for row in rows.all()}


def test_a_user_filters_its_own_entries(page: Page, member, trail):
    member("bob", team_a=Role.USER)
    sign_in(page, "bob")

    page.goto(TRAIL)
    expect(page.get_by_text("3 audit entries")).to_be_visible()
    assert shown(page) == {"bob check passed", "bob check failed", "bob create failed"}

    filter_by(page, "action", "resource.check")
    expect(page.get_by_text("2 audit entries")).to_be_visible()
    assert shown(page) == {"bob check passed", "bob check failed"}

    filter_by(page, "outcome", "Failure")
    expect(page.get_by_text("1 audit entry")).to_be_visible()
    assert shown(page) == {"bob check failed"}
    body = page.content()
    assert "team-b" not in body and "ann check" not in body and "zed" not in body


def test_a_scope_admin_filters_the_scope_s_whole_trail(page: Page, member, trail):
    member("ann", team_a=Role.ADMIN)
    sign_in(page, "ann")

    page.goto(TRAIL)
    filter_by(page, "outcome", "Failure")
    expect(page.get_by_text("3 audit entries")).to_be_visible()
    assert shown(page) == {"bob check failed", "bob create failed", "ann check failed"}

    filter_by(page, "action", "resource.check")
    expect(page.get_by_text("2 audit entries")).to_be_visible()
    assert shown(page) == {"bob check failed", "ann check failed"}
    assert "team-b" not in page.content()
