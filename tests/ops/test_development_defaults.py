"""What DEBUG (the quick start) eases for a developer, and production keeps closed:
consumer requests to this machine. Each case is a fresh process with ``config.settings``,
as the quick start and a production server start."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from tests.ops.test_production_settings import documented_environment
from tests.ops.test_quickstart_smoke import quickstart_env

PROBE = (
    "from consumers.builders.destinations import blocking_network; "
    "print(blocking_network('127.0.0.1'), blocking_network('::1'), "
    "blocking_network('169.254.169.254'))"
)
WARNING = "consumer requests (webhooks, tools) may reach this machine"


def shell(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PROBE], cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=120,
    )


def test_in_debug_loopback_is_reachable_with_a_warning_at_start(tmp_path):
    result = shell(quickstart_env(tmp_path / "data"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "169.254.0.0/16"]
    assert WARNING in result.stderr
    assert "127.0.0.0/8, ::1/128 in RM_CONSUMER_ALLOWED_NETWORKS" in result.stderr


def test_in_debug_the_setting_still_decides_when_set(tmp_path):
    result = shell(quickstart_env(tmp_path / "data", RM_CONSUMER_ALLOWED_NETWORKS=""))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["127.0.0.0/8", "::1/128", "169.254.0.0/16"]
    assert WARNING not in result.stderr


@pytest.mark.parametrize("allowed", [None, "10.0.0.0/8"])
def test_production_keeps_loopback_blocked(tmp_path, allowed):
    env = documented_environment(tmp_path)
    if allowed is not None:
        env["RM_CONSUMER_ALLOWED_NETWORKS"] = allowed

    result = shell(env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["127.0.0.0/8", "::1/128", "169.254.0.0/16"]
    assert WARNING not in result.stderr
