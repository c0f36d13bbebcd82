"""Appends from several real processes at once make one unbroken chain holding them all."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

from django.conf import settings

from audit.models import AuditEntry
from tests.support.workers import app_database_url

PROCESSES = 4
PER_PROCESS = 150  # of which every tenth is a transaction recording three entries
ENTRIES = PROCESSES * (PER_PROCESS + PER_PROCESS // 10 * 2)

APPEND = """
import sys, time
import django
django.setup()
from django.db import transaction
from audit.services import record

name, count, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))  # every process starts together
for n in range(count):
    if n % 10 == 0:  # a caller's longer transaction, its entries sealed after it commits
        with transaction.atomic():
            for part in range(3):
                record(name, "test.append", "success", scope="team-a", message=f"{n}.{part}")
            time.sleep(0.005)
    else:
        record(name, "test.append", "success", scope="team-a", message=str(n))
"""


def run_appenders(env: dict[str, str]) -> None:
    start_at = time.time() + 3
    children = [
        subprocess.Popen([sys.executable, "-c", APPEND, f"proc{n}", str(PER_PROCESS),
                          str(start_at)], env=env, cwd=settings.BASE_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for n in range(PROCESSES)
    ]
    for child in children:
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert "Error" not in output, output  # a seal that failed after its commit logs one


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=120)


def test_concurrent_processes_on_postgresql_make_one_chain(transactional_db):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": app_database_url(), "LOG_LEVEL": "WARNING"}
    run_appenders(env)

    places = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert places == list(range(1, ENTRIES + 1))  # all sealed after their commit, no gap
    actors = list(AuditEntry.objects.order_by("seq").values_list("actor", flat=True))
    switches = sum(a != b for a, b in pairwise(actors))
    assert switches > PROCESSES * 10, "the processes did not append at the same time"
    verified = manage(env, "verify_audit")
    assert verified.returncode == 0, verified.stderr
    assert f"intact: {ENTRIES} entries" in verified.stdout


def test_concurrent_processes_on_sqlite_make_one_chain(tmp_path: Path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    migrated = manage(env, "migrate", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    run_appenders(env)

    verified = manage(env, "verify_audit")

    assert verified.returncode == 0, verified.stderr
    assert f"intact: {ENTRIES} entries" in verified.stdout
    assert "newest sealed #" + str(ENTRIES) in verified.stdout

