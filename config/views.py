"""The site's root: where a newcomer (and the admin's "View site" link) lands."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """A page linking the admin's dashboard, the API docs and the health probes."""
    context = {**admin.site.each_context(request), "title": "Welcome"}
    return render(request, "home.html", context)
