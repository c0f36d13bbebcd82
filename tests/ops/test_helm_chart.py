"""The Helm chart, checked without a cluster.

Its templates are checked statically (values they read, helpers they include, balanced
actions), with or without helm. The chart is rendered for real when a ``helm`` binary is
on PATH or in the virtualenv (``scripts/install-helm`` puts one there): lint, workloads,
probes, security contexts and where the secrets live.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.deployment import APP_SERVICES, ENTRYPOINT_IN_IMAGE, ROOT, entrypoint_words

CHART = ROOT / "charts" / "resourcemanager"


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
