"""The admin goes through the lifecycle service: same outcome, audit rows as the API."""

import pytest
from django.test import Client

from audit.models import AuditEntry
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from tests.admin.conftest import ready_resource
from tests.conftest import pg_admin_connect

CHANGELIST = "/admin/resourcemanager/resource/"


@pytest.fixture
def operator(committing_db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root-op", password="x" * 20)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def resource_admin(committing_db, django_user_model) -> Client:
    user = django_user_model.objects.create_user("ra", password="x" * 20, is_staff=True)
    ScopeRole.objects.create(user=user, scope="team-a", role=Role.RESOURCE_ADMIN)
    client = Client()
    client.force_login(user)
    return client


def add(client: Client, provider, **fields) -> object:
    data = {"scope": "team-a", "provider": provider.pk, "name": "orders", "tags_text": ""} | fields
    return client.post(f"{CHANGELIST}add/", data)


def database_exists(name: str) -> bool:
    with pg_admin_connect() as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def test_add_form_creates_through_the_service(resource_admin, pg_provider):
    response = add(resource_admin, pg_provider, tags_text="analytics, prod")

    assert response.status_code == 302, response.content.decode()[:2000]
    resource = Resource.objects.get()
    assert resource.status == Resource.Status.READY
    assert resource.tags == ["analytics", "prod"]
    assert resource.created_by.username == "ra"
    assert database_exists(resource.backend_name)
    actions = set(AuditEntry.objects.values_list("action", "outcome", "actor"))
    assert ("resource.create", "accepted", "ra") in actions
    assert ("resource.create", "success", "ra") in actions


@pytest.mark.parametrize("name", ["bad name", "x'; DROP DATABASE postgres; --", "a" * 64])
def test_add_form_shows_validation_errors(resource_admin, pg_provider, name):
    response = add(resource_admin, pg_provider, name=name)

    assert response.status_code == 200
    page = response.content.decode()
    assert "a name is 1-63 ASCII letters" in page or "at most 63 characters" in page
    assert not Resource.objects.exists()


def test_add_form_refuses_a_scope_without_the_role(resource_admin, pg_provider):
    response = add(resource_admin, pg_provider, scope="team-b")

    assert response.status_code == 200
    assert "team-b is not one of the available choices" in response.content.decode()
    assert not Resource.objects.exists()


@pytest.mark.parametrize("scope", ["Bad Scope", "-x", "TEAM-A"])
def test_an_operator_s_add_form_refuses_a_malformed_scope(operator, pg_provider, scope):
    response = add(operator, pg_provider, scope=scope)

    assert response.status_code == 200
    assert "a scope is 1-63 lowercase letters" in response.content.decode()
    assert not Resource.objects.exists()


def test_delete_goes_through_the_service(operator, pg_provider):
    add(operator, pg_provider)
    resource = Resource.objects.get()

    response = operator.post(f"{CHANGELIST}{resource.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.status == Resource.Status.DELETED
    assert not database_exists(resource.backend_name)
    assert AuditEntry.objects.filter(action="resource.delete", outcome="success").exists()


def test_bulk_delete_and_check_actions_use_the_service(operator, pg_provider):
    add(operator, pg_provider, name="one")
    add(operator, pg_provider, name="two")
    ids = [str(pk) for pk in Resource.objects.values_list("pk", flat=True)]

    operator.post(CHANGELIST, {"action": "check_selected", "_selected_action": ids})
    assert set(Resource.objects.values_list("last_check_ok", flat=True)) == {True}

    operator.post(CHANGELIST, {"action": "delete_selected", "_selected_action": ids,
                               "post": "yes"})
    assert set(Resource.objects.values_list("status", flat=True)) == {"deleted"}
    assert AuditEntry.objects.filter(action="resource.delete", outcome="success").count() == 2


def test_changing_tags_goes_through_the_service(operator, pg_provider):
    add(operator, pg_provider)
    resource = Resource.objects.get()

    response = operator.post(
        f"{CHANGELIST}{resource.pk}/change/", {"tags_text": "x, y"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    resource.refresh_from_db()
    assert resource.tags == ["x", "y"]
    assert AuditEntry.objects.filter(action="resource.update", outcome="success").exists()


def test_detail_page_never_renders_the_password(operator, pg_provider):
    add(operator, pg_provider)
    resource = Resource.objects.get()

    page = operator.get(f"{CHANGELIST}{resource.pk}/change/").content.decode()

    assert resource.credentials["password"] not in page


def test_the_list_hides_deleted_resources_unless_the_status_filter_asks(operator,
                                                                        memory_provider):
    kept = ready_resource(memory_provider.key, "kept")
    gone = ready_resource(memory_provider.key, "gone")
    services.delete_resource(SYSTEM, gone)
    gone.refresh_from_db()
    assert gone.status == Resource.Status.DELETED

    def listed(query: str = "") -> set[str]:
        response = operator.get(CHANGELIST + query)
        assert response.status_code == 200
        return {resource.name for resource in response.context["cl"].result_list}

    assert listed() == {kept.name}
    assert listed("?status__exact=deleted") == {gone.name}
    assert listed("?status__exact=ready") == {kept.name}
    assert listed("?status__exact=every") == {kept.name, gone.name}
    filters = operator.get(CHANGELIST).content.decode()
    assert "?status__exact=deleted" in filters


def test_a_deleted_resource_is_not_offered_for_deletion_again(operator, memory_provider):
    gone = ready_resource(memory_provider.key, "gone")
    services.delete_resource(SYSTEM, gone)

    page = operator.get(f"{CHANGELIST}{gone.pk}/change/").content.decode()
    confirmation = operator.post(f"{CHANGELIST}?status__exact=deleted", {
        "action": "delete_selected", "_selected_action": [str(gone.pk)]})

    assert f"{gone.pk}/delete/" not in page
    assert confirmation.status_code == 200
    assert "deleted already; nothing is done" in confirmation.content.decode()
    assert "drops" not in confirmation.content.decode()


def test_the_tag_filter_offers_the_tags_of_live_resources_only(operator, memory_provider):
    kept, gone = (ready_resource(memory_provider.key, name) for name in ("kept", "gone"))
    Resource.objects.filter(pk=kept.pk).update(tags=["kept-tag"])
    Resource.objects.filter(pk=gone.pk).update(tags=["gone-tag"])
    services.delete_resource(SYSTEM, gone)

    page = operator.get(CHANGELIST).content.decode()

    assert "?tag=kept-tag" in page and "?tag=gone-tag" not in page
