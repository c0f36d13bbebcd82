"""/healthz and /readyz: anonymous, short, and failing when a dependency is down."""

import pytest
from django.db import connection

from config.celery import app as celery_app
from tests.support.workers import REDIS_URL, publishing_to


def test_liveness_answers_without_touching_anything(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_with_the_database_and_in_process_tasks(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    assert response.json()["checks"]["broker"] == {
        "ok": True, "message": "tasks run in-process (no REDIS_URL)"
    }


def test_readiness_checks_the_broker(client, db):
    with publishing_to(REDIS_URL):
        assert client.get("/readyz").json()["checks"]["broker"]["ok"] is True
    with publishing_to("redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False, "message": "the task broker does not answer"
    }
    assert celery_app.conf.task_always_eager  # restored


def test_readiness_fails_while_the_database_is_unreachable(client, transactional_db):
    port = connection.settings_dict["PORT"]
    if connection.vendor != "postgresql":
        pytest.skip("an unreachable database needs a networked one")
    connection.close()
    connection.settings_dict["PORT"] = 1
    try:
        response = client.get("/readyz")
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == {
        "ok": False, "message": "the app database does not answer"
    }
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_endpoints_refuse_writes(client, method):
    assert getattr(client, method)("/readyz").status_code == 405
    assert getattr(client, method)("/healthz").status_code == 405


def test_detail_mode_pings_provider_instances_for_operators(
    client, django_user_model, pg_provider, transactional_db
):
    from providers.models import Provider

    Provider.objects.create(
        key="gone", provider_class="postgresql", host="127.0.0.1", port=1,
        username="postgres", password="never-shown-canary",
    )
    operator = django_user_model.objects.create_superuser("op", password="pw-op-123456")
    client.force_login(operator)

    response = client.get("/readyz?detail=1")

    assert response.status_code == 200  # a backend that is down leaves the service ready
    providers = response.json()["providers"]
    assert providers[pg_provider.key] == {"ok": True, "message": ""}
    assert providers["gone"]["ok"] is False
    assert "cannot reach" in providers["gone"]["message"]
    assert "never-shown-canary" not in response.content.decode()
    assert Provider.objects.get(key="gone").reachable is False  # kept for the API


def test_detail_mode_is_refused_to_anyone_else(client, django_user_model, db):
    assert client.get("/readyz?detail=1").status_code == 403
    client.force_login(django_user_model.objects.create_user("someone", password="pw-x-123456"))
    response = client.get("/readyz?detail=1")
    assert response.status_code == 403
    assert "providers" not in response.json()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_answer_whatever_host_they_address(client, path, db):
    """Kubelets and Prometheus ask by pod IP, which ALLOWED_HOSTS does not list."""
    assert client.get(path, HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/api/providers", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_probes_are_not_in_the_access_log(client, caplog, db):
    import logging

    with caplog.at_level(logging.INFO, logger="resourcemanager.access"):
        client.get("/readyz")
    assert not [r for r in caplog.records if r.name == "resourcemanager.access"]


def test_detail_mode_still_checks_the_host(client, db):
    assert client.get("/readyz?detail=1", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_over_plain_http_are_not_redirected(client, settings, path, db):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get(path).status_code == 200
    assert client.get("/admin/login/").status_code == 301
