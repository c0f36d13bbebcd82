"""A running data operation records how far it got now and then, so that a long one is
seen moving, and its final count when it ends."""

from __future__ import annotations

import pytest

from resourcemanager.backups import progress
from resourcemanager.backups.models import Backup, Restore
from resourcemanager.resources.models import Resource


@pytest.fixture
def restore_row(pg_provider) -> Restore:
    resource = Resource.objects.create(scope="team-a", provider=pg_provider, type="sql",
                                       name="orders", backend_name="rm_progress01")
    backup = Backup.objects.create(scope="team-a", resource=resource, format="x",
                                   compressed=True, object_key="k", data_key="a2V5",
                                   created_by="tests")
    return Restore.objects.create(scope="team-a", resource=resource, backup=backup,
                                  created_by="tests")


def test_the_bytes_so_far_are_recorded_on_the_run_while_it_streams(restore_row, monkeypatch):
    monkeypatch.setattr(progress, "EVERY", 0.0)
    counter = progress.Progress(restore_row, "restored")
    seen = []

    for chunk in counter.counted([b"x" * 10, b"y" * 5, b"z"]):
        seen.append((len(chunk), Restore.objects.get(pk=restore_row.pk).restored))

    assert seen == [(10, 10), (5, 15), (1, 16)]  # recorded before each chunk goes on
    assert counter.done == 16


def test_between_records_the_row_is_left_alone(restore_row):
    counter = progress.Progress(restore_row, "restored")

    assert b"".join(counter.counted([b"a" * 4, b"b" * 4])) == b"a" * 4 + b"b" * 4

    assert counter.done == 8
    assert Restore.objects.get(pk=restore_row.pk).restored == 0  # within EVERY seconds
