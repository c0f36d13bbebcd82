"""The deployment files, read and checked without a container engine or a cluster.

Compose files and the Dockerfile are parsed and cross-checked (references, image, command
words, health checks, secrets). The Helm chart is rendered for real when a ``helm`` binary
is on PATH or in the virtualenv (``scripts/install-helm`` puts one there); its templates are
also checked statically, with or without it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from providers.services import declared_providers

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "container-entrypoint"
ENTRYPOINT_IN_IMAGE = "/app/scripts/container-entrypoint"
CHART = ROOT / "charts" / "resourcemanager"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
APP_SERVICES = ("web", "worker", "beat")
#: Every development secret in the Compose files says what it is.
TRIAL_MARK = "trial"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY")


# --- Compose ------------------------------------------------------------------------------


def load_compose(*names: str) -> dict[str, Any]:
    """The files merged as ``docker compose -f a -f b`` does for the keys used here."""
    merged: dict[str, Any] = {}
    for name in names:
        _merge(merged, yaml.safe_load((ROOT / name).read_text()))
    return merged


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose("compose.yaml")


@pytest.fixture(scope="module")
def compose_oidc() -> dict[str, Any]:
    return load_compose("compose.yaml", "compose.oidc.yaml")


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    deps = service.get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def default_of(value: str) -> str:
    """``${VAR:-default}`` → ``default``: what runs when the variable is not set."""
    return re.sub(r"\$\{[A-Z_][A-Z0-9_]*:?-([^}]*)\}", r"\1", value)


def entrypoint_words() -> set[str]:
    """The command words of the entrypoint's ``case`` (each ``word)`` line)."""
    return set(re.findall(r"^ {4}([a-z][a-z-]*)\)$", ENTRYPOINT.read_text(), re.MULTILINE))


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "compose.oidc.yaml")])
def test_compose_references_name_defined_services_volumes_and_networks(files):
    project = load_compose(*files)
    services = project["services"]
    volumes = set(project.get("volumes") or {})
    networks = set(project.get("networks") or {}) | {"default"}

    for name, service in services.items():
        for dependency in depends_on(service):
            assert dependency in services, f"{name} depends on undefined {dependency}"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/", "~")):
                assert source in volumes, f"{name} mounts undefined volume {source}"
        for network in service.get("networks") or []:
            assert network in networks, f"{name} joins undefined network {network}"
        assert set(service.get("profiles") or []) <= {"oidc"}


def test_web_worker_and_beat_share_one_image_built_once(compose):
    services = compose["services"]
    image = services["web"]["image"]

    assert image == "resourcemanager:local"
    assert {services[name]["image"] for name in (*APP_SERVICES, "bootstrap")} == {image}
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["bootstrap"]
    assert services["bootstrap"]["build"] == "."


