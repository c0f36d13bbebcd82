"""OpenAPI schema and Swagger UI."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_schema_documents_both_url_forms():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/resources/" in paths
    assert any(p.startswith("/api/c/{scope}/resources") for p in paths)
    assert any(p.rstrip("/").endswith("/check") for p in paths)


@pytest.mark.django_db
def test_swagger_ui_is_served():
    assert Client().get("/api/docs/").status_code == 200
