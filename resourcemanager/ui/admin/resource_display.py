"""What the resource pages show besides the model's fields: the last operation tried,
the owner's connection values, what a deletion destroys, and the list's tag and status
filters."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEntry
from providers.adapters.base import Credentials
from resourcemanager.resources.models import Resource
from resourcemanager.ui.snippets import ShownValue, masked, shown_values

#: The audit actions of a resource's operations, and how the page words their outcomes.
OPERATIONS = ["resource.create", "resource.update", "resource.check", "resource.delete",
              "resource.backup", "resource.restore", "resource.cleanup", "resource.clone"]
OUTCOME_WORDS = {AuditEntry.Outcome.ACCEPTED: "requested", AuditEntry.Outcome.SUCCESS: "done",
                 AuditEntry.Outcome.FAILURE: "failed"}


def last_operation(resource: Resource) -> AuditEntry | None:
    """The latest request or outcome of an operation on ``resource``, whoever asked: the
    page says what was last tried and how it went (its message is for tenants already)."""
    return AuditEntry.objects.filter(
        target_type=resource._meta.model_name, target_id=str(resource.pk),
        action__in=OPERATIONS, outcome__in=list(OUTCOME_WORDS),
    ).first()


def credential_values(
    resource: Resource, *, reveal: bool
) -> tuple[list[ShownValue], list[ShownValue]]:
    """The owner's connection fields and snippets (masked unless ``reveal``)."""
    if resource.credentials is None:
        return [], []
    real = Credentials.from_dict(resource.credentials)
    return shown_values(resource.provider.adapter(), real if reveal else masked(real))


def deletion_summary(resource: Resource) -> str:
    """What deleting ``resource`` destroys, in the words of the confirmation pages."""
    if resource.status == Resource.Status.DELETED:
        return f"{resource}: deleted already; nothing is done"
    if not resource.managed:
        return f"{resource}: unregisters it; nothing on the server is touched"
    adapter = resource.provider.adapter_class
    return (
        f"{resource}: drops {adapter.object_noun} {adapter.object_name(resource.backend_name)}"
        f" and {adapter.login_noun} {resource.backend_name} on {resource.provider},"
        " with all its data"
    )


class TagListFilter(admin.SimpleListFilter):
    """Resources by tag; the choices are the tags of the live rows the user may see (one
    query): a deleted resource's tags lead to nothing the list shows by default."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        rows = (model_admin.get_queryset(request).live().order_by()
                .values_list("tags", flat=True))
        return [(tag, tag) for tag in sorted({tag for tags in rows.distinct() for tag in tags})]

    def queryset(self, request, queryset):
        return queryset.with_tag(self.value()) if self.value() else queryset


class StatusListFilter(admin.SimpleListFilter):
    """Resources by status; without a choice, those not deleted, as the API lists them."""

    title = "status"
    parameter_name = "status__exact"  # the address the plain field filter had
    #: The choice that lists deleted resources too.
    EVERY = "every"

    def lookups(self, request, model_admin):
        return [*Resource.Status.choices, (self.EVERY, "Any, deleted too")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset.live()
        return queryset if self.value() == self.EVERY else queryset.filter(status=self.value())

    def choices(self, changelist):
        """Its own choices only: the default (no choice) is not every status here."""
        yield {"selected": self.value() is None, "display": "Not deleted",
               "query_string": changelist.get_query_string(remove=[self.parameter_name])}
        for value, title in self.lookup_choices:
            yield {"selected": self.value() == value, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}
