"""Pages of a form under a resource's page (its clone, its cleanup, its size limit): the
form on GET; on POST, its data through a service, then back to the resource's page with
how it went, or the form again with the service's refusal on the field it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from resourcemanager.core.errors import ServiceError
from resourcemanager.resources.models import Resource
from resourcemanager.ui.admin.refusals import shown_refusal

#: The resource of an id, if the user may see it (else 404).
Visible = Callable[[HttpRequest, str], Resource]
#: A page of a resource: the resource admin, the request and the resource it is under.
Page = Callable[[admin.ModelAdmin, HttpRequest, Resource], HttpResponse]
Done = TypeVar("Done")


def resource_url(resource: Resource) -> str:
    """The resource's own page."""
    return reverse("admin:resourcemanager_resource_change", args=[quote(resource.pk)])


def resource_page_path(model_admin: admin.ModelAdmin, visible: Visible, name: str,
                       page: Page) -> URLPattern:
    """``<resource id>/<name>/`` of the resource admin (URL ``resource_<name>``): ``page``
    of the resource if the user may see it."""
    return path(f"<path:object_id>/{name}/",
                model_admin.admin_site.admin_view(lambda request, object_id: page(
                    model_admin, request, visible(request, object_id))),
                name=f"resourcemanager_resource_{name}")


def resource_form_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, resource: Resource,
    form: forms.Form, submit: Callable[[dict[str, Any]], Done],
    report: Callable[[Done], None], context: dict[str, Any],
) -> HttpResponse:
    """``submit`` the valid posted ``form`` (a service call), ``report`` what it made and go
    back to the resource's page; else show the form. ``context`` holds the page's
    ``title``, ``rm_intro`` and ``rm_submit``; the caller checks the user's right first."""
    if request.method == "POST" and form.is_valid():
        try:
            done = submit(form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, shown_refusal(exc))
        else:
            report(done)
            return HttpResponseRedirect(resource_url(resource))
    return TemplateResponse(request, "admin/resourcemanager/resource/resource_form.html", {
        **model_admin.admin_site.each_context(request), **context, "opts": model_admin.opts,
        "form": form, "rm_resource": resource, "rm_resource_url": resource_url(resource),
    })
