"""An existing installation upgrades with ``manage.py migrate`` and loses nothing.

A database at the schema of an earlier version, with data in every table that matters,
is migrated by the current code, which then reads everything back: encrypted
credentials, tokens, memberships, outbox rows, consumers and their deliveries, audit.
Run on the embedded default (SQLite) and on PostgreSQL, in a process of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from psycopg import sql

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, pg_admin_connect
from tests.support import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'earlier.sqlite3'}"
        return
    name = f"rm_upgrade_{secrets.token_hex(4)}"
    with pg_admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (f"postgres://{quote(PG_USER)}:{quote(PG_PASSWORD)}@{PG_HOST}:{PG_PORT}/{name}")
    finally:
        with pg_admin_connect() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.mark.parametrize("starting_point", sorted(upgrade.STARTING_POINTS))
def test_an_earlier_version_s_data_survives_migrate(
    starting_point: str, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "RM_DATA_DIR": str(tmp_path),
        "REDIS_URL": "",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.upgrade", starting_point],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])

    assert found["resource"] == ["orders", "ready", ["prod"], upgrade.CREDENTIALS]
    assert found["lease"] == ["", 0, None]  # the new columns, at their defaults
    assert found["provider_password"] == upgrade.PROVIDER_PASSWORD
    assert found["token_user"] == "alice"
    assert found["visible_to_alice"] == ["orders"]
    assert found["outbox"] == [["resource.created", None]]
    assert found["consumer_secret"] == "hook-s3cret"
    # Coming from before consumers had logins of their own, a webhook that sent the
    # owner's credentials keeps that power; everything else reads only.
    assert found["credential_access"] == {
        "hook": "read-only", "sender": "owner" if starting_point == "earlier" else "read-only"}
    assert found["deliveries"] == [["resource.created", "pending"]]
    assert found["audit"] == [["resource.create", str(upgrade.RESOURCE_ID)]]
    # The resource's login became its owner's credential, listed and rotated like others.
    assert found["credentials"] == ([[
        "resource:owner", "owner", "rt_team_a_orders", "active", upgrade.CREDENTIALS]]
        if starting_point == "earlier" else [])
    # rotate_encryption_keys moved every value under its scope's data key, losing none.
    assert found["moved"] == {"legacy_left": 0, "same": True}
