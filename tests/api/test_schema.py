"""OpenAPI schema, Swagger UI and ReDoc."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from consumers.builders.registry import BUILDERS


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


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_every_asset_from_this_server(route):
    page = Client().get(route).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)

    assert assets and all(url.startswith(settings.STATIC_URL) for url in assets), assets
    assert "http://" not in page and "https://" not in page  # nor in a script or style
    for url in assets:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), url


@pytest.mark.django_db
def test_the_schema_takes_what_the_api_answers_for_a_scope_never_configured_and_builders():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for name in ("ScopeSettings", "ScopeQuota"):  # null until first changed
        assert components[name]["properties"]["updated_at"]["nullable"] is True
    kinds = {spec.kind for builder in BUILDERS.values() for spec in builder.properties.values()}
    assert kinds <= set(components["KindEnum"]["enum"])
    export = schema["paths"]["/api/c/{scope}/audit/export/"]["get"]["responses"]["200"]
    assert list(export["content"]) == ["application/x-ndjson"]


@pytest.mark.django_db
def test_every_operation_documents_its_refusals_in_the_one_error_body():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    operations = [(method, operation) for path, item in schema["paths"].items()
                  if path.startswith("/api/c/{scope}/") for method, operation in item.items()]

    assert len(operations) > 40
    for method, operation in operations:
        wanted = {"400", "401", "403", "404", "429"} | (
            set() if method == "get" else {"409", "415"})
        assert wanted <= set(operation["responses"]), (method, operation["operationId"])
        assert all(operation["responses"][status]["content"] == error for status in wanted)
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "message"]
