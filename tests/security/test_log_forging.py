"""Log forging: a value a caller controls (the request path, a username) cannot write a
line of its own into the logs, in the plain format nor in JSON lines."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings

from audit.models import AuditEntry
from resourcemanager.telemetry.context import RequestIdLogFilter
from resourcemanager.telemetry.logs import JsonFormatter, PlainFormatter

FORGED = "2026-01-01 00:00:00,000 INFO resourcemanager.identity.access [0] GET admin 200 forged"
#: Line breaks in their URL encodings: newline, carriage return, NEL, line separator.
BREAKS = ["%0A", "%0D", "%C2%85", "%E2%80%A8"]


def configured_formatter(name: str) -> logging.Formatter:
    """The formatter the LOGGING setting declares, built as logging.config builds it."""
    config = dict(settings.LOGGING["formatters"][name])
    if "()" in config:
        return JsonFormatter()
    assert config.pop("class") == f"{PlainFormatter.__module__}.{PlainFormatter.__name__}"
    return PlainFormatter(config["format"])


@pytest.fixture(params=["plain", "json"])
def access_log_output(request) -> Iterator[tuple[str, io.StringIO]]:
    """What the access logger writes, in the configured plain or JSON format."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured_formatter(request.param))
    handler.addFilter(RequestIdLogFilter())
    logger = logging.getLogger("resourcemanager.access")
    logger.addHandler(handler)
    try:
        yield request.param, stream
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("line_break", BREAKS)
def test_a_line_break_in_the_path_cannot_forge_an_access_log_line(
    make_client, access_log_output, line_break
):
    log_format, stream = access_log_output
    client = make_client(team_a="USER")

    scope = f"team-a{line_break}{FORGED.replace(' ', '%20')}"

    response = client.get(f"/api/c/{scope}/resources")

    assert response.status_code == 400  # the scope is malformed, and the caller is known
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert not any(line.startswith(FORGED[:10]) for line in lines[1:])
    if log_format == "json":
        entry = json.loads(lines[0])
        assert FORGED in entry["path"]
        assert entry["user"] == client.user.username
    else:
        assert FORGED in lines[0]  # still there to read, escaped


def test_plain_lines_escape_every_control_character_yet_keep_the_traceback():
    formatter = PlainFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("tests").makeRecord(
            "tests", logging.ERROR, __file__, 1, "user %s at %s",
            ("eve\r\nINFO forged\x1b[2J", "scope\u2028x\x85"), sys.exc_info(),
        )

    text = formatter.format(record)

    first, *traceback = text.splitlines()
    assert first == "ERROR user eve\\r\\nINFO forged\\x1b[2J at scope\\u2028x\\x85"
    assert traceback[-1] == "ValueError: boom"


def test_a_nul_in_a_refused_request_s_path_is_audited_not_a_server_error(make_client):
    client = make_client(team_b="USER")

    response = client.delete("/api/c/team-a/resources/%00x")

    assert response.status_code in (403, 404), response.content
    denied = AuditEntry.objects.filter(outcome="denied").values_list("message", flat=True)
    assert any("\ufffdx" in message for message in denied)
