"""The project's routes plus one under /api/ that fails outside DRF (tests of the
API's error answers)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug outside DRF")


urlpatterns = [path("api/failing-view", failing_view), *project_urlpatterns]
