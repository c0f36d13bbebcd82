"""BACKUP of a PostgreSQL database against ``pg_dump -Fc | gzip`` to the same store,
RESTORE, and CLONE against ``pg_dump -Fc | pg_restore``.

Usage: .venv/bin/python bench/backup.py [--size-mb 200] [--repeat 2]

Real: a throwaway scram-sha-256 cluster of this run (bench/scram.py) managed by its
least-privilege admin, a throwaway app database on the local PostgreSQL
(``RM_BENCH_POSTGRESQL_URL``), and a moto S3 server of this run in a process of its own
(so that the objects it keeps in memory do not count in this process's RSS) as the backup
store. Tasks run in-process: a request's backup is timed end to end.

The resource is filled with ``--size-mb`` of table data (rows of random hex text, which
compresses about 2:1, as much real data does). Then, ``--repeat`` times each, the best
time is kept of:

- BACKUP through the service: ``pg_dump --format=custom`` as the owner, sealed (AES-GCM in
  1 MiB frames, the dump's own compression kept) and uploaded by multipart as it streams;
- the baseline: ``pg_dump -Fc | gzip`` into boto3's ``upload_fileobj`` to the same bucket,
  in a process of its own.

Printed: both times and throughputs (MB of table data a second), ``ratio R`` (the
service's throughput over the baseline's; goal ≥ 0.8), the RESTORE time (the table dropped,
restored, its rows counted), and the peak RSS of this process through the backups
(``ru_maxrss``, goal ≤ 200 MB; the baseline does not run in it). The issue's figure is
1 GB: ``--size-mb 1024``.

Then, once each, CLONE of the resource through the HTTP API (``POST
/api/c/<scope>/resources/<id>/clone`` with a RESOURCE_ADMIN's personal API token, handled
in-process by Django's test client, the clone then polled until it is completed: the new
resource made and the data copied) against the raw pipe (a fresh database made by the
instance's admin, ``pg_dump -Fc`` as the owner piped into ``pg_restore --no-owner
--no-privileges --single-transaction`` as the admin), both checked to hold every row.
Printed: ``clone S s (raw pipe R s, ratio X)``, X the raw time over the clone's (as R
above: 1 or more, the clone is as fast or faster). The copy (through the service) and the
raw database are dropped after.

Everything made on either server carries a prefix of this run's own and is dropped at the
end, whatever happened; the run fails if anything is left.
"""

from __future__ import annotations

import argparse
import os
import resource as rusage
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402
from bench.scram import (  # noqa: E402
    admin_connect,
    login,
    setup_app,
    superuser_url,
    throwaway_cluster,
)
from tests.support.pgcluster import ScramCluster  # noqa: E402

