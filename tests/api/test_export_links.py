"""Export links: a short-lived URL downloads a backup's dump without credentials, for
as long as it is valid and its backup exists, and nobody else can make or bend one."""

from __future__ import annotations

import logging
import subprocess
import time
import uuid

from django.core import signing
from rest_framework.test import APIClient

from audit.models import AuditEntry
from resourcemanager.backups import export_links
from resourcemanager.backups.models import Backup
from tests.api.test_backup_transfers import downloaded
from tests.api.test_backups import completed_backup
from tests.api.test_credentials import TEAM_A, TEAM_B, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


class Written(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def ask_link(client, resource: dict, body: dict | None = None, scope_path: str = TEAM_A):
    return client.post(f"{scope_path}/{resource['id']}/export", body or {}, format="json")


def test_a_link_downloads_the_dump_without_credentials_and_is_audited(
    make_client, scram_provider, bucket, tmp_path, settings
):
    settings.RM_ACCESS_LOG = True
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE parcels AS SELECT n AS id FROM generate_series(1, 50) n")
    backup = completed_backup(client, resource)

    answer = ask_link(client, resource)
    assert answer.status_code == 201, answer.json()
    link = answer.json()
    assert link["backup"] == backup["id"]
    assert link["url"].startswith("http://testserver/api/exports/?token=")

    access_log, written = logging.getLogger("resourcemanager.access"), Written()
    access_log.addHandler(written)
    try:
        download = APIClient().get(link["url"])
        dump = downloaded(download)
    finally:
        access_log.removeHandler(written)
    assert download["X-Backup-Id"] == backup["id"]
    token = link["url"].split("token=", 1)[1]
    assert [line.split()[:2] for line in written.lines] == [["GET", "/api/exports/"]]
    assert token not in str(written.lines)
    (tmp_path / "parcels.dump").write_bytes(dump)
    toc = subprocess.run(["pg_restore", "--list", str(tmp_path / "parcels.dump")],
                         capture_output=True, check=True, text=True).stdout
    assert "TABLE public parcels" in toc
    assert downloaded(APIClient().get(link["url"])) == dump  # again, while valid

    made, used = (AuditEntry.objects.filter(action=action, target_id=resource["id"])
                  for action in ("resource.export_link", "resource.export"))
    assert made.get().actor == client.user.username
    assert [entry.actor for entry in used] == [f"{client.user.username} (export link)"] * 2
    assert all(token not in entry.message for entry in AuditEntry.objects.all())


def test_an_expired_forged_or_orphaned_link_downloads_nothing(
    make_client, scram_provider, bucket, monkeypatch
):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "pg-scram")
    older = completed_backup(client, resource)
    newer = completed_backup(client, resource)
    url = ask_link(client, resource, {"backup": older["id"]}).json()["url"]
    anonymous = APIClient()

    longest = signing.dumps({"scope": "team-a", "resource": resource["id"],
                             "backup": newer["id"], "by": "u" * 150}, salt=export_links._SALT)
    assert anonymous.get(f"/api/exports/?token={longest}").status_code == 200
    assert AuditEntry.objects.filter(actor="u" * 136 + " (export link)").exists()
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert anonymous.get(forged).status_code == 404
    assert anonymous.get("/api/exports/").json()["code"] == "not_found"
    assert anonymous.get("/api/exports/?token=" + "x" * 5000).status_code == 404
    assert anonymous.post(url).status_code == 405

    later = time.time() + 301
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    expired = anonymous.get(url)
    assert expired.status_code == 410
    assert "expired" in expired.json()["message"]
    monkeypatch.undo()

    Backup.objects.filter(pk=older["id"]).delete()
    assert anonymous.get(url).status_code == 404
    still = ask_link(client, resource).json()
    assert still["backup"] == newer["id"]
    assert client.delete(f"{TEAM_A}/{resource['id']}").status_code in (202, 204)
    assert anonymous.get(still["url"]).status_code == 404


def test_only_resource_admins_of_the_scope_make_links(make_client, scram_provider, bucket):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    backup = completed_backup(admin, resource)

    for role in ("USER", "CONSUMER_ADMIN"):
        assert ask_link(make_client(team_a=role), resource).status_code == 403
    stranger = make_client(team_b="ADMIN")
    assert ask_link(stranger, resource, scope_path=TEAM_B).status_code == 404
    assert ask_link(stranger, resource).status_code == 403
    assert ask_link(APIClient(), resource).status_code == 401
    unknown = ask_link(admin, resource, {"backup": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["fields"].keys() == {"backup"}
    assert ask_link(admin, resource, {"backup": "not-an-id"}).status_code == 400
    assert ask_link(admin, resource, {"backup": backup["id"], "ttl": 9}).status_code == 400
    assert not AuditEntry.objects.filter(action="resource.export_link").exists()
