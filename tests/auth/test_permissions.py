"""GET /api/permissions: who am I, in which scopes, allowed to do what."""

from django.test import override_settings
from rest_framework.test import APIClient

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role


def test_a_local_user_sees_its_scopes_roles_and_actions(make_client):
    client = make_client(team_a="CONSUMER_ADMIN", team_b="RESOURCE_ADMIN")

    body = client.get("/api/permissions").json()

    assert body["operator"] is False
    assert body["default_scope"] == "default"
    scopes = {s["scope"]: s for s in body["scopes"]}
    assert scopes["team-a"]["roles"] == ["CONSUMER_ADMIN"]
    assert "consumer.manage" in scopes["team-a"]["actions"]
    assert "resource.manage" not in scopes["team-a"]["actions"]
    assert "resource.manage" in scopes["team-b"]["actions"]
    assert "consumer.view" not in scopes["team-b"]["actions"]


def test_a_token_acts_with_every_membership_as_it_is_at_each_request(make_client):
    client = make_client(team_a="USER", team_b="RESOURCE_ADMIN")
    ScopeRole.objects.create(user=client.user, scope="team-a", role=Role.CONSUMER_ADMIN)

    def roles() -> dict[str, list[str]]:
        answer = client.get("/api/permissions")
        assert answer.status_code == 200
        return {s["scope"]: s["roles"] for s in answer.json()["scopes"]}

    assert roles() == {"team-a": ["CONSUMER_ADMIN", "USER"], "team-b": ["RESOURCE_ADMIN"]}
    ScopeRole.objects.filter(user=client.user, scope="team-b").delete()
    assert roles() == {"team-a": ["CONSUMER_ADMIN", "USER"]}
    ScopeRole.objects.filter(user=client.user).delete()
    assert roles() == {}  # still authenticated, member of nothing


def test_the_scoped_form_answers_the_same(make_client):
    client = make_client(team_a="USER")

    assert client.get("/api/c/team-a/permissions").json() == client.get(
        "/api/permissions").json()


def test_operators_see_the_allowed_scopes(make_client):
    client = make_client(operator=True)

    with override_settings(RM_SCOPE_LIST=["team-a", "team-b"]):
        body = client.get("/api/permissions").json()

    assert body["operator"] is True
    assert [s["scope"] for s in body["scopes"]] == ["team-a", "team-b"]


def test_anonymous_callers_get_a_json_401(committing_db):
    response = APIClient().get("/api/permissions")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_the_scoped_form_is_refused_in_a_scope_without_a_role(make_client):
    client = make_client(team_a="USER")

    response = client.get("/api/c/team-b/permissions")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert client.get("/api/permissions", HTTP_X_SCOPE="team-b").status_code == 403