PREFIX = run_prefix()
SCOPE = "bench"
BUCKET = "rm-bench-backups"
KEY, SECRET = "bench", "bench-secret"
#: The clone's name, and the most seconds it may take before the run gives up.
COPY, CLONE_TIMEOUT = "orders-copy", 3600
#: The baseline: the same dump, gzip'd, streamed into boto3's managed upload.
BASELINE = """
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="bench",
                  aws_secret_access_key="bench-secret", region_name="us-east-1")
s3.upload_fileobj(sys.stdin.buffer, sys.argv[2], sys.argv[3])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="table data to back up")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--app-url", default=os.environ.get(
        "RM_BENCH_POSTGRESQL_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, moto_server() as endpoint, \
            dropped_afterwards(args.app_url, PREFIX), throwaway_cluster() as cluster, \
            dropped_afterwards(superuser_url(cluster), PREFIX):
        host_port = endpoint.removeprefix("http://")
        os.environ["RM_BACKUP_STORE_URL"] = (
            f"s3://{KEY}:{SECRET}@{host_port}/{BUCKET}/service?secure=false")
        s3().create_bucket(Bucket=BUCKET)
        setup_app(args.app_url, cluster, data_dir, PREFIX)
        run(args, cluster, endpoint)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a process of its own on a free port; its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",  # noqa: S603
                                "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ["RM_BENCH_S3_ENDPOINT"] = endpoint
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3():
    return boto3.client("s3", endpoint_url=os.environ["RM_BENCH_S3_ENDPOINT"],
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        region_name="us-east-1")


def run(args: argparse.Namespace, cluster: ScramCluster, endpoint: str) -> None:
    from django.db import connections

    from providers.services import sync_declared_providers
    from resourcemanager.backups import services as backups
    from resourcemanager.identity.roles import Principal, Role
    from resourcemanager.resources import services
    from resourcemanager.resources.models import Resource

    (provider,) = sync_declared_providers()
    principal = Principal(name="bench", roles={SCOPE: frozenset({Role.RESOURCE_ADMIN})})
    request = services.prepare_resource(principal, SCOPE, provider=provider.key, name="orders")
    resource = services.create_resource(principal, request)
    resource.refresh_from_db()
    if resource.status != resource.Status.READY:
        sys.exit(f"the resource ended {resource.status}: {resource.status_message}")
    try:
        table_bytes = fill(resource.credentials, args.size_mb)
        mb = table_bytes / 1e6
        print(f"PostgreSQL {cluster.host}:{cluster.port} (scram-sha-256), resource "
              f"{resource.backend_name}: {mb:.0f} MB of table data; store: moto S3 at "
              f"{endpoint}; tasks in-process")
        rss_before = peak_rss_mb()
        ours, baseline, made = [], [], None
        for _ in range(args.repeat):
            started = time.monotonic()
            made = backups.request_backup(principal, resource)
            ours.append(time.monotonic() - started)
            made.refresh_from_db()
            if made.status != "completed":
                sys.exit(f"the backup ended {made.status}: {made.status_message}")
            baseline.append(raw_dump(resource.credentials, cluster, endpoint))
        rss_peak = peak_rss_mb()
        best, base = min(ours), min(baseline)
        print(f"\nBACKUP (best of {args.repeat}): {best:.1f} s, {mb / best:.1f} MB/s; "
              f"stored {made.size / 1e6:.1f} MB (dump {made.dump_size / 1e6:.1f} MB)")
        print(f"pg_dump -Fc | gzip → upload_fileobj (best of {args.repeat}): {base:.1f} s, "
              f"{mb / base:.1f} MB/s")
        print(f"ratio R {base / best:.2f} (goal >= 0.8)")
        print(f"peak RSS of this process through the backups {rss_peak:.0f} MB "
              f"(before them {rss_before:.0f} MB; goal <= 200 MB)")
        print(f"RESTORE: {restore_time(principal, resource, made):.1f} s")
        cloned, raw = clone_time(resource), raw_copy(resource.credentials, cluster)
        print(f"clone {cloned:.1f} s (raw pipe {raw:.1f} s, ratio {raw / cloned:.2f})")
    finally:
        for each in Resource.objects.filter(scope=SCOPE).live():  # the source and its copy
            services.delete_resource(principal, each)
        empty_bucket()
        connections.close_all()


def fill(credentials: dict[str, Any], size_mb: int) -> int:
    """Rows of random hex text up to ``size_mb`` of table data; its size in bytes."""
    rows = size_mb * 1024 * 1024 // 148  # about 148 bytes a row on disk
    with login(credentials, timeout=30) as conn:
        conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, a text, b text, c text)")
        for start in range(0, rows, 200_000):
            conn.execute("INSERT INTO ledger SELECT n, md5(random()::text), md5(random()::text),"
                         " md5(random()::text) FROM generate_series(%s::bigint, %s) n",
                         (start + 1, min(start + 200_000, rows)))
        conn.execute("VACUUM ANALYZE ledger")
        return conn.execute("SELECT pg_table_size('ledger')").fetchone()[0]


def owner_dump(credentials: dict[str, Any], cluster: ScramCluster) -> subprocess.Popen:
    """``pg_dump -Fc`` of the resource as its owner, to be read from its ``stdout``."""
    env = {"PATH": os.environ["PATH"], "PGPASSWORD": credentials["password"]}
    return subprocess.Popen(["pg_dump", "-Fc", f"--host={cluster.host}",  # noqa: S603, S607
                             f"--port={cluster.port}", f"--username={credentials['username']}",
                             f"--dbname={credentials['database']}"],
                            stdout=subprocess.PIPE, env=env)


def raw_dump(credentials: dict[str, Any], cluster: ScramCluster, endpoint: str) -> float:
    """Seconds of ``pg_dump -Fc | gzip`` streamed into ``upload_fileobj``."""
    started = time.monotonic()
    dump = owner_dump(credentials, cluster)
    gzip = subprocess.Popen(["gzip", "-c"], stdin=dump.stdout,  # noqa: S607
                            stdout=subprocess.PIPE)
    dump.stdout.close()
    upload = subprocess.run([sys.executable, "-c", BASELINE, endpoint, BUCKET,  # noqa: S603
                             "baseline.dump.gz"], stdin=gzip.stdout, check=True)
    gzip.stdout.close()
    if dump.wait() or gzip.wait() or upload.returncode:
        sys.exit("the baseline dump failed")
    return time.monotonic() - started


def restore_time(principal: Any, resource: Any, backup: Any) -> float:
    from resourcemanager.backups import services as backups

    with login(resource.credentials) as conn:
        rows = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
        conn.execute("DROP TABLE ledger")
    started = time.monotonic()
    restore = backups.request_restore(principal, resource, backup=str(backup.pk),
                                      confirm=resource.name)
    elapsed = time.monotonic() - started
    restore.refresh_from_db()
    if restore.status != "completed":
        sys.exit(f"the restore ended {restore.status}: {restore.status_message}")
    with login(resource.credentials) as conn:
        if conn.execute("SELECT count(*) FROM ledger").fetchone()[0] != rows:
            sys.exit("the restored table lacks rows")
    return elapsed


def clone_time(resource: Any) -> float:
    """Seconds from ``POST …/clone`` through the HTTP API until the clone is completed; the
    copy is checked to hold the source's rows."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from resourcemanager.identity.models import ScopeRole
    from resourcemanager.identity.roles import Role
    from resourcemanager.identity.tokens import issue_token
    from resourcemanager.resources.models import Resource

    warnings.filterwarnings("ignore", "No directory at")  # whitenoise: no collectstatic
    user = get_user_model().objects.create_user("bench-api")
    ScopeRole.objects.create(user=user, scope=SCOPE, role=Role.RESOURCE_ADMIN)
    _, token = issue_token(user, "bench", expires_in_days=1)
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
    resources = f"/api/c/{SCOPE}/resources"
    started = time.monotonic()
    answer = client.post(f"{resources}/{resource.pk}/clone", {"name": COPY},
                         content_type="application/json")
    if answer.status_code != 202:
        sys.exit(f"the clone was refused: {answer.status_code} {answer.content[:300]!r}")
    run = answer.json()
    while run["status"] not in ("completed", "failed"):
        if time.monotonic() - started > CLONE_TIMEOUT:
            sys.exit(f"the clone is still {run['status']} after {CLONE_TIMEOUT} s")
        time.sleep(0.1)
        run = client.get(f"{resources}/{run['resource']}/clones/{run['id']}").json()
    elapsed = time.monotonic() - started
    if run["status"] != "completed":
        sys.exit(f"the clone ended {run['status']}: {run['status_message']}")
    copy = Resource.objects.get(pk=run["resource"])
    require_same_rows(resource.credentials, copy.credentials)
    return elapsed


