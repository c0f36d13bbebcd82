"""API tokens in the admin: everyone issues and revokes their own; shown once."""

import pytest
from django.test import Client

from resourcemanager.identity.models import ApiToken, ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token

CHANGELIST = "/admin/resourcemanager/apitoken/"


@pytest.fixture
def users(committing_db, django_user_model):
    made = {}
    for name in ("ann", "ben"):
        made[name] = django_user_model.objects.create_user(name, password="x" * 20)
        ScopeRole.objects.create(user=made[name], scope="team-a", role=Role.USER)
    return made


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_user_issues_a_token_shown_once(users):
    client = signed_in(users["ann"])

    response = client.post(f"{CHANGELIST}add/", {"name": "laptop", "expires_in_days": "7"})

    assert response.status_code == 200
    page = response.content.decode()
    token = ApiToken.objects.get(user=users["ann"], name="laptop")
    plaintext = page.split('id="issued-token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert plaintext.startswith("rmt_")
    assert ApiToken.digest_of(plaintext) == token.digest
    assert plaintext not in client.get(CHANGELIST).content.decode()
    assert plaintext not in client.get(f"{CHANGELIST}{token.pk}/change/").content.decode()


def test_users_see_and_revoke_only_their_own_tokens(users):
    bens, _ = issue_token(users["ben"], "ben-token", expires_in_days=None)
    client = signed_in(users["ann"])

    assert "ben-token" not in client.get(CHANGELIST).content.decode()
    assert client.get(f"{CHANGELIST}{bens.pk}/change/").status_code in (302, 403, 404)
    client.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [bens.pk]})

    bens.refresh_from_db()
    assert bens.revoked_at is None


def test_a_user_revokes_its_own_token(users):
    own, _ = issue_token(users["ann"], "old", expires_in_days=None)

    signed_in(users["ann"]).post(CHANGELIST, {"action": "revoke_selected",
                                              "_selected_action": [own.pk]})

    own.refresh_from_db()
    assert own.revoked_at is not None


def test_the_token_s_user_links_to_its_page_for_operators_only(users, django_user_model):
    token, _ = issue_token(users["ann"], "laptop", expires_in_days=None)
    user_page = f"/admin/auth/user/{users['ann'].pk}/change/"
    operator = django_user_model.objects.create_superuser("op", password=None)

    own = signed_in(users["ann"]).get(f"{CHANGELIST}{token.pk}/change/").content.decode()
    theirs = signed_in(operator).get(f"{CHANGELIST}{token.pk}/change/").content.decode()

    assert user_page not in own
    assert '<div class="readonly">ann</div>' in own
    assert f'<a href="{user_page}">ann</a>' in theirs


def test_reloading_the_new_token_s_page_issues_no_second_token(users):
    client = signed_in(users["ann"])
    token = client.get(f"{CHANGELIST}add/").context["adminform"].form["once"].value()
    form = {"name": "laptop", "expires_in_days": "7", "once": token}

    first, again = (client.post(f"{CHANGELIST}add/", form) for _ in range(2))

    assert first.status_code == 200 and again.status_code == 302
    assert ApiToken.objects.filter(user=users["ann"], name="laptop").count() == 1
    revoked = client.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [
        str(ApiToken.objects.get(name="laptop").pk)]}, follow=True)
    assert "Revoked 1 token(s)." in revoked.content.decode()
