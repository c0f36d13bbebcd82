"""Backups when the backup store fails (unreachable before the run, or gone mid-upload),
retried as transient backend failures are, and restores refused with the resource
untouched, on the real servers: the scram PostgreSQL cluster, MariaDB, moto S3."""

from __future__ import annotations

import base64
import socket
import threading
from contextlib import suppress
from urllib.parse import urlsplit

import pytest

from audit.models import AuditEntry
from resourcemanager.backups import runs
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.backups.sealing import new_data_key
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import RetryLater
from tests.api.test_backup_schedules import unreachable
from tests.api.test_backups import back_up, completed_backup, mysql_login, restore
from tests.api.test_credentials import TEAM_A, TEAM_B, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

UNREACHABLE = "the backup store could not be reached"


def test_a_store_down_before_the_run_fails_the_backup_clearly(
    make_client, scram_provider, bucket, settings
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    settings.RM_BACKUP_STORE_URL = unreachable(settings.RM_BACKUP_STORE_URL)

    answer = back_up(client, resource)

    assert answer.status_code == 202
    assert answer.json()["status"] == "failed"
    assert answer.json()["status_message"].startswith(UNREACHABLE)
    assert bucket.keys() == [] and bucket.unfinished_uploads() == []
    listed = client.get(f"{TEAM_A}/{resource['id']}/backups").json()["results"]
    assert [each["status"] for each in listed] == ["failed"]
    assert AuditEntry.objects.filter(action="resource.backup", outcome="failure").exists()
    assert Resource.objects.get().status == Resource.Status.READY


def pending_backup(resource: Resource) -> Backup:
    backup = Backup(scope=resource.scope, resource=resource, created_by="tester",
                    format=resource.provider.adapter_class.dump_format, compressed=False,
                    data_key=base64.b64encode(new_data_key()).decode())
    backup.object_key = f"tenants/{resource.scope}/{resource.pk}/{backup.pk}.rmbackup"
    backup.save()
    return backup


def test_an_unreachable_store_is_retried_until_the_retries_run_out(
    make_client, scram_provider, bucket, settings
):
    client = make_client(team_a="RESOURCE_ADMIN")
    ready_resource(client, "pg-scram")
    resource = Resource.objects.get()
    working = settings.RM_BACKUP_STORE_URL
    settings.RM_BACKUP_STORE_URL = unreachable(working)
    settings.RM_TASK_MAX_RETRIES = 1
    first, second = pending_backup(resource), None

    with pytest.raises(RetryLater):
        runs.run_data_operation(str(resource.pk), str(first.pk), "backup", actor="tester",
                                last_attempt=False)

    first.refresh_from_db()
    assert first.status == RunStatus.PENDING
    assert first.status_message.startswith(f"retrying: {UNREACHABLE}")
    leased = Resource.objects.get()
    assert (leased.lease_id, leased.operation, leased.attempts) == (None, "backup", 1)
    settings.RM_BACKUP_STORE_URL = working
    runs.run_data_operation(str(resource.pk), str(first.pk), "backup", actor="tester",
                            last_attempt=False)
    first.refresh_from_db()
    assert first.status == RunStatus.COMPLETED and bucket.keys() == [first.object_key]

    settings.RM_BACKUP_STORE_URL = unreachable(working)
    second = pending_backup(resource)
    with pytest.raises(RetryLater):
        runs.run_data_operation(str(resource.pk), str(second.pk), "backup", actor="tester",
                                last_attempt=False)
    runs.run_data_operation(str(resource.pk), str(second.pk), "backup", actor="tester",
                            last_attempt=False)  # the second retry is past the limit
    second.refresh_from_db()
    assert second.status == RunStatus.FAILED
    assert second.status_message.startswith(UNREACHABLE)
    assert bucket.keys() == [first.object_key]


class CuttingProxy:
    """A TCP relay to the store that stops relaying, and refuses new connections, once
    ``limit`` bytes went upstream: the store is gone in the middle of an upload."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.target, self.limit, self.sent = (host, port), limit, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for source, sink, counted in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(source, sink, counted),
                                 daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if counted:
                    self.sent += len(data)
                    if self.sent > self.limit:
                        self.cut()
                        return
                sink.sendall(data)

    def cut(self) -> None:
        self.listener.close()
        for each in self.open:
            with suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()


def test_a_store_gone_mid_upload_leaves_no_completed_backup(
    make_client, scram_provider, bucket, settings
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:  # about 13 MB that do not compress
        conn.execute("CREATE TABLE blobs AS SELECT decode(md5(random()::text) || "
                     "md5(random()::text), 'hex') AS b FROM generate_series(1, 400000)")
    store = urlsplit(settings.RM_BACKUP_STORE_URL)
    proxy = CuttingProxy(store.hostname, store.port, limit=6 * 1024 * 1024)
    settings.RM_BACKUP_STORE_URL = settings.RM_BACKUP_STORE_URL.replace(
        f"{store.hostname}:{store.port}", f"127.0.0.1:{proxy.port}")
    settings.RM_BACKUP_PART_SIZE = 5 * 1024 * 1024
    try:
        answer = back_up(client, resource)
    finally:
        proxy.cut()

    assert proxy.sent > 5 * 1024 * 1024  # the upload was under way
    assert answer.json()["status"] == "failed", answer.json()
    assert "the backup store" in answer.json()["status_message"]
    assert bucket.keys() == []
    assert not Backup.objects.filter(status=RunStatus.COMPLETED).exists()


def test_a_backup_of_another_scope_is_not_restored_and_the_data_stays(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN", team_b="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 1 AS id")
    created = client.post(TEAM_B, {"provider": "pg-scram", "name": "orders"}, format="json")
    foreign = completed_backup_in(client, created.json(), TEAM_B)

    answer = restore(client, resource, foreign)

    assert answer.status_code == 404
    with pg_login(resource["credentials"]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    assert not Resource.objects.get(pk=resource["id"]).restores.exists()


def completed_backup_in(client, resource: dict, scope_path: str) -> dict:
    answer = back_up(client, resource, scope_path)
    assert answer.json()["status"] == "completed", answer.json()
    return answer.json()


def test_a_damaged_mysql_backup_is_refused_and_the_data_left_alone(
    make_client, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO orders VALUES (1)")
    backup = completed_backup(client, resource)
    key = Backup.objects.get().object_key
    sealed = bytearray(bucket.read(key))
    sealed[-20] ^= 0x01
    bucket.write(key, bytes(sealed))
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (2)")

    answer = restore(client, resource, backup)

    assert answer.json()["status"] == "failed"
    assert "checksum" in answer.json()["status_message"]
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM orders ORDER BY id")
        assert cur.fetchall() == ((1,), (2,))


def test_an_unexpected_error_fails_the_run_and_the_next_backup_runs(
    make_client, scram_provider, bucket, monkeypatch: pytest.MonkeyPatch
):
    """A bug in a run (here: sealing raising what nothing expects) must not leave the
    backup under way for ever, answering every later request of one."""
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    seal = runs.seal

    def broken(*args, **kwargs):
        raise RuntimeError("a detail for no one's eyes")

    monkeypatch.setattr(runs, "seal", broken)
    first = back_up(client, resource).json()

    assert first["status"] == "failed"
    assert first["status_message"] == "unexpected RuntimeError in the backup run"
    monkeypatch.setattr(runs, "seal", seal)
    second = back_up(client, resource).json()
    assert second["id"] != first["id"]
    assert bucket.unfinished_uploads() == []
