"""The resource list's bulk actions: offered to those whose roles allow them, a refused
row says which role it needs."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from resourcemanager.ui.adminscope import SESSION_KEY
from tests.admin.conftest import ready_resource

CHANGELIST = reverse("admin:resourcemanager_resource_changelist")
CONSUMERS = reverse("admin:consumers_consumer_changelist")


def offered(browser, url: str = CHANGELIST) -> set[str]:
    response = browser.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # None: no action at all
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


@pytest.mark.parametrize(("role", "actions"), [
    (Role.USER, {"check_selected"}),
    (Role.CONSUMER_ADMIN, {"check_selected"}),
    (Role.RESOURCE_ADMIN, {"check_selected", "backup_selected", "delete_selected"}),
    (Role.ADMIN, {"check_selected", "backup_selected", "delete_selected"}),
])
def test_each_role_is_offered_the_actions_it_may_run(admin_browser, role, actions):
    assert offered(admin_browser(team_a=role)) == actions


def test_consumer_redelivery_is_offered_to_those_who_manage_consumers(admin_browser):
    assert "sync_selected" not in offered(admin_browser(team_a=Role.USER), CONSUMERS)
    assert "sync_selected" in offered(admin_browser(team_a=Role.CONSUMER_ADMIN), CONSUMERS)


def test_the_current_scope_decides_what_is_offered(admin_browser):
    browser = admin_browser(team_a=Role.USER, team_b=Role.RESOURCE_ADMIN)
    assert "backup_selected" in offered(browser)

    session = browser.session
    session[SESSION_KEY] = "team-a"
    session.save()

    assert offered(browser) == {"check_selected"}


def test_a_refused_row_says_which_role_it_needs(admin_browser, memory_provider):
    orders = ready_resource(memory_provider.key)
    browser = admin_browser(team_a=Role.USER, team_b=Role.RESOURCE_ADMIN)

    response = browser.post(CHANGELIST, {"action": "backup_selected",
                                         "_selected_action": [orders.pk]})

    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["team-a/orders: this needs the role ADMIN or RESOURCE_ADMIN in this "
                     "scope"]


def test_a_bulk_check_reports_the_rows_that_went_through(admin_browser, memory_provider):
    orders, billing = (ready_resource(memory_provider.key, name)
                       for name in ("orders", "billing"))
    billing.status = Resource.Status.PENDING
    billing.save(update_fields=["status"])
    browser = admin_browser(team_a=Role.USER)

    response = browser.post(CHANGELIST, {"action": "check_selected",
                                         "_selected_action": [orders.pk, billing.pk]})

    shown = [(message.level_tag, str(message))
             for message in get_messages(response.wsgi_request)]
    assert shown == [
        ("error", "team-a/billing: a pending resource cannot be checked"),
        ("success", "Check of 1 resource(s) requested: each one's result shows on its page "
                    "once done."),
    ]
    orders.refresh_from_db()
    assert orders.last_check_at is not None


@pytest.mark.parametrize(("changelist", "action"), [
    (CHANGELIST, "delete_selected"),
    (CHANGELIST, "check_selected"),
    (CONSUMERS, "sync_selected"),
    (reverse("admin:resourcemanager_apitoken_changelist"), "revoke_selected"),
    (reverse("admin:resourcemanager_scoperole_changelist"), "delete_selected"),
    (reverse("admin:auth_user_changelist"), "delete_selected"),
])
def test_a_forged_selection_is_refused_with_a_message(admin_browser, changelist, action):
    browser = admin_browser(operator=True)

    answer = browser.post(changelist, {"action": action, "_selected_action": ["not-an-id"]})

    assert answer.status_code == 302
    assert [str(each) for each in get_messages(answer.wsgi_request)] == [
        "The selection names no such item; nothing was done."]


def test_messages_keep_the_case_of_the_names_they_start_with(admin_browser, memory_provider):
    """A message starting with a resource, a holder or a user shows it as it is spelled:
    the page does not capitalise messages."""
    resource = ready_resource(memory_provider.key, "a-shop")
    browser = admin_browser(operator=True)

    response = browser.post("/admin/resourcemanager/resource/", {
        "action": "backup_selected", "_selected_action": [str(resource.pk)]}, follow=True)

    page = response.content.decode()
    assert "team-a/a-shop: the data of In-memory SQL resources is not handled yet" in page
    assert "Team-a/a-shop" not in page


def test_a_forged_selection_on_a_list_the_user_may_not_open_is_a_plain_refusal(admin_browser):
    browser = admin_browser(team_a=Role.USER)

    answer = browser.post(reverse("admin:auth_user_changelist"),
                          {"action": "delete_selected", "_selected_action": ["not-an-id"]})

    assert answer.status_code == 403
    assert not list(get_messages(answer.wsgi_request))
