"""The Dockerfile and the container entrypoint, read and checked without a container
engine: stages, a non-root user, no build tools or baked secrets in the final image, the
entrypoint, command and health check, the dependencies the builder installs, what
.dockerignore keeps out, and the entrypoint as a POSIX shell script with its variables
documented.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

from tests.ops.deployment import (
    ENTRYPOINT,
    ENTRYPOINT_IN_IMAGE,
    ROOT,
    dockerfile_instructions,
    final_stage,
)

DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def test_dockerfile_builds_in_stages_and_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    final = final_stage(instructions)
    build_args = dict(
        args.split("=", 1) for keyword, args in instructions if keyword == "ARG" and "=" in args
    )

    assert len(froms) >= 2
    assert froms[0].endswith(" AS builder")
    assert build_args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert final["FROM"] == ["${PYTHON_IMAGE}"]
    [user] = final["USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert "--uid 10001" in " ".join(final["RUN"])
    assert "COPY --from=builder /opt/venv /opt/venv" in " ".join(
        f"COPY {args}" for args in final["COPY"]
    )


def test_final_image_has_no_build_tools_and_no_baked_secrets():
    final = final_stage(dockerfile_instructions())
    env = " ".join(final["ENV"])
    runs = " ".join(final["RUN"])

    for tool in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert tool not in runs
    for secret in ("SECRET_KEY", "RM_ENCRYPTION_KEYS", "DATABASE_URL"):
        assert secret not in env
    # collectstatic's throwaway values live in its RUN only, the key generated there.
    [collect] = [run for run in final["RUN"] if "collectstatic" in run]
    assert "manage.py collectstatic --noinput" in collect
    assert "Fernet.generate_key()" in collect


def test_dockerfile_entrypoint_cmd_and_healthcheck():
    final = final_stage(dockerfile_instructions())

    assert json.loads(final["ENTRYPOINT"][-1]) == [ENTRYPOINT_IN_IMAGE]
    assert json.loads(final["CMD"][-1]) == ["web"]
    assert final["WORKDIR"] == ["/app"] and "." in final["COPY"][-1].split()
    assert final["EXPOSE"] == ["8000"]
    [healthcheck] = final["HEALTHCHECK"]
    assert json.loads(healthcheck.split("CMD", 1)[1]) == [ENTRYPOINT_IN_IMAGE, "web-alive"]
    assert "/healthz" in ENTRYPOINT.read_text().split("web-alive)", 1)[1].split(";;")[0]


def test_the_builder_installs_exactly_the_project_dependencies(tmp_path):
    [run] = [args for keyword, args in dockerfile_instructions()
             if keyword == "RUN" and "requirements.txt" in args]
    one_liner = shlex.split(run.split(">", 1)[0])
    shutil.copy(ROOT / "pyproject.toml", tmp_path)

    listed = subprocess.run(
        [sys.executable, *one_liner[1:]], cwd=tmp_path, capture_output=True, text=True,
        check=True,
    ).stdout.split()

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert listed == [requirement.replace(" ", "") for requirement in declared]
    assert any(line.startswith("gunicorn") for line in listed)
    assert any(line.startswith("whitenoise") for line in listed)


def test_dockerignore_keeps_local_state_out_and_the_app_in():
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".git", ".venv", "data", "staticfiles", "**/__pycache__", "tests"} <= ignored
    for needed in ("scripts", "config", "templates", "manage.py", "pyproject.toml"):
        assert needed not in ignored


def test_entrypoint_is_an_executable_posix_shell_script():
    assert ENTRYPOINT.stat().st_mode & 0o111
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_every_variable_of_the_entrypoint_is_documented():
    script = ENTRYPOINT.read_text()
    variables = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:-]", script)) - {"PYTHONPATH", "TMPDIR"}
    documented = DEPLOY_DOC.read_text()

    assert {"RM_MIGRATE_ON_START", "GUNICORN_BIND", "CELERY_WORKER_CONCURRENCY"} <= variables
    assert sorted(name for name in variables if f"`{name}`" not in documented) == []


