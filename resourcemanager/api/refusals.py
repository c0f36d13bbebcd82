"""Refused API requests on the audit trail."""

from audit.services import record_denied
from resourcemanager.core.validation import SCOPE_RE


def audit_refusal(request, view, status: int, message: str) -> None:
    """Note a refused API request (401, 403) as DENIED: who, in which scope, doing what.

    ``record_denied`` keeps one entry per actor, scope and action a minute.
    """
    user = getattr(request, "user", None)
    actor = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    named = (getattr(view, "kwargs", None) or {}).get("scope") or request.headers.get("X-Scope")
    scope = named if named and SCOPE_RE.fullmatch(named) else ""
    action = getattr(view, "required_actions", {}).get(getattr(view, "action", None))
    record_denied(
        actor,
        str(action or f"api.{request.method.lower()}"),
        scope=scope,
        message=f"{status} {request.method} {request.path[:200]}: {message}",
    )
