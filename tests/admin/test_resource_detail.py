"""The resource's page in the admin: credentials for every role of its scope and for no
one else, CHECK from the page, and delete confirmations that name what is destroyed."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from resourcemanager.ui.snippets import MASK
from tests.admin.conftest import ready_resource

CHANGELIST = reverse("admin:resourcemanager_resource_changelist")


def page(resource_id) -> str:
    return reverse("admin:resourcemanager_resource_change", args=[resource_id])


def check_url(resource_id) -> str:
    return reverse("admin:resourcemanager_resource_check", args=[resource_id])


def credentials_url(resource_id) -> str:
    return reverse("admin:resourcemanager_resource_credentials", args=[resource_id])


def history_of(html: str) -> str:
    return html[html.index("<h2>History</h2>"):html.index("</section>")]


@pytest.fixture
def orders(pg_provider) -> Resource:
    """A ready PostgreSQL resource of team-a, made through the service."""
    return ready_resource("pg")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESOURCE_ADMIN])
def test_credential_managers_see_the_credentials_masked_until_asked(
    admin_browser, orders, role
):
    browser = admin_browser(team_a=role)
    credentials = orders.credentials

    response = browser.get(page(orders.pk))

    assert response.status_code == 200
    html = response.content.decode()
    for shown in ("host", "database", "username"):
        assert f'value="{credentials[shown]}"' in html
    assert f'value="{MASK}"' in html
    assert "psql" in html and "Python (psycopg)" in html
    assert credentials["password"] not in html  # sent only when asked for
    assert 'name="csrfmiddlewaretoken"' in html

    revealed = browser.post(credentials_url(orders.pk))

    assert revealed.status_code == 200
    assert "no-store" in revealed["Cache-Control"]
    values = revealed.json()["values"]
    assert values["rm-password"] == credentials["password"]
    assert values["rm-uri"] == credentials["uri"]
    assert f"PGPASSWORD={credentials['password']}" in values["rm-snippet-0"]
    with psycopg.connect(values["rm-uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (orders.backend_name,)
    reveal = AuditEntry.objects.get(action="resource.reveal")
    assert (reveal.actor, reveal.target_id) == (browser.user.username, str(orders.pk))


@pytest.mark.parametrize("role", [Role.CONSUMER_ADMIN, Role.USER])
def test_other_roles_see_where_to_connect_but_never_the_owner_secret(
    admin_browser, orders, role
):
    browser = admin_browser(team_a=role)

    html = browser.get(page(orders.pk)).content.decode()
    revealed = browser.post(credentials_url(orders.pk))

    assert f'value="{orders.credentials["username"]}"' in html
    assert "Show secrets" not in html and "psql" not in html
    assert "credential of your own" in html
    assert revealed.status_code == 403
    assert orders.credentials["password"] not in revealed.content.decode()
    assert not AuditEntry.objects.filter(action="resource.reveal").exists()


def test_credentials_are_never_sent_by_a_get(admin_browser, orders):
    browser = admin_browser(team_a=Role.ADMIN)

    response = browser.get(credentials_url(orders.pk))

    assert response.status_code == 405
    assert orders.credentials["password"] not in response.content.decode()


@pytest.mark.parametrize("role", list(Role))
def test_another_scope_sees_nothing_of_the_resource(admin_browser, orders, role):
    stranger = admin_browser(team_b=role)
    markers = [orders.name, orders.backend_name, orders.credentials["password"]]
    never_was = uuid.uuid4()

    answers = {}
    for resource_id in (orders.pk, never_was):
        shown = stranger.get(page(resource_id), follow=True)
        revealed = stranger.post(credentials_url(resource_id))
        checked = stranger.post(check_url(resource_id))
        for response in (shown, revealed, checked):
            body = response.content.decode().replace(str(resource_id), "<id>")
            assert not [marker for marker in markers if marker in body]
        answers[resource_id] = [
            (r.status_code, r.content.decode().replace(str(resource_id), "<id>"))
            for r in (revealed, checked)
        ] + [shown.redirect_chain]
    assert answers[orders.pk] == answers[never_was]
    assert answers[orders.pk][0][0] == answers[orders.pk][1][0] == 404
    orders.refresh_from_db()
    assert orders.last_check_at is None


@pytest.mark.parametrize("role", list(Role))
def test_every_role_of_the_scope_checks_from_the_page(admin_browser, orders, role):
    browser = admin_browser(team_a=role)

    response = browser.post(check_url(orders.pk), follow=True)

    assert response.redirect_chain == [(page(orders.pk), 302)]
    html = response.content.decode()
    assert "Check of team-a/orders: OK" in html
    orders.refresh_from_db()
    assert orders.last_check_ok is True
    assert AuditEntry.objects.filter(
        action="resource.check", outcome="success", actor=browser.user.username,
        target_id=str(orders.pk),
    ).exists()
    assert "resource.check" in html  # the page's history shows it


@pytest.mark.parametrize("operation", ["check", "backup"])
def test_a_get_of_an_operation_goes_back_to_the_page_and_does_nothing(admin_browser, orders,
                                                                      operation):
    browser = admin_browser(team_a=Role.ADMIN)
    url = reverse(f"admin:resourcemanager_resource_{operation}", args=[orders.pk])

    response = browser.get(url, follow=True)

    assert response.redirect_chain == [(page(orders.pk), 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "Nothing was done: that address acts only from its button on this page."]
    orders.refresh_from_db()
    assert orders.last_check_at is None
    assert not orders.backups.exists()
    assert admin_browser(team_b=Role.ADMIN).get(url).status_code == 404


def test_a_page_without_credentials_says_so(admin_browser, pg_provider):
    request = services.prepare_resource(SYSTEM, "team-a", provider="pg", name="later")
    pending = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name=request.name,
        backend_name="rm_pending00000",
    )

    html = admin_browser(team_a=Role.USER).get(page(pending.pk)).content.decode()

    assert "No credentials yet: the resource is pending." in html
    assert "Show secrets" not in html
    assert "Check now" not in html  # a pending resource cannot be checked


def test_the_history_shows_the_resource_s_entries_newest_first(admin_browser, orders):
    admin = admin_browser(team_a=Role.ADMIN)
    user = admin_browser(team_a=Role.USER)
    user.post(check_url(orders.pk))
    admin.post(check_url(orders.pk))
    other = services.create_resource(
        SYSTEM, services.prepare_resource(SYSTEM, "team-a", provider="pg", name="other")
    )

    history = history_of(admin.get(page(orders.pk)).content.decode())
    rows = history.split("<tr>")[2:]  # after the header row
    assert len(rows) == 6  # create accepted and done, two checks accepted and done
    assert [row.split("<td>")[2].split("<")[0] for row in rows[:2]] == [
        admin.user.username, admin.user.username,
    ]
    assert "resource.create" in rows[-1]
    assert str(other.pk) not in history

    own_history = history_of(user.get(page(orders.pk)).content.decode())
    assert "Your own actions on this resource." in own_history
    assert user.user.username in own_history
    assert admin.user.username not in own_history


def test_the_delete_confirmation_names_the_database_and_the_login(admin_browser, orders):
    admin = admin_browser(team_a=Role.RESOURCE_ADMIN)
    delete = reverse("admin:resourcemanager_resource_delete", args=[orders.pk])

    html = admin.get(delete).content.decode()

    assert (f"team-a/orders: drops database {orders.backend_name} and login "
            f"{orders.backend_name} on pg, with all its data") in html
    assert admin.post(delete, {"post": "yes"}).status_code == 302
    orders.refresh_from_db()
    assert orders.status == Resource.Status.DELETED


def test_the_bulk_delete_confirmation_names_what_each_deletion_destroys(admin_browser, orders):
    external = services.register_resource(
        SYSTEM, "team-a", provider="pg", name="reports",
        uri="postgresql://reader:secret@db.example:5432/reports",
    )
    admin = admin_browser(team_a=Role.ADMIN)

    response = admin.post(CHANGELIST, {"action": "delete_selected",
                                       "_selected_action": [orders.pk, external.pk]})

    listed = re.search(r'<ul id="deleted-objects">(.*?)</ul>', response.content.decode(), re.S)
    items = sorted(re.findall(r"<li>(.*?)</li>", listed.group(1)))
    assert items == [
        f"team-a/orders: drops database {orders.backend_name} and login "
        f"{orders.backend_name} on pg, with all its data",
        "team-a/reports: unregisters it; nothing on the server is touched",
    ]
    assert Resource.objects.live().count() == 2


def test_a_user_gets_neither_delete_nor_add_and_a_forged_delete_is_refused(admin_browser, orders):
    user = admin_browser(team_a=Role.USER)
    delete = reverse("admin:resourcemanager_resource_delete", args=[orders.pk])

    html = user.get(page(orders.pk)).content.decode()
    assert delete not in html
    add = reverse("admin:resourcemanager_resource_add")
    assert add not in user.get(CHANGELIST).content.decode()

    assert user.post(delete, {"post": "yes"}).status_code == 403
    orders.refresh_from_db()
    assert orders.status == Resource.Status.READY


def test_a_bulk_delete_reaching_a_scope_without_the_right_deletes_nothing(admin_browser, orders):
    theirs = services.create_resource(
        SYSTEM, services.prepare_resource(SYSTEM, "team-b", provider="pg", name="theirs")
    )
    mixed = admin_browser(team_a=Role.ADMIN, team_b=Role.USER)
    selected = {"action": "delete_selected", "_selected_action": [orders.pk, theirs.pk]}

    confirmation = mixed.post(CHANGELIST, selected).content.decode()
    refused = mixed.post(CHANGELIST, {**selected, "post": "yes"})

    assert "do not allow you to delete these of the selected resources" in confirmation
    assert "team-b/theirs" in confirmation
    assert "Yes, I\u2019m sure" not in confirmation
    assert refused.status_code == 403
    assert Resource.objects.live().count() == 2


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESOURCE_ADMIN, Role.USER])
def test_the_creator_links_to_the_user_s_page_for_operators_only(admin_browser, orders,
                                                                  role):
    member = admin_browser(team_a=role)
    orders.created_by = member.user
    orders.save(update_fields=["created_by"])
    user_page = reverse("admin:auth_user_change", args=[member.user.pk])

    seen = member.get(page(orders.pk)).content.decode()
    operators = admin_browser(operator=True).get(page(orders.pk)).content.decode()

    assert user_page not in seen
    assert f'<div class="readonly">{member.user.username}</div>' in seen
    assert f'<a href="{user_page}">{member.user.username}</a>' in operators
    assert member.get(user_page).status_code in (302, 403, 404)  # not for members
