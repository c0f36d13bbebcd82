"""An ``RM_EVENT_HANDLERS`` written for an earlier version still names the built-in handlers."""

from __future__ import annotations

import pytest

from consumers.deliveries import fan_out
from resourcemanager.outbox import events


@pytest.fixture
def handler_setting(settings):
    def use(paths: list[str]) -> tuple:
        settings.RM_EVENT_HANDLERS = paths
        events.handlers.cache_clear()
        return events.handlers()

    yield use
    events.handlers.cache_clear()


def test_the_handler_paths_of_an_earlier_version_still_work(handler_setting):
    found = handler_setting(["resourcemanager.events.log_event", "consumers.services.fan_out"])
    assert found == (events.log_event, fan_out)


def test_the_current_paths_and_an_own_handler_load_as_named(handler_setting):
    found = handler_setting(
        ["resourcemanager.outbox.events.log_event", "tests.support.recording.append_event"]
    )
    assert found[0] is events.log_event
    assert found[1].__module__ == "tests.support.recording"
