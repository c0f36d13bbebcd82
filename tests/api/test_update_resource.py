"""PATCH /resources/{id}: tags and properties."""

TEAM_A = "/api/c/team-a/resources"


def test_tags_can_be_replaced(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders", "tags": ["a"]},
                           format="json").json()

    response = client.patch(f"{TEAM_A}/{resource['id']}", {"tags": ["b", "c", "b"]},
                            format="json")

    assert response.status_code == 200
    assert response.json()["tags"] == ["b", "c"]
    assert client.get(TEAM_A, {"tag": "c"}).json()["count"] == 1
    assert client.get(TEAM_A, {"tag": "a"}).json()["count"] == 0


def test_bad_tags_are_refused_and_nothing_changes(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders", "tags": ["a"]},
                           format="json").json()

    response = client.patch(f"{TEAM_A}/{resource['id']}", {"tags": ["; DROP"]}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_tags"
    assert client.get(f"{TEAM_A}/{resource['id']}").json()["tags"] == ["a"]


def test_properties_the_provider_does_not_know_are_refused(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()

    response = client.patch(f"{TEAM_A}/{resource['id']}", {"properties": {"x": 1}},
                            format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_properties"


def test_put_is_not_offered(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()

    response = client.put(f"{TEAM_A}/{resource['id']}", {"tags": []}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
