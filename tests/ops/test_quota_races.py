"""Requests racing for a scope's last place under its quota: one gets it, on the real
PostgreSQL, with the requests committed for real by threads of their own."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.api.test_scope_quota import create


def test_requests_racing_for_the_last_place_get_it_once(make_client, memory_provider):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serializes writers anyway")
    clients = [make_client(team_a="RESOURCE_ADMIN") for _ in range(4)]
    ScopeQuota.objects.create(scope="team-a", max_resources=1)
    start, answers = threading.Barrier(len(clients)), []

    def race(client, number: int) -> None:
        start.wait()
        try:
            answers.append(create(client, f"racer{number}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(client, number))
               for number, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [201, 409, 409, 409]
    assert Resource.objects.filter(scope="team-a").count() == 1
