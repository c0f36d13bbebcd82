"""Swagger UI and ReDoc render from this server alone: every request to another origin is
refused, as on a machine without Internet access."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect


@pytest.fixture
def offline_page(page: Page, live_server) -> Iterator[tuple[Page, list[str]]]:
    """A page that can reach the live server only; the URLs it tried elsewhere."""
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    yield page, elsewhere


def test_swagger_ui_renders_the_api_without_a_cdn(offline_page):
    page, elsewhere = offline_page

    page.goto("/api/docs/")

    expect(page.get_by_text("Create a managed resource").first).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("resourcemanager API")
    assert elsewhere == []


def test_redoc_renders_the_api_without_a_cdn(offline_page):
    page, elsewhere = offline_page

    page.goto("/api/redoc/")

    expect(page.get_by_role("heading", name="resourcemanager API").first).to_be_visible()
    expect(page.get_by_role("menuitem", name="providers").first).to_be_visible()
    # ReDoc's own "API docs by Redocly" logo is the one thing it links to elsewhere.
    assert elsewhere in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])
