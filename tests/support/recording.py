"""An event handler for worker processes under test: one JSON line per delivery.

Enabled with ``RM_EVENT_HANDLERS=tests.support.recording.append_event`` and
``RM_TEST_EVENT_LOG=<file>``. Lines are short single writes in append mode, so lines
from several processes do not interleave.
"""

import json
import os

from resourcemanager.outbox.events import Event


def append_event(event: Event) -> None:
    line = json.dumps({"id": event.id, "name": event.name, "resource": event.resource["id"]})
    with open(os.environ["RM_TEST_EVENT_LOG"], "a", encoding="utf-8") as log:
        log.write(line + "\n")


def read_events(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]
