"""Test settings: fixed test-only secrets, otherwise exactly the production settings."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# A fixed, test-only Fernet key so encrypted rows are reproducible between runs.
os.environ.setdefault("RM_ENCRYPTION_KEYS", "8J_Vn-MwXQ4s5vZ0x2hPRiNMCK8PiTWE5d7t0gRPu2E=")

from config.settings import *  # noqa: F403

# The suite runs without collectstatic: plain storage, no manifest of hashed names.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Users' passwords hashed fast: what is tested is who may sign in, not the hash's cost.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The consumer tests deliver to local servers on the loopback interface.
RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]

# The metrics tests scrape /metrics from the test client's address.
RM_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]

# Many tests present bad bearer tokens from 127.0.0.1 within a minute; the tests of the
# limit itself set a low one.
RM_API_AUTH_FAILURE_RATE = "100000/min"

# Audit entries sealed after every commit, so that a test reads them chained at once; the
# tests of the interval itself set one.
RM_AUDIT_SEAL_INTERVAL = 0.0
