"""Small page helpers shared by the browser tests."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


def csrf_token(page: Page) -> str:
    """The page's CSRF token, for forged requests made with the page's session."""
    return page.locator("input[name=csrfmiddlewaretoken]").first.input_value()


def is_select(field: Locator) -> bool:
    return field.evaluate("element => element.tagName") == "SELECT"


def enter(field: Locator, value: str) -> None:
    """Type ``value`` into a text field, or choose it (by value or label) in a select: a
    form's scope field is typed by operators and chosen from a list by everyone else."""
    if is_select(field):
        field.select_option(value)
    else:
        field.fill(value)
