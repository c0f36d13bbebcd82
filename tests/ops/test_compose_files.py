"""The Compose files, read and cross-checked without a container engine: references,
one image built once, start order, health checks, command words the entrypoint knows,
published ports, secrets marked as trial values, provider URLs parsed by the app's own
parser, and the OIDC override against oidc-provider-mock's routes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from providers.services import declared_providers
from tests.ops.deployment import (
    APP_SERVICES,
    ENTRYPOINT_IN_IMAGE,
    ROOT,
    dockerfile_instructions,
    entrypoint_words,
    final_stage,
)

#: Every development secret in the Compose files says what it is.
TRIAL_MARK = "trial"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY")


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

