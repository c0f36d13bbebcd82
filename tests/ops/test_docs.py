"""The operations guide names every environment variable the service reads."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
OPERATIONS = ROOT / "docs" / "operations.md"
#: Read only by the tests' crash hooks (providers/adapters/checkpoints.py), never set in production.
TEST_ONLY = {"RM_FREEZE_AT", "RM_FREEZE_MARKER"}
#: The shell's own, read by the container entrypoint.
SHELL_ENVIRONMENT = {"PYTHONPATH", "TMPDIR"}
PATTERNS = [
    re.compile(r"""env\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""_secret\(\s*["']([A-Z][A-Z0-9_]+)["']"""),  # settings' secret reader
]


def variables_read_by_the_service() -> set[str]:
    names: set[str] = set()
    for package in ("config", "resourcemanager", "providers", "consumers", "audit"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for pattern in PATTERNS:
                names.update(pattern.findall(text))
    entrypoint = (ROOT / "scripts" / "container-entrypoint").read_text()
    names.update(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", entrypoint))
    # f-string families, e.g. RM_ROLE_MAPPING_<ROLE>, are documented by their prefix.
    return names - TEST_ONLY - SHELL_ENVIRONMENT


def test_the_scan_finds_variables():
    found = variables_read_by_the_service()
    assert {"DATABASE_URL", "RM_ENCRYPTION_KEYS", "RM_ADMIN_PASSWORD", "LOG_FORMAT",
            "GUNICORN_BIND"} <= found


def test_every_variable_is_in_the_configuration_reference():
    documented = OPERATIONS.read_text()
    missing = sorted(name for name in variables_read_by_the_service()
                     if f"`{name}`" not in documented)
    assert not missing, f"add to docs/operations.md: {missing}"
    assert "`RM_ROLE_MAPPING_*`" in documented
