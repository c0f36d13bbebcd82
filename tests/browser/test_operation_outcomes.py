"""The admin says what became of what was asked: the dashboard keeps its way to add a
resource, CHECK fills in the last check whatever it found, and a DELETE that fails on an
unreachable server says so on the resource's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from tests.browser.conftest import screenshot, sign_in

UNREACHABLE = re.compile(r"the PostgreSQL server could not be reached \(ref [0-9a-f]{8}\)")


@pytest.fixture
def broken(backend_cleanup) -> Resource:
    """A resource of team-a whose creation failed: its server does not answer."""
    backend_cleanup.declare(key="down", provider_class="postgresql", host="127.0.0.1", port=1,
                            username="boss", password="unused-password")
    request = services.prepare_resource(SYSTEM, "team-a", provider="down", name="orders")
    resource = services.create_resource(SYSTEM, request)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.ERROR
    return resource


def status_panel(page: Page):
    return page.get_by_role("region", name="Resource details")


def test_the_dashboard_offers_to_add_a_resource_when_some_exist(page: Page, member, register):
    register("team-a", "orders")
    member("ra", team_a=Role.RESOURCE_ADMIN)
    sign_in(page, "ra")

    expect(page.get_by_role("heading", name="Resources", exact=True)).to_be_visible()
    page.get_by_role("link", name="Add resource").click()

    expect(page.get_by_label("Name")).to_be_visible()
    assert page.url.endswith("/admin/resourcemanager/resource/add/")


def test_check_of_a_resource_whose_creation_failed_fills_in_the_last_check(
    page: Page, member, broken
):
    member("ra", team_a=Role.RESOURCE_ADMIN)
    sign_in(page, "ra")
    page.goto(f"/admin/resourcemanager/resource/{broken.pk}/change/")
    panel = status_panel(page)
    expect(panel).to_contain_text("Last check never")

    panel.get_by_role("button", name="Check now").click()

    message = page.get_by_text(re.compile("orders is created again: error: "))
    expect(message).to_contain_text(UNREACHABLE)
    last_check = status_panel(page).locator("dt:has-text('Last check') + dd")
    expect(last_check).to_contain_text("failed")
    expect(last_check).to_contain_text(UNREACHABLE)
    expect(status_panel(page).locator(".rm-last-operation")).to_contain_text("create failed")
    assert "127.0.0.1" not in page.content()  # the server's detail is for operators
    screenshot(page, "resource-check-failed-creation")
    broken.refresh_from_db()
    assert broken.last_check_at is not None and broken.last_check_ok is False


def test_a_failed_delete_says_it_was_tried_and_why(page: Page, member, broken):
    member("ra", team_a=Role.RESOURCE_ADMIN)
    sign_in(page, "ra")
    page.goto(f"/admin/resourcemanager/resource/{broken.pk}/change/")

    status_panel(page).get_by_role("link", name=re.compile("Delete")).click()
    page.get_by_role("button", name=re.compile("Yes, I.m sure")).click()

    expect(page.get_by_text(re.compile("Deleting .*orders failed: "))).to_contain_text(
        UNREACHABLE)
    expect(page.get_by_text("was deleted successfully")).to_have_count(0)
    operation = status_panel(page).locator(".rm-last-operation")
    expect(operation).to_contain_text("delete failed at")
    expect(operation).to_contain_text(UNREACHABLE)
    assert "127.0.0.1" not in page.content()
    screenshot(page, "resource-delete-failed")
    broken.refresh_from_db()
    assert broken.status == Resource.Status.ERROR