def raw_copy(credentials: dict[str, Any], cluster: ScramCluster) -> float:
    """Seconds of the raw copy into a fresh database of the instance's admin (its making
    counted, as the clone's new resource is), which is dropped after."""
    database = f"{PREFIX}rawcopy"
    admin = {"host": cluster.host, "port": cluster.port, "username": cluster.admin_user,
             "password": cluster.admin_password, "database": database}
    started = time.monotonic()
    with admin_connect(cluster) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        dump = owner_dump(credentials, cluster)
        restore = subprocess.Popen(  # noqa: S603
            ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction",  # noqa: S607
             f"--host={cluster.host}", f"--port={cluster.port}",
             f"--username={cluster.admin_user}", f"--dbname={database}"],
            stdin=dump.stdout, env={"PATH": os.environ["PATH"],
                                    "PGPASSWORD": cluster.admin_password})
        dump.stdout.close()
        if dump.wait() or restore.wait():
            sys.exit("the raw copy failed")
        elapsed = time.monotonic() - started
        require_same_rows(credentials, admin)
        return elapsed
    finally:
        with admin_connect(cluster) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                sql.Identifier(database)))


def require_same_rows(source: dict[str, Any], copy: dict[str, Any]) -> None:
    with login(source) as conn:
        rows = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
    with login(copy) as conn:
        if conn.execute("SELECT count(*) FROM ledger").fetchone()[0] != rows:
            sys.exit(f"the copy in {copy['database']} lacks rows")


def peak_rss_mb() -> float:
    return rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss / 1024


def empty_bucket() -> None:
    client = s3()
    for each in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=each["Key"])


if __name__ == "__main__":
    main()
