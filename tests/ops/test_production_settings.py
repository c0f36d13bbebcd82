"""Production settings: the documented environment passes ``check --deploy``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings

PRODUCTION_ENV = Path(settings.BASE_DIR) / "docs" / "production.env"


def documented_environment(tmp_path: Path) -> dict[str, str]:
    """docs/production.env with its placeholders filled, on top of a clean environment."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RM_", "DJANGO_", "SECURE_", "SESSION_", "CSRF_"))}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        RM_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",  # check --deploy needs no server
        DJANGO_SETTINGS_MODULE="config.settings",
        RM_DATA_DIR=str(tmp_path),
    )
    return env


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120,
    )


def test_documented_production_environment_passes_check_deploy(tmp_path):
    result = run_manage(documented_environment(tmp_path), "check", "--deploy",
                        "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_placeholders_left_in_the_documented_file_are_only_secrets_and_hosts():
    placeholders = {line.partition("=")[0] for line in PRODUCTION_ENV.read_text().splitlines()
                    if "<" in line and not line.startswith("#")}
    assert placeholders == {"SECRET_KEY", "RM_ENCRYPTION_KEYS", "DATABASE_URL"}


def test_without_secrets_production_refuses_to_start(tmp_path):
    env = documented_environment(tmp_path)
    del env["SECRET_KEY"]

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_an_unknown_log_format_is_refused(tmp_path):
    result = run_manage({**documented_environment(tmp_path), "LOG_FORMAT": "xml"}, "check")

    assert result.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json'" in result.stderr


def test_a_malformed_metrics_network_is_refused_at_start(tmp_path):
    env = {**documented_environment(tmp_path), "RM_METRICS_ALLOWED_NETWORKS": "10.0.0.0/33"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "RM_METRICS_ALLOWED_NETWORKS: '10.0.0.0/33' is not a network" in result.stderr


def test_a_malformed_consumer_network_is_refused_at_start(tmp_path):
    env = {**documented_environment(tmp_path), "RM_CONSUMER_BLOCKED_NETWORKS": "10.0.0.0/8,nope"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "'nope' is not a network" in result.stderr
