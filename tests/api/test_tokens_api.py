"""/api/tokens: a user's own API tokens, issued once, listed without secrets, revoked."""

from rest_framework.test import APIClient

from audit.models import AuditEntry
from resourcemanager.identity.models import ApiToken


def test_issue_use_list_and_revoke(make_client):
    client = make_client(team_a="USER")

    issued = client.post("/api/tokens", {"name": "ci", "expires_in_days": 7}, format="json")

    assert issued.status_code == 201, issued.json()
    plaintext = issued.json()["token"]
    assert plaintext.startswith("rmt_")
    assert not ApiToken.objects.filter(digest=plaintext).exists()
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert fresh.get("/api/c/team-a/resources").status_code == 200

    listed = client.get("/api/tokens").json()
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert plaintext not in str(listed)

    assert client.delete(f"/api/tokens/{issued.json()['id']}").status_code == 204
    assert fresh.get("/api/c/team-a/resources").status_code == 401
    assert AuditEntry.objects.filter(action="token.revoke", outcome="success").exists()


def test_tokens_of_other_users_are_invisible_and_untouchable(make_client):
    alice = make_client(team_a="ADMIN")
    bob = make_client(team_a="ADMIN")
    bobs = bob.post("/api/tokens", {"name": "bob-token"}, format="json").json()

    assert "bob-token" not in str(alice.get("/api/tokens").json())
    assert alice.delete(f"/api/tokens/{bobs['id']}").status_code == 404
    assert ApiToken.objects.get(pk=bobs["id"]).revoked_at is None


def test_default_expiry_and_never_expiring_tokens(make_client, settings):
    settings.RM_API_TOKEN_DEFAULT_DAYS = 30
    client = make_client(team_a="USER")

    default = client.post("/api/tokens", {"name": "a"}, format="json").json()
    forever = client.post("/api/tokens", {"name": "b", "expires_in_days": 0},
                          format="json").json()

    assert default["expires_at"] is not None
    assert forever["expires_at"] is None


def test_bad_requests_are_clear_400s(make_client):
    client = make_client(team_a="USER")

    assert client.post("/api/tokens", {}, format="json").json()["code"] == "invalid_input"
    response = client.post("/api/tokens", {"name": "x", "expires_in_days": -1}, format="json")
    assert response.status_code == 400
    assert client.delete("/api/tokens/not-a-number").status_code == 404


def test_anonymous_callers_cannot_issue_tokens(committing_db):
    response = APIClient().post("/api/tokens", {"name": "x"}, format="json")

    assert response.status_code == 401
    assert not ApiToken.objects.exists()


def test_tokens_are_personal_and_refused_in_a_scope_without_a_role(make_client):
    """A request naming a scope is refused there without a role, whatever the object."""
    client = make_client(team_a="USER")
    own = client.post("/api/tokens", {"name": "mine"}, format="json").json()

    assert client.get("/api/c/team-a/tokens").json() == client.get("/api/tokens").json()
    for response in (
        client.get("/api/c/team-b/tokens"),
        client.post("/api/c/team-b/tokens", {"name": "x"}, format="json"),
        client.delete(f"/api/c/team-b/tokens/{own['id']}"),
        client.get("/api/tokens", HTTP_X_SCOPE="team-b"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    assert client.get("/api/c/Not_A_Scope!/tokens").json()["code"] == "invalid_scope"
    assert ApiToken.objects.get(pk=own["id"]).revoked_at is None
    assert not ApiToken.objects.filter(name="x").exists()


def test_a_user_without_any_role_still_manages_its_tokens(make_client):
    client = make_client()

    assert client.post("/api/tokens", {"name": "ci"}, format="json").status_code == 201
    assert client.get("/api/c/team-a/tokens").status_code == 403
