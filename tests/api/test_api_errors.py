"""Every answer under /api/ that is an error is the API's JSON, whoever gives it: no
route, a method a view does not take, a bug outside DRF; in DEBUG as without it."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def client(settings, request) -> Client:
    settings.DEBUG = getattr(request, "param", False)
    return Client(raise_request_exception=False)


@pytest.mark.django_db
@pytest.mark.parametrize("client", [False, True], ids=["production", "debug"], indirect=True)
@pytest.mark.parametrize("path", ["/api/nope", "/api/c/team-a/nope/", "/api/resources/x/y/z"])
def test_an_unknown_api_path_is_a_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "no such route"}


@pytest.mark.django_db
@pytest.mark.parametrize("client", [False, True], ids=["production", "debug"], indirect=True)
@pytest.mark.parametrize(("method", "path"), [("put", "/api/auth/login"),
                                              ("post", "/api/docs/")])
def test_a_method_a_view_does_not_take_is_a_json_405_naming_the_allowed_ones(
    client, method, path
):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


@pytest.mark.django_db
@pytest.mark.urls("tests.support.failing_urls")
@pytest.mark.parametrize("client", [False, True], ids=["production", "debug"], indirect=True)
def test_a_bug_outside_drf_is_a_json_500_with_the_request_id_only(client):
    response = client.get("/api/failing-view")

    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert response["X-Request-ID"] in body["message"]
    assert "RuntimeError" not in response.content.decode()


@pytest.mark.django_db
def test_pages_outside_the_api_keep_django_s_html(client):
    response = client.get("/admin-nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_browsable_api_keeps_its_html_error_pages(make_client):
    client = make_client(team_a="USER")

    response = client.get("/api/c/team-a/resources/00000000-0000-0000-0000-000000000000",
                          HTTP_ACCEPT="text/html")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