def test_app_services_wait_for_healthy_backends_and_the_bootstrap(compose):
    services = compose["services"]

    for name in APP_SERVICES:
        deps = depends_on(services[name])
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["bootstrap"]["condition"] == "service_completed_successfully", name
    assert services["bootstrap"]["restart"] == "no"
    assert depends_on(services["bootstrap"])["postgres"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck(compose_oidc):
    for name, service in compose_oidc["services"].items():
        if service.get("restart") == "no":  # one-shot
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_commands_and_checks_use_words_the_entrypoint_knows(compose):
    words = entrypoint_words()
    services = compose["services"]

    assert {"web", "worker", "beat", "migrate", "bootstrap", "manage"} <= words
    for name in (*APP_SERVICES, "bootstrap"):
        assert services[name]["command"] == [name]
        assert name in words
    for name, service in services.items():
        test = service["healthcheck"]["test"] if "healthcheck" in service else []
        if ENTRYPOINT_IN_IMAGE in test:
            assert test[test.index(ENTRYPOINT_IN_IMAGE) + 1] in words, name
    assert services["web"]["healthcheck"]["test"][-1] == "web-alive"
    assert services["worker"]["healthcheck"]["test"][-1] == "worker-alive"
    assert services["beat"]["healthcheck"]["test"][-1] == "beat-alive"


def test_the_web_command_is_the_images_default(compose):
    instructions = final_stage(dockerfile_instructions())

    assert json.loads(instructions["CMD"][-1]) == compose["services"]["web"]["command"]


def test_app_environment_is_a_trial_over_plain_http(compose):
    env = compose["services"]["web"]["environment"]

    assert env["DEBUG"] == "false"
    assert "http://localhost:8000" in env["CSRF_TRUSTED_ORIGINS"].split(",")
    assert "localhost" in env["ALLOWED_HOSTS"].split(",")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert urlsplit(env["DATABASE_URL"]).hostname == "postgres"
    assert default_of(env["RM_ADMIN_USERNAME"]) == "admin"
    assert env["SESSION_COOKIE_SECURE"] == env["CSRF_COOKIE_SECURE"] == "false"


def test_only_web_and_trial_consoles_are_published_on_localhost(compose_oidc):
    published = {
        name: service["ports"] for name, service in compose_oidc["services"].items()
        if service.get("ports")
    }

    assert published == {
        "web": ["127.0.0.1:8000:8000"],
        "oidc": ["127.0.0.1:9400:9400"],
    }


def test_provider_urls_point_at_the_backend_services_and_parse(compose, settings):
    env = compose["services"]["web"]["environment"]
    services = compose["services"]
    settings.RM_PROVIDERS = []
    for cls in ("POSTGRESQL", "MYSQL", "MONGODB", "S3"):
        setattr(settings, f"RM_PROVIDER_{cls}_URL", env[f"RM_PROVIDER_{cls}_URL"])

    declared = {item.key: item for item in declared_providers()}

    assert set(declared) == {"postgresql", "mysql", "mongodb", "s3"}
    for item in declared.values():
        assert item.host in services, f"{item.key} points at {item.host}, no such service"
    assert declared["mongodb"].options == {"auth_source": "admin"}
    assert declared["s3"].options == {"secure": "false"}
    assert declared["postgresql"].password == (
        services["pg-backend"]["environment"]["POSTGRES_PASSWORD"]
    )
    assert declared["mysql"].password == services["mariadb"]["environment"][
        "MARIADB_ROOT_PASSWORD"]
    assert declared["mongodb"].password == services["mongodb"]["environment"][
        "MONGO_INITDB_ROOT_PASSWORD"]
    assert "moto_server --host 0.0.0.0 --port 9000" in services["s3"]["command"][-1]
    assert declared["s3"].port == 9000


def compose_secrets(project: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, value) of every secret-looking value: env secrets and URL passwords."""
    for name, service in project["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = default_of(str(value))
            if SECRET_NAME.search(key) and key != "RM_ADMIN_USERNAME":
                yield f"{name}.{key}", value
            if "://" in value and urlsplit(value).password:
                yield f"{name}.{key} (URL)", urlsplit(value).password


def test_the_only_secrets_are_marked_trial_values(compose_oidc):
    found = dict(compose_secrets(compose_oidc))

    assert "web.SECRET_KEY" in found and "web.RM_ENCRYPTION_KEYS" in found
    for where, value in found.items():
        if where.endswith("RM_ENCRYPTION_KEYS"):
            try:
                value = base64.urlsafe_b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                pytest.fail(f"{where} is not a readable development key")
        assert TRIAL_MARK in value, f"{where} holds an unmarked secret"
    assert "CHANGE THEM FOR" in (ROOT / "compose.yaml").read_text()


def test_the_trial_encryption_key_is_a_fernet_key(compose):
    from cryptography.fernet import Fernet

    key = default_of(compose["services"]["web"]["environment"]["RM_ENCRYPTION_KEYS"])

    Fernet(key.encode())


def test_oidc_override_uses_the_mock_providers_routes(compose_oidc):
    from oidc_provider_mock import app as oidc_app

    routes = {rule.rule for rule in oidc_app().url_map.iter_rules()}
    env = compose_oidc["services"]["web"]["environment"]
    oidc = compose_oidc["services"]["oidc"]

    assert oidc["profiles"] == ["oidc"]
    for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS"):
        url = urlsplit(env[f"OIDC_OP_{name}_ENDPOINT"])
        assert url.path in routes, name
        # The browser asks at the published port, the web container at the service.
        assert url.hostname == ("localhost" if name == "AUTHORIZATION" else "oidc")
        assert url.port == 9400
    assert env["OIDC_OP_ISSUER"] == "http://oidc:9400"
    assert depends_on(compose_oidc["services"]["web"])["oidc"]["condition"] == "service_healthy"
    claims = [json.loads(arg) for arg in _option_values(oidc["command"][-1], "--user-claims")]
    assert {"resourcemanager/default:ROLE_ADMIN"} <= {r for c in claims for r in c["roles"]}


def _option_values(command: str, option: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, word in enumerate(words) if word == option]


# --- Dockerfile and entrypoint ------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Arguments per instruction of the last stage."""
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    stage: dict[str, list[str]] = {}
    for keyword, args in instructions[last_from:]:
        stage.setdefault(keyword, []).append(args)
    return stage


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


# --- Helm chart: static checks ------------------------------------------------------------


def templates() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((CHART / "templates").iterdir())}


