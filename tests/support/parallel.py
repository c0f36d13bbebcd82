"""Running the suite in several processes with pytest-xdist (``pytest -n auto``).

Each worker process is a test session of its own: its own test database (pytest-django
suffixes the name), its own PostgreSQL cluster and name prefix (tests/support/leaks.py);
what remains shared is told apart here.
"""

from __future__ import annotations

import os


def worker_number() -> int:
    """0 for xdist's worker ``gw0`` and without xdist, 1 for ``gw1``, and so on."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def per_worker_redis_url(url: str) -> str:
    """``url`` with its database number moved up by the worker's number."""
    server, _, database = url.rpartition("/")
    return f"{server}/{int(database or 0) + worker_number()}"
