"""Consumers in the admin: a CONSUMER_ADMIN registers a webhook, its scope's USERs read it
(secrets masked), other scopes never learn of it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from audit.models import AuditEntry
from consumers.models import Consumer
from resourcemanager.identity.roles import Role
from tests.browser.conftest import sign_in
from tests.browser.helpers import csrf_token, enter

CONSUMERS = "/admin/consumers/consumer/"
SECRET = "whsec-browser-Zq81-never-shown"
URL = "http://127.0.0.1:9/hooks/resources"


def shows_no_secret(page: Page) -> None:
    assert SECRET not in page.content(), page.url


@pytest.fixture
def signed_in(browser: Browser, live_server) -> Iterator[Callable[[str], Page]]:
    """``signed_in("name")``: a page of a browser profile of its own, signed in as name."""
    contexts: list[BrowserContext] = []

    def open_as(username: str) -> Page:
        contexts.append(browser.new_context(base_url=live_server.url))
        contexts[-1].set_default_timeout(10_000)
        page = contexts[-1].new_page()
        sign_in(page, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_a_consumer_admin_registers_a_webhook_its_users_only_read_it(
    page: Page, member, signed_in
):
    member("cora", team_a=Role.CONSUMER_ADMIN)
    member("ursula", team_a=Role.USER)
    member("bert", team_b=Role.ADMIN)
    sign_in(page, "cora")

    page.goto(CONSUMERS)
    page.get_by_role("link", name=re.compile("Add consumer", re.IGNORECASE)).click()
    enter(page.get_by_label("Scope"), "team-a")
    page.get_by_label("Name").fill("deploy-hook")
    page.get_by_label("Tags").fill("analytics, staging")
    # Choosing the builder shows its properties as fields; what was typed stays.
    page.get_by_label("Builder").select_option(label="Webhook")
    expect(page.get_by_label("Url")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("deploy-hook")
    expect(page.get_by_label("Tags")).to_have_value("analytics, staging")
    expect(page.get_by_label("Timeout")).to_have_value("10")
    page.get_by_label("Url").fill(URL)
    page.get_by_label("Secret").fill(SECRET)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text(re.compile("was added successfully"))).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="deploy-hook"))
    expect(row).to_contain_text("team-a")
    expect(row).to_contain_text("webhook")
    consumer = Consumer.objects.get(name="deploy-hook")
    assert (consumer.scope, consumer.tags) == ("team-a", ["analytics", "staging"])
    assert (consumer.properties["url"], consumer.properties["secret"]) == (URL, SECRET)
    assert AuditEntry.objects.filter(action="consumer.create", actor="cora",
                                     scope="team-a").count() == 1

    # Shown again, its secret field is empty; saving it so keeps the secret.
    row.get_by_role("link", name="deploy-hook").click()
    expect(page.get_by_label("Url")).to_have_value(URL)
    expect(page.get_by_label("Secret")).to_have_value("")
    shows_no_secret(page)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile("was changed successfully"))).to_be_visible()
    consumer.refresh_from_db()
    assert consumer.properties["secret"] == SECRET

    # A USER of team-a: listed, readable, secret masked, nothing to add, change or delete.
    user_page = signed_in("ursula")
    user_page.goto(CONSUMERS)
    expect(user_page.get_by_role("link", name="deploy-hook")).to_be_visible()
    expect(user_page.get_by_role("link", name=re.compile("Add consumer", re.I))).to_have_count(0)
    user_page.get_by_role("link", name="deploy-hook").click()
    expect(user_page.get_by_text(URL)).to_be_visible()
    expect(user_page.get_by_text("analytics, staging", exact=True)).to_be_visible()
    expect(user_page.get_by_text(re.compile(r"\*{8}"))).to_be_visible()
    shows_no_secret(user_page)
    expect(user_page.get_by_role("button", name=re.compile("^Save"))).to_have_count(0)
    expect(user_page.get_by_role("link", name=re.compile("^Delete"))).to_have_count(0)
    token = csrf_token(user_page)
    deleted = user_page.request.post(f"{CONSUMERS}{consumer.pk}/delete/",
                                     form={"csrfmiddlewaretoken": token, "post": "yes"})
    assert deleted.status == 403
    changed = user_page.request.post(f"{CONSUMERS}{consumer.pk}/change/", form={
        "csrfmiddlewaretoken": token, "name": "taken-over", "enabled": "on",
        "property_url": "http://evil.example/", "property_secret": "x",
    })
    assert changed.status == 403

    # team-b's ADMIN: not listed, and its page does not exist.
    other = signed_in("bert")
    other.goto(CONSUMERS)
    expect(other.get_by_text("0 consumers")).to_be_visible()
    assert "deploy-hook" not in other.content()
    for view in ("change", "history", "delete"):
        other.goto(f"{CONSUMERS}{consumer.pk}/{view}/")
        expect(other.get_by_text(re.compile("doesn\u2019t exist"))).to_be_visible()
        assert "deploy-hook" not in other.content()
        shows_no_secret(other)

    consumer.refresh_from_db()
    assert (consumer.name, consumer.properties["url"]) == ("deploy-hook", URL)
