"""Prometheus metrics: GET /metrics on the web, the worker's exporter, multiprocess mode."""

from __future__ import annotations

import os
import re
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from providers.models import Provider
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.support.workers import (
    REDIS_URL,
    Worker,
    app_database_url,
    show,
    wait_for_status,
    worker_env,
)

TEAM_A = "/api/c/team-a/resources"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client | None = None, **headers: str) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def samples(body: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when it is absent (a counter not incremented yet)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def families(body: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(body)}


def down_provider() -> Provider:
    """A PostgreSQL instance where nothing listens: every operation fails at once."""
    return Provider.objects.create(
        key="pg-down", provider_class="postgresql", host=PG_HOST, port=1,
        username=PG_USER, password=PG_PASSWORD, options={"database": "postgres"},
    )


def seeded_provider() -> Provider:
    return Provider.objects.create(
        key="pg-seed", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD,
    )


def seed_resources(provider: Provider, **statuses: int) -> None:
    """Rows only (nothing on a server): ``ready=2`` makes two ready resources."""
    for status, count in statuses.items():
        for n in range(count):
            Resource.objects.create(
                scope="team-a", provider=provider, type="sql", name=f"{status}-{n}",
                backend_name=f"rm_seed{status[:3]}{n:04d}", status=status,
            )


def test_metrics_expose_the_expected_families_after_api_requests(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    assert created.status_code == 201, created.json()
    assert client.get(TEAM_A).status_code == 200

    body = scrape()

    assert {
        "rm_http_requests",
        "rm_http_request_duration_seconds",
        "rm_task_duration_seconds",
        "rm_provider_operations",
        "rm_consumer_deliveries",
        "rm_resources",
        "rm_outbox_unhandled_messages",
        "rm_outbox_unpublished_messages",
        "rm_outbox_oldest_unhandled_age_seconds",
        "rm_metrics_database_up",
    } <= families(body)
    found = samples(body)
    assert value(found, "rm_metrics_database_up") == 1
    # Tasks run in the web process without a broker: they are measured here.
    assert value(
        found, "rm_task_duration_seconds_count",
        task="providers.run_resource_operation", outcome="success",
    ) >= 1
    assert value(found, "rm_resources", provider="pg", type="sql", status="ready") == 1


def test_requests_are_counted_by_view_name_never_by_path(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    resource_id = created.json()["id"]
    missing = "0b7d8e8a-1d7e-4c1f-9a51-3f2f5e4d6c7b"
    before = samples(scrape())

    for _ in range(2):
        assert client.get(f"{TEAM_A}/{resource_id}").status_code == 200
    assert client.get(f"{TEAM_A}/{missing}").status_code == 404
    assert client.get(f"/no/such/route/{missing}").status_code == 404
    assert client.generic("BREW", TEAM_A).status_code == 405
    body = scrape()

    after = samples(body)
    detail = {"method": "GET", "view": "api-scoped:resource-detail"}

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("rm_http_requests_total", **detail, status="2xx") == 2
    assert grew("rm_http_requests_total", **detail, status="4xx") == 1
    assert grew("rm_http_request_duration_seconds_count", **detail) == 3
    assert grew("rm_http_requests_total", method="GET", view="unmatched", status="4xx") == 1
    assert grew(
        "rm_http_requests_total", method="other", view="api-scoped:resource-list", status="4xx"
    ) == 1
    assert resource_id not in body and missing not in body
    http_labels = [
        labels for (name, labels) in after if name.startswith("rm_http_")
    ]
    for labels in http_labels:
        for _key, label in labels:
            assert "/" not in label and not UUID_RE.search(label), label
            assert "BREW" not in label


def test_resources_gauge_counts_rows_by_provider_type_and_status(db):
    seed_resources(seeded_provider(), ready=2, error=1, deleted=1)

    body = scrape()

    found = samples(body)
    gauge = {"provider": "pg-seed", "type": "sql"}
    assert value(found, "rm_resources", **gauge, status="ready") == 2
    assert value(found, "rm_resources", **gauge, status="error") == 1
    assert value(found, "rm_resources", **gauge, status="deleted") == 1
    # Every status is there, at 0, so a series falls to 0 instead of vanishing.
    assert ("rm_resources", frozenset({**gauge, "status": "creating"}.items())) in found
    assert value(found, "rm_resources", **gauge, status="creating") == 0
    label_names = {key for (name, labels) in found if name == "rm_resources" for key, _ in labels}
    assert label_names == {"provider", "type", "status"}


def test_scope_gauges_meter_each_scope_and_its_byte_limit(db):
    provider = seeded_provider()
    seed_resources(provider, ready=2, deleted=1)
    Resource.objects.filter(status="ready").update(size=1000)
    Resource.objects.filter(status="deleted").update(size=5000)
    Resource.objects.filter(name="ready-0").update(frozen=True)
    ScopeQuota.objects.create(scope="team-a", max_bytes=1500)
    ScopeQuota.objects.create(scope="team-q", max_resources=1)

    found = samples(scrape())

    assert value(found, "rm_scope_bytes", scope="team-a") == 2000  # deleted ones aside
    assert value(found, "rm_scope_resources", scope="team-a") == 2
    assert value(found, "rm_scope_frozen_resources", scope="team-a") == 1
    assert value(found, "rm_scope_max_bytes", scope="team-a") == 1500
    assert value(found, "rm_scope_resources", scope="team-q") == 0
    assert ("rm_scope_max_bytes", frozenset({("scope", "team-q")})) not in found


def test_outbox_backlog_gauges_count_unpublished_and_unhandled_rows(db):
    def message(**fields) -> OutboxMessage:
        return OutboxMessage.objects.create(kind="operation", name="create", scope="t", **fields)

    now = timezone.now()
    oldest = message()
    message()
    message(published_at=now)  # published, no task has handled it yet
    message(published_at=now, handled_at=now)  # done: no backlog
    OutboxMessage.objects.filter(pk=oldest.pk).update(created_at=now - timedelta(seconds=300))

    found = samples(scrape())

    assert value(found, "rm_outbox_unpublished_messages", kind="operation") == 2
    assert value(found, "rm_outbox_unhandled_messages", kind="operation") == 3
    assert 300 <= value(found, "rm_outbox_oldest_unhandled_age_seconds", kind="operation") < 360
    for name in ("unpublished_messages", "unhandled_messages", "oldest_unhandled_age_seconds"):
        assert (f"rm_outbox_{name}", frozenset({("kind", "event")})) in found
        assert value(found, f"rm_outbox_{name}", kind="event") == 0


def test_provider_operation_outcomes_on_postgresql(make_client, pg_provider):
    down_provider()
    client = make_client(team_a="RESOURCE_ADMIN")

    def count(provider: str, operation: str, outcome: str) -> float:
        return value(
            samples(scrape()), "rm_provider_operations_total", provider_class="postgresql",
            provider=provider, operation=operation, outcome=outcome,
        )

    before = {
        (provider, operation, outcome): count(provider, operation, outcome)
        for provider, operation, outcome in [
            ("pg", "create", "success"), ("pg", "check", "success"),
            ("pg", "delete", "success"), ("pg-down", "create", "failure"),
        ]
    }

    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    assert resource["status"] == "ready"
    assert client.post(f"{TEAM_A}/{resource['id']}/check", {}, format="json").status_code == 202
    assert client.delete(f"{TEAM_A}/{resource['id']}").status_code == 202
    failed = client.post(TEAM_A, {"provider": "pg-down", "name": "lost"}, format="json").json()
    assert failed["status"] == "error"

    for key, was in before.items():
        assert count(*key) == was + 1, key


def test_consumer_deliveries_are_counted_by_builder_and_outcome(make_client, pg_provider):
    client = make_client(team_a="ADMIN")
    consumer = client.post(
        "/api/c/team-a/consumers", {"builder": "log", "name": "audit-log"}, format="json"
    )
    assert consumer.status_code == 201, consumer.json()
    before = value(samples(scrape()), "rm_consumer_deliveries_total", builder="log",
                   outcome="delivered")

    client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")

    after = value(samples(scrape()), "rm_consumer_deliveries_total", builder="log",
                  outcome="delivered")
    assert after == before + 1


def test_metrics_never_name_scopes_resources_hosts_or_credentials(make_client, pg_provider):
    client = make_client(tenant_qx7="ADMIN")
    base = "/api/c/tenant-qx7/resources"
    created = client.post(base, {"provider": "pg", "name": "ledger-zk42"}, format="json")
    assert created.status_code == 201, created.json()
    detail = client.post(f"{base}/{created.json()['id']}/reveal").json()
    client.post(f"{base}/{detail['id']}/check", {}, format="json")

    body = scrape()

    resource = Resource.objects.get(pk=detail["id"])
    # Scopes, made by operators, label the scope usage gauges only.
    unscoped = "\n".join(line for line in body.splitlines()
                         if not line.startswith(("rm_scope_", "# HELP rm_scope_",
                                                 "# TYPE rm_scope_")))
    assert 'rm_scope_resources{scope="tenant-qx7"} 1.0' in body
    for secret in (
        "tenant-qx7", "tenant_qx7", "ledger-zk42", detail["id"], resource.backend_name,
        detail["credentials"]["password"], detail["credentials"]["uri"], PG_HOST,
        client.user.username,
    ):
        assert secret not in unscoped, secret
    for secret in ("tenant_qx7", "ledger-zk42", detail["id"], resource.backend_name):
        assert secret not in body, secret


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Basic czpz", 401), ("Bearer wrong-token", 403), ("Bearer s3cret-token", 200)],
)
@override_settings(RM_METRICS_TOKEN="s3cret-token", RM_METRICS_ALLOWED_NETWORKS=[])
def test_a_metrics_token_is_required_once_set(db, header, status):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}

    response = Client().get("/metrics", **headers)

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    if status != 200:
        assert b"rm_" not in response.content


def test_metrics_are_closed_in_production_until_a_token_or_networks_are_set(db, settings):
    settings.RM_METRICS_TOKEN, settings.RM_METRICS_ALLOWED_NETWORKS = "", []

    response = Client().get("/metrics")

    assert response.status_code == 403
    assert b"RM_METRICS_TOKEN or RM_METRICS_ALLOWED_NETWORKS" in response.content
    assert b"rm_" not in response.content
    settings.DEBUG = True
    assert Client().get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("address", "header", "status"),
    [("10.1.2.3", None, 200), ("fd00::7", None, 200), ("203.0.113.9", None, 401),
     ("203.0.113.9", "Bearer s3cret-token", 200), ("203.0.113.9", "Bearer wrong", 403)],
)
@override_settings(RM_METRICS_TOKEN="s3cret-token",
                   RM_METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "fd00::/8"])
