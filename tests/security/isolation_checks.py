"""Checks shared by the generated isolation tests: leaks in responses, untouched objects,
callers that gained nothing.

"Untouched" is checked on the whole row (``updated_at`` included, so any save counts) and
on the server: the database and its login still exist and the private row is readable
with the tenant's own credential.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

from resourcemanager.identity.models import ScopeRole
from resourcemanager.resources.models import Resource
from tests.security.conftest import Tenant, database_and_login_exist, read_private_row

#: Django's admin echoes the id the caller asked for when no such object is visible
#: ('Resource with ID "…" doesn't exist', in typographic quotes): the caller's own input,
#: the same for an id that never existed, so no leak. Removed before looking for leaks.
_ADMIN_MISSING_OBJECT = re.compile("with ID \u201c[^\u201d]*\u201d doesn\u2019t exist")


def tenant_markers(tenant: Tenant) -> dict[str, str]:
    """What only the tenant's owners may ever read, by label."""
    return {
        "resource id": tenant.id,
        "resource name": tenant.name,
        "backend name": tenant.backend_name,
        "password": tenant.credentials["password"],
    }


def leaks(text: str, markers: Mapping[str, str]) -> list[str]:
    """Labels of the markers found in ``text`` (after removing the admin's echo)."""
    text = _ADMIN_MISSING_OBJECT.sub("", text)
    return [label for label, value in markers.items() if value and value in text]


def body_of(response) -> str:
    content = getattr(response, "content", b"")
    if not content and hasattr(response, "streaming_content"):
        content = b"".join(response.streaming_content)
    return content.decode(errors="replace")


#: What the browsable API shows of the response: status and headers in a <span>, then the
#: body (HTML-escaped, URLs made links) up to the end of the <pre>.
_BROWSABLE_RESPONSE = re.compile(
    r'<div class="response-info"[^>]*>\s*<pre class="prettyprint">(.*?)</pre>', re.S
)

#: Accept headers asking for each renderer: JSON, and the browsable API (HTML).
ACCEPT = {"json": "application/json", "html": "text/html"}


def payload_of(response) -> object:
    """The response's JSON, also when the browsable API rendered it inside an HTML page."""
    if not response["Content-Type"].startswith("text/html"):
        return response.json()
    found = _BROWSABLE_RESPONSE.search(body_of(response))
    assert found, f"no response shown in the page: {body_of(response)[:300]}"
    content = re.sub(r"<[^>]+>", "", found[1].rpartition("</span>")[2])
    return json.loads(html.unescape(content)) if content.strip() else None


def shown_by(response) -> str:
    """What a response shows the caller, to look for leaks in.

    A browsable API page echoes the request's own path and query in links, forms and
    breadcrumbs (the same for an object that never was): those are taken out of the page,
    while the response it shows is looked at whole.
    """
    text = body_of(response)
    if not _BROWSABLE_RESPONSE.search(text):
        return text
    request = response.request
    sent = f"{request['PATH_INFO']}?{request.get('QUERY_STRING', '')}"
    for echoed in sorted(set(re.split(r"[/.?&=]", unquote_plus(sent))), key=len, reverse=True):
        if echoed:
            text = text.replace(echoed, "")
    return f"{json.dumps(payload_of(response))}\n{text}"


def resource_row(resource_id: str) -> dict:
    """The whole row (credentials decrypted); any save changes at least ``updated_at``."""
    return Resource.objects.filter(pk=resource_id).values().get()


def assert_intact_on_the_server(tenant: Tenant) -> None:
    """Database, login and data of ``tenant`` are still there and reachable by its owner."""
    database, login = database_and_login_exist(tenant)
    assert database, f"database of {tenant.name} was dropped"
    assert login, f"login of {tenant.name} was dropped"
    assert read_private_row(tenant) == tenant.data


def assert_row_unchanged(tenant: Tenant, before: dict) -> None:
    after = resource_row(tenant.id)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"{tenant.name} was changed: {changed}"
    assert after["status"] == Resource.Status.READY


def describe(problems: Iterable[str]) -> str:
    return "\n".join(["", *problems])


def assert_caller_not_escalated(user) -> None:
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.is_superuser
    assert not user.user_permissions.exists()
    assert not user.groups.exists()
    scopes = set(ScopeRole.objects.filter(user=user).values_list("scope", flat=True))
    assert scopes == {"team-a"}