def _values_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{prefix}.{key}"
            yield path
            yield from _values_paths(value, path)


FREE_FORM = (".web.affinity.", ".ingress.annotations.")


def test_chart_metadata_and_values_parse():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    example = yaml.safe_load((CHART / "ci" / "example-values.yaml").read_text())

    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == "0.1.0"
    assert values["web"]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert values["web"]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "replicas" not in values["beat"]
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert not values["ingress"]["enabled"]
    # The example sets only what values.yaml has, besides free-form Kubernetes objects.
    unknown = set(_values_paths(example)) - set(_values_paths(values))
    assert {path for path in unknown if not path.startswith(FREE_FORM)} == set()


def test_templates_only_read_values_that_exist():
    known = set(_values_paths(yaml.safe_load((CHART / "values.yaml").read_text())))
    pattern = re.compile(r"(?:\.Values|\$v)((?:\.[A-Za-z_]\w*)+)")

    for name, text in templates().items():
        for path in pattern.findall(text):
            assert path in known, f"{name} reads .Values{path}, not in values.yaml"


def test_templates_include_only_defined_helpers():
    texts = templates()
    defined = re.findall(r'{{-?\s*define\s+"([^"]+)"', texts["_helpers.tpl"])

    assert len(defined) == len(set(defined))
    for name, text in texts.items():
        for helper in re.findall(r'include\s+"([^"]+)"', text):
            assert helper in defined, f"{name} includes undefined {helper}"


def test_template_actions_are_balanced():
    openers = {"if", "range", "with", "define", "block"}
    for name, text in templates().items():
        assert text.count("{{") == text.count("}}"), name
        depth = 0
        for action in re.findall(r"{{-?\s*(.*?)\s*-?}}", text, re.DOTALL):
            if action.startswith("/*"):
                continue
            keyword = action.split(maxsplit=1)[0] if action.split() else ""
            if keyword in openers:
                depth += 1
            elif keyword == "end":
                depth -= 1
            assert depth >= 0, f"{name}: 'end' without an opener"
        assert depth == 0, f"{name}: {depth} block(s) not closed"


# --- Helm chart: rendered by helm -----------------------------------------------------------


def helm_binary() -> str | None:
    venv_helm = Path(sys.executable).with_name("helm")
    return str(venv_helm) if venv_helm.exists() else shutil.which("helm")


@pytest.fixture(scope="module")
def helm() -> str:
    binary = helm_binary()
    if binary is None:
        pytest.skip("no helm binary (scripts/install-helm installs one); static checks ran")
    return binary


MINIMAL = [
    "--set", "secretKey=inline-secret-key-value", "--set", "encryptionKeys=inline-fernet-value",
    "--set", "database.url=postgres://rm:inline-db-password@db:5432/rm",
    "--set", "redis.url=redis://redis:6379/0",
    "--set", "providers.urls.postgresql=postgresql://admin:inline-pg-password@pg:5432/postgres",
]
EXAMPLE = ["-f", str(CHART / "ci" / "example-values.yaml")]


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [helm, "template", "rm", str(CHART), *args], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: doc["spec"]["template"]["spec"]
        for kind in ("Deployment", "Job") for name, doc in by_kind(docs, kind).items()
    }


