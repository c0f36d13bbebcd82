"""Tasks are queued by name: no publisher imports a task module, and in-process mode still
runs each task in the calling process."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from django.conf import settings

from tests.support.workers import app_database_url

TASK_MODULES = (
    "resourcemanager.outbox.tasks",
    "resourcemanager.resources.tasks",
    "resourcemanager.backups.tasks",
    "providers.tasks",
    "consumers.tasks",
)
#: Modules below the tasks in the data flow: they queue tasks, or run beneath them.
PUBLISHERS = (
    "resourcemanager.outbox.relay",
    "resourcemanager.resources.services",
    "resourcemanager.resources.operations",
    "resourcemanager.resources.credentials",
    "resourcemanager.resources.credential_runs",
    "resourcemanager.resources.sweeps",
    "resourcemanager.backups.services",
    "resourcemanager.backups.runs",
    "resourcemanager.outbox.queueing",
    "providers.services",
    "consumers.services",
    "consumers.deliveries",
    "consumers.credentials",
    "consumers.matching",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("resourcemanager", "providers", "consumers", "audit", "config")


@pytest.mark.parametrize("publisher", PUBLISHERS)
def test_no_publisher_imports_a_task_module(graph, publisher):
    """Imports inside functions count too: the graph sees every import statement."""
    chains = {task: graph.find_shortest_chain(publisher, task) for task in TASK_MODULES}
    assert chains == dict.fromkeys(TASK_MODULES)


@pytest.mark.parametrize("module", [*PUBLISHERS, *TASK_MODULES])
def test_no_import_hides_inside_a_function(module):
    """Every import of these modules shows at the top, where the graph's layering is seen."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    functions = [node for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    hidden = [
        f"{function.name}:{node.lineno}"
        for function in functions
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert hidden == []


# A fresh process that has loaded no task module queues one by name, in in-process mode.
FRESH_PROCESS = """
import json, sys
import django
django.setup()
from celery import current_app
from resourcemanager.outbox import queueing
loaded_before = sorted(m for m in sys.modules if m in {task_modules!r})
result = queueing.send(queueing.DELIVER_EVENT, {{"message_id": 0}}, {{"rm_request_id": "r"}})
print(json.dumps({{
    "eager": current_app.conf.task_always_eager,
    "loaded_before": loaded_before,
    "result": type(result).__name__,
    "state": result.state,
}}))
"""


def test_in_process_mode_loads_the_task_modules_and_runs_the_task_here(db):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": app_database_url(),
        "REDIS_URL": "",
    }
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS.format(task_modules=set(TASK_MODULES))],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome == {
        "eager": True, "loaded_before": [], "result": "EagerResult", "state": "SUCCESS"
    }
