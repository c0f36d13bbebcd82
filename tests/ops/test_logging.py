"""Structured logs and the access log: one line per request, carrying the request id."""

from __future__ import annotations

import json
import logging

from resourcemanager.telemetry.logs import JsonFormatter


def format_record(**extra) -> dict:
    logger = logging.getLogger("tests.logging")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "hello %s",
                               ("world",), None, extra=extra)
    return json.loads(JsonFormatter().format(record))


def test_json_lines_hold_message_level_logger_and_extra_fields():
    entry = format_record(request_id="abc123", status=503)

    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "tests.logging"
    assert entry["request_id"] == "abc123"
    assert entry["status"] == 503
    assert entry["time"].endswith("+00:00")
    assert "args" not in entry and "msg" not in entry  # LogRecord internals stay out


def test_json_lines_carry_the_traceback_and_survive_odd_values():
    logger = logging.getLogger("tests.logging")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info(), extra={"thing": object()})
    entry = json.loads(JsonFormatter().format(record))

    assert "ValueError: boom" in entry["exception"]
    assert entry["thing"].startswith("<object object")


def test_every_request_is_logged_once_with_its_id_route_and_status(
    make_client, caplog, transactional_db
):
    client = make_client(team_a="USER")
    with caplog.at_level(logging.INFO, logger="resourcemanager.access"):
        response = client.get("/api/resources/?search=secret-code-in-query", HTTP_X_SCOPE="team-a")

    lines = [r for r in caplog.records if r.name == "resourcemanager.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line.request_id == response["X-Request-ID"]
    assert line.status == 200
    assert line.route == "api:resource-list"
    assert line.path == "/api/resources/"
    assert "secret-code-in-query" not in line.getMessage()
    assert line.user == client.user.username


def test_the_access_log_can_be_turned_off(client, caplog, settings):
    settings.RM_ACCESS_LOG = False
    with caplog.at_level(logging.INFO, logger="resourcemanager.access"):
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "resourcemanager.access"]


def test_django_request_objects_stay_out_of_json_lines(rf):
    entry = format_record(request=rf.get("/x?code=secret-code"), status_code=500)

    assert "request" not in entry
    assert entry["status_code"] == 500
