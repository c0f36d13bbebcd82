"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

``playwright install`` cannot download browsers here; the tests use the system Chromium
(``scripts/lib.sh``: ``ensure_chromium``) and are skipped when it is missing.

Playwright's synchronous API keeps an asyncio loop running in the test's thread, which
Django takes for an async context and answers with ``SynchronousOnlyOperation``. The
tests' own ORM calls are plain synchronous code, so ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set
for as long as the browser runs: one browser for this package, stopped after its last
test, so that no other test runs with the check disabled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from resourcemanager.identity.memberships import grant_role
from resourcemanager.identity.roles import SYSTEM, Role

# The identity provider of the sign-in tests (oidc-provider-mock), shared with tests/auth.
from tests.support.oidc import oidc_provider, oidc_server  # noqa: F401

CHROMIUM = Path(os.environ.get("RM_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "browser-test-Pa55word"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/lib.sh: ensure_chromium)")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield chromium
            chromium.close()
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def context(browser, live_server, transactional_db) -> Iterator[BrowserContext]:
    """A fresh browser profile on the live server, allowed to use the clipboard."""
    context = browser.new_context(
        base_url=live_server.url, permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture
def member(django_user_model) -> Callable[..., object]:
    """``member("name", team_a=Role.USER)``: a local user granted roles by the service."""

    def make(username: str, **roles: Role):
        user = django_user_model.objects.create_user(username, password=PASSWORD)
        for scope, role in roles.items():
            grant_role(SYSTEM, user, scope.replace("_", "-"), role)
        return user

    return make


def sign_in(page: Page, username: str) -> None:
    """Through the local login form, as a person would."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def register(transactional_db) -> Callable[..., object]:
    """``register("team-a", "orders")``: an unmanaged resource (nothing on any server is
    touched), on a PostgreSQL provider instance reserved for its scope."""
    from providers.models import Provider
    from resourcemanager.resources import services

    def make(scope: str, name: str):
        provider, _ = Provider.objects.get_or_create(
            key=f"{scope}-pg", defaults={
                "provider_class": "postgresql", "host": "db.example.test", "port": 5432,
                "username": "rm_admin", "password": "unused", "allowed_scopes": [scope],
            },
        )
        return services.register_resource(
            SYSTEM, scope, provider=provider.key, name=name,
            uri=f"postgresql://app:app-password@db.example.test:5432/{name}",
        )

    return make
