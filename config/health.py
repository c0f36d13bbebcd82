"""Liveness and readiness for load balancers and orchestrators.

Anonymous by design, so they say nothing an outsider should not know: which dependency
fails, never why in detail (driver messages name hosts and accounts).
"""

from collections.abc import Callable

import redis
from celery import current_app
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve
from django.views.decorators.http import require_safe

from providers.services import probe_providers

_TIMEOUT = 2


@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """The process answers. Depends on nothing else, so a restart never fixes an outage."""
    return JsonResponse({"status": "ok"})


@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    """The app database and the task broker answer; 503 while either does not.

    ``?detail=1`` adds each enabled provider instance, pinged now with its admin account.
    It is for operators only (driver messages name hosts), and informational: a backend
    server that is down does not make this service unready.
    """
    checks = {"database": _database(), "broker": _broker()}
    ok = all(check["ok"] for check in checks.values())
    body: dict = {"status": "ok" if ok else "unavailable", "checks": checks}
    # Without the database nobody can be recognized as an operator: readiness only.
    if request.GET.get("detail") in ("1", "true") and checks["database"]["ok"]:
        if not _is_operator(request):
            return JsonResponse(
                {"status": "forbidden", "message": "detail mode is for operators"}, status=403
            )
        body["providers"] = {
            key: {"ok": problem is None, "message": problem or ""}
            for key, problem in probe_providers().items()
        }
    return JsonResponse(body, status=200 if ok else 503)


def _is_operator(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and user.is_active and user.is_superuser


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        connection.close()  # the next request starts from a fresh connection
        return {"ok": False, "message": "the app database does not answer"}
    return {"ok": True, "message": ""}


def _broker() -> dict:
    if current_app.conf.task_always_eager:
        return {"ok": True, "message": "tasks run in-process (no REDIS_URL)"}
    client = redis.Redis.from_url(
        current_app.conf.broker_url, socket_connect_timeout=_TIMEOUT, socket_timeout=_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError:
        return {"ok": False, "message": "the task broker does not answer"}
    finally:
        client.close()
    return {"ok": True, "message": ""}


class ProbeMiddleware:
    """Answers probes and metric scrapes before Django validates the Host header.

    Kubelets and Prometheus address a pod by its IP, which ALLOWED_HOSTS does not list;
    these answers build no URLs, so the Host header cannot mislead them. Requests with a
    query string (``/readyz?detail=1`` needs the session) take the ordinary way.
    """

    PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in self.PATHS or request.META.get("QUERY_STRING"):
            return self.get_response(request)
        request.resolver_match = match = resolve(request.path_info)
        return match.func(request)