@pytest.mark.parametrize("args", [[], EXAMPLE], ids=["defaults", "example"])
def test_helm_lint(helm, args):
    result = subprocess.run(
        [helm, "lint", "--strict", str(CHART), *args], capture_output=True, text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_refuse_to_render_without_secrets(helm):
    result = subprocess.run(
        [helm, "template", "rm", str(CHART)], capture_output=True, text=True, timeout=60,
    )

    assert result.returncode != 0
    assert "set existingSecret, or secretKey and encryptionKeys" in result.stderr


@pytest.mark.parametrize("args", [MINIMAL, EXAMPLE], ids=["minimal", "example"])
def test_rendered_workloads(helm, args):
    docs = render(helm, *args)
    deployments = by_kind(docs, "Deployment")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    expected = (3, 4) if args == EXAMPLE else (values["web"]["replicas"],
                                              values["worker"]["replicas"])

    assert set(deployments) == {"rm-resourcemanager-web", "rm-resourcemanager-worker",
                                "rm-resourcemanager-beat"}
    web, worker, beat = (deployments[f"rm-resourcemanager-{n}"] for n in APP_SERVICES)
    assert (web["spec"]["replicas"], worker["spec"]["replicas"]) == expected
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    for deployment, word in ((web, "web"), (worker, "worker"), (beat, "beat")):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [word]
    [job] = by_kind(docs, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["bootstrap"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


@pytest.mark.parametrize("args", [MINIMAL, EXAMPLE], ids=["minimal", "example"])
def test_rendered_probes(helm, args):
    docs = render(helm, *args)
    deployments = by_kind(docs, "Deployment")
    [web] = deployments["rm-resourcemanager-web"]["spec"]["template"]["spec"]["containers"]
    [beat] = deployments["rm-resourcemanager-beat"]["spec"]["template"]["spec"]["containers"]

    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert web[probe]["httpGet"]["port"] == "http"
    assert beat["livenessProbe"]["exec"]["command"] == [ENTRYPOINT_IN_IMAGE, "beat-alive"]
    assert "beat-alive" in entrypoint_words()


@pytest.mark.parametrize("args", [MINIMAL, EXAMPLE], ids=["minimal", "example"])
def test_rendered_pods_run_as_non_root_on_a_read_only_root(helm, args):
    for name, spec in pod_specs(render(helm, *args)).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["automountServiceAccountToken"] is False, name
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"], name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            mount = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - the pod's emptyDir
            assert mount in container["volumeMounts"], name


SECRET_ENV = {"SECRET_KEY", "RM_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL",
              "RM_ADMIN_PASSWORD", "OIDC_RP_CLIENT_SECRET", "RM_PROVIDERS"}


def test_inline_secrets_live_only_in_the_charts_secret(helm):
    docs = render(helm, *MINIMAL)
    [secret] = by_kind(docs, "Secret").values()

    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    assert secret["stringData"]["RM_PROVIDER_POSTGRESQL_URL"].startswith("postgresql://")
    for doc in docs:
        if doc["kind"] != "Secret":
            assert "inline-" not in yaml.safe_dump(doc), doc["metadata"]["name"]
    for name, spec in pod_specs(docs).items():
        for item in spec["containers"][0]["env"]:
            if item["name"] in SECRET_ENV or item["name"].startswith("RM_PROVIDER_"):
                assert "value" not in item, f"{name}: {item['name']} inlined"
                assert item["valueFrom"]["secretKeyRef"]["name"] == "rm-resourcemanager"


def test_existing_secrets_are_referenced_and_no_secret_is_made(helm):
    docs = render(helm, *EXAMPLE)
    example = yaml.safe_load((CHART / "ci" / "example-values.yaml").read_text())

    assert by_kind(docs, "Secret") == {}
    for name, spec in pod_specs(docs).items():
        [container] = spec["containers"]
        refs = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]
                if "valueFrom" in item}
        assert set(refs) == SECRET_ENV - {"RM_PROVIDERS"}, name
        assert refs["SECRET_KEY"]["name"] == example["existingSecret"]
        assert refs["DATABASE_URL"] == {"name": "rm-connections", "key": "DATABASE_URL"}
        assert refs["OIDC_RP_CLIENT_SECRET"] == {"name": "rm-oidc", "key": "client-secret"}
        assert refs["RM_ADMIN_PASSWORD"] == {"name": "rm-admin", "key": "password"}
        assert container["envFrom"] == [{"secretRef": {"name": "rm-providers"}}]
    [ingress] = by_kind(docs, "Ingress").values()
    assert ingress["spec"]["rules"][0]["host"] == "rm.example.com"
