"""Forms that act once: a page showing a secret is the answer to its form's POST (a secret
is never kept to be shown again), so reloading that page would send the form again and
issue, rotate or reveal a second time. Such a form carries a token kept in the session,
spent by its first POST; the same POST again is turned away."""

from __future__ import annotations

import secrets

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

#: The form field that carries the token.
FIELD = "once"
_SESSION_KEY = "rm_once"
#: Tokens a session keeps (pages open in several tabs); the oldest go first.
_KEPT = 50


def new_token(request: HttpRequest) -> str:
    """A token for one form of the page being rendered."""
    token = secrets.token_urlsafe(16)
    request.session[_SESSION_KEY] = [*request.session.get(_SESSION_KEY, [])[-_KEPT + 1:],
                                     token]
    return token


def sent_before(request: HttpRequest) -> bool:
    """Whether this POST carries a token that was spent already (its form sent again);
    spends it otherwise. A POST without a token (not from one of these pages) is not
    turned away."""
    token = request.POST.get(FIELD)
    if not token:
        return False
    kept = request.session.get(_SESSION_KEY, [])
    if token not in kept:
        return True
    kept.remove(token)
    request.session[_SESSION_KEY] = kept
    return False


def back_from_get(model_admin: admin.ModelAdmin, request: HttpRequest, url: str
                  ) -> HttpResponse:
    """An address that acts on POST only, opened by a GET or sent again (its result page
    reloaded, say): back to the object's page at ``url``, saying nothing was done."""
    model_admin.message_user(request, "Nothing was done: that address acts only from its "
                             "button on this page.", messages.INFO)
    return HttpResponseRedirect(url)