def test_scrapers_from_allowed_networks_need_no_token(db, address, header, status):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}

    response = Client(REMOTE_ADDR=address).get("/metrics", **headers)

    assert response.status_code == status


@override_settings(RM_METRICS_TOKEN="", RM_METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"])
def test_networks_alone_refuse_every_other_address(db):
    assert Client(REMOTE_ADDR="10.0.0.1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="192.0.2.1").get("/metrics")
    assert refused.status_code == 403
    assert b"rm_" not in refused.content


def test_metrics_refuse_writes(db):
    assert Client().post("/metrics").status_code == 405


# --- several processes ----------------------------------------------------------------

WEB_PROCESS = """
import sys

import django

django.setup()
from django.test import Client

client = Client(HTTP_HOST="localhost")
for _ in range(int(sys.argv[1])):
    assert client.get("/healthz").status_code == 200
if "scrape" in sys.argv:
    sys.stdout.write(client.get("/metrics").content.decode())
"""


def test_web_processes_share_their_metrics_through_the_multiprocess_directory(
    transactional_db, tmp_path
):
    """Two web processes (as gunicorn workers) count requests; either one's /metrics sums
    both, and still reads the database."""
    seed_resources(seeded_provider(), ready=1)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": app_database_url(),
        "REDIS_URL": "",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", WEB_PROCESS, *args], env=env, capture_output=True,
            text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("3")
    body = run("2", "scrape")

    found = samples(body)
    assert value(
        found, "rm_http_requests_total", method="GET", view="health-live", status="2xx"
    ) == 5
    assert value(found, "rm_resources", provider="pg-seed", type="sql", status="ready") == 1
    assert value(found, "rm_metrics_database_up") == 1
    assert len({path.name.rsplit("_", 1)[-1] for path in directory.glob("*.db")}) == 2


@dataclass
class MetricsWorker:
    worker: Worker
    port: int
    directory: Path

    def scrape(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()


@pytest.fixture
def metrics_worker(request, transactional_db, broker, tmp_path) -> Iterator[MetricsWorker]:
    """A prefork worker (two children) serving its metrics, multiprocess mode on."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    env = worker_env(
        REDIS_URL, RM_WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(directory)
    )
    worker = Worker(tmp_path / "worker.log", env, pool="prefork", concurrency=2)
    failures_before = request.session.testsfailed
    try:
        worker.start()
        yield MetricsWorker(worker, port, directory)
    finally:
        worker.stop()
        if request.session.testsfailed > failures_before:
            show("celery worker output", worker.output(), request.config)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.worker
def test_a_prefork_worker_serves_task_and_operation_metrics(
    make_client, pg_provider, metrics_worker
):
    """Tasks run in prefork children; the main process serves what they wrote."""
    down_provider()
    client = make_client(team_a="RESOURCE_ADMIN")
    ok = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    lost = client.post(TEAM_A, {"provider": "pg-down", "name": "lost"}, format="json").json()
    wait_for_status(ok["id"], "ready", metrics_worker.worker)
    wait_for_status(lost["id"], "error", metrics_worker.worker)

    # pg: one success; pg-down: a retry, then the last attempt records the error.
    wanted = {
        ("rm_provider_operations_total", "pg", "success"): 1,
        ("rm_provider_operations_total", "pg-down", "retry"): 1,
        ("rm_provider_operations_total", "pg-down", "failure"): 1,
        ("rm_task_duration_seconds_count", "providers.run_resource_operation", "success"): 2,
        ("rm_task_duration_seconds_count", "providers.run_resource_operation", "retry"): 1,
    }

    def measured(found: Samples) -> dict[tuple[str, str, str], float]:
        return {
            (name, label, outcome): (
                value(found, name, provider_class="postgresql", provider=label,
                      operation="create", outcome=outcome)
                if name.startswith("rm_provider")
                else value(found, name, task=label, outcome=outcome)
            )
            for name, label, outcome in wanted
        }

    def events_delivered(found: Samples) -> float:
        return value(
            found, "rm_task_duration_seconds_count",
            task="resourcemanager.deliver_event", outcome="success",
        )

    # A task is measured just after its outcome commits; the event task runs after that.
    deadline = time.monotonic() + 15
    while True:
        found = samples(body := metrics_worker.scrape())
        if measured(found) == wanted and events_delivered(found) >= 1:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert measured(found) == wanted, body
    assert events_delivered(found) >= 1, body
    assert "rm_resources" not in body  # database gauges: only the web's /metrics
    writers = {path.stem.rsplit("_", 1)[-1] for path in metrics_worker.directory.glob("*.db")}
    assert writers and str(metrics_worker.worker.process.pid) not in writers  # children wrote


def test_gunicorn_marks_exited_workers_dead(tmp_path, monkeypatch):
    """config/gunicorn.py removes an exited worker's live-gauge files (and only those)."""
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf = runpy.run_path(str(Path(__file__).parents[2] / "config" / "gunicorn.py"))

    conf["child_exit"](None, type("GunicornWorker", (), {"pid": 4242})())

    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db"]
